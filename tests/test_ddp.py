"""DDP with two CPU processes (gloo): gradients synchronise, rank 0 alone writes outputs, and two ranks train
as one process with the doubled batch does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from test_entry import ENTRY, tiny_run_argv
from test_moving_objects import make_source
from wubugaad.train import config, trainer
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint

STEPS = 3
# weights after STEPS steps, 2 ranks vs 1 process: measured 3e-7 before the per-frame latent, 1.7e-5 since
# (WuBu-T's curvature: behind the latent's zero-initialised heads its first gradients are ~1e-13, so
# Adam's normalised step there is set by float rounding); a process that trains on one half alone: 7.5e-3
DOUBLED_BATCH_ATOL = 1e-4


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


# Run through torchrun with the sampling noise off: the ranks draw ε for their 2 clips each, the single
# process for all 4, so no common random stream exists; with z = μ (and no dropout or augmentation) the two
# runs compute the same mean loss over the same 4 clips, and differ only by float summation order. The
# per-frame latent draws its ε with torch.randn (shape (B, P, d)), the clip-level one with randn_like.
NOISE_FREE_ENTRY = """import runpy, sys, torch
torch.randn_like = torch.zeros_like
_zeros = torch.zeros
torch.randn = lambda *size, generator=None, **kw: _zeros(*size, **kw)
runpy.run_path(sys.argv.pop(1), run_name="__main__")
"""


def _run_entry(wrapper, argv: list[str], cwd, nproc: int) -> subprocess.CompletedProcess:
    launch = [sys.executable]
    if nproc > 1:
        launch += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*launch, str(wrapper), str(ENTRY), *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _source_argv(source: str, tmp_path) -> list[str]:
    """Flags of a data source: the video fixture (``tiny_run_argv``'s own), or fresh moving-object
    sequences from a small synthetic idx folder (validated on their fixed test set)."""
    if source == "video":
        return []
    return ["--dataset", "moving_fmnist", "--mnist_path", str(make_source(tmp_path)), "--num_channels", "1",
            "--image_h", "32", "--image_w", "32", "--moving_train_sequences", "16",
            "--moving_test_sequences", "2"]


@pytest.mark.parametrize("source", ["video", "moving_objects"])
def test_torchrun_two_ranks_match_one_process_with_the_doubled_batch(tmp_path, source):
    """The real entry script under ``torchrun --standalone --nproc_per_node 2`` (gloo), batch 2 per rank,
    against one process with batch 4: the same clips each step (the sampler gives rank r every second one;
    fresh moving-object sequences are a function of their key, not of the rank), so the first step's
    logged losses agree to float rounding and the weights after 3 steps (G, D and the averaged G) within a
    tolerance that the ranks training on their halves alone would exceed."""
    wrapper = tmp_path / "noise_free_entry.py"
    wrapper.write_text(NOISE_FREE_ENTRY)
    runs = {}
    for name, nproc, batch in (("ranks", 2, 2), ("single", 1, 4)):
        argv = tiny_run_argv(tmp_path / name, "--max_steps", str(STEPS), "--epochs", "5", "--batch_size",
                             str(batch), "--wubu_dropout", "0", "--no_augment", "--deterministic",
                             "--save_interval", "0", *_source_argv(source, tmp_path))
        if source != "video":  # the moving objects validate on their own test set
            at = argv.index("--validation_video_path")
            del argv[at:at + 2]
        done = _run_entry(wrapper, argv, tmp_path, nproc)
        assert done.returncode == 0, done.stderr[-3000:]
        run = tmp_path / name / "run"
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        runs[name] = (next(r for r in records if r.get("step") == 1 and "train/loss_g_total" in r),
                      load_checkpoint(run / checkpoint_name("last")))
    (first_r, ckpt_r), (first_s, ckpt_s) = runs["ranks"], runs["single"]
    for key in ("train/loss_g_total", "train/loss_recon", "train/loss_d_total"):
        assert first_r[key] == pytest.approx(first_s[key], rel=1e-5), key
    assert ckpt_r["step"] == ckpt_s["step"] == STEPS
    for part in ("model", "discriminator", "ema"):
        for key, value in ckpt_s[part].items():
            if value.is_floating_point():
                torch.testing.assert_close(ckpt_r[part][key], value, atol=DOUBLED_BATCH_ATOL, rtol=0,
                                           msg=lambda m, part=part, key=key: f"{part}.{key}: {m}")
