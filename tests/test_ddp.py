"""DDP with two CPU processes (gloo): gradients synchronise and rank 0 alone writes outputs."""

from __future__ import annotations

import json
import os
import socket

import torch
import torch.multiprocessing as mp
from test_entry import tiny_run_argv
from wubugaad.train import config, trainer
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint

STEPS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, argv: list[str], port: int, out_dir: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WANDB_MODE": "disabled"})
    torch.set_num_threads(1)
    s = trainer.setup(config.parse_args(argv))
    assert s.dist.world_size == 2 and isinstance(s.model_fwd, torch.nn.parallel.DistributedDataParallel)
    assert trainer.train(s) == 0
    state = {f"g.{k}": v for k, v in s.model.state_dict().items()}
    state.update({f"d.{k}": v for k, v in s.disc.state_dict().items()})
    torch.save(state, os.path.join(out_dir, f"rank{rank}.pt"))


def test_two_gloo_ranks_keep_identical_parameters_and_write_one_set_of_outputs(tmp_path):
    argv = tiny_run_argv(tmp_path, "--max_steps", str(STEPS), "--epochs", "5", "--save_interval", "2")
    mp.spawn(_worker, args=(argv, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    start = load_checkpoint(tmp_path / "run" / checkpoint_name("step", step=2))
    moved = False
    for key, value in ranks[0].items():
        torch.testing.assert_close(value, ranks[1][key], atol=1e-7, rtol=0, msg=key)
        if key.startswith("g.") and key[2:] in start["model"]:
            moved |= not torch.equal(value, start["model"][key[2:]])
    assert moved, "parameters did not change between step 2 and the end"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if "train/loss_g_total" in r]
    assert train_steps == list(range(1, STEPS + 1))  # one writer: each step logged once
    assert sum("val/avg_val_psnr" in r for r in records) == 1
    assert load_checkpoint(tmp_path / "run" / checkpoint_name("last"))["step"] == STEPS
