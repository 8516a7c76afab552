"""The CUDA AMP path rehearsed on the CPU: one real trainer step under bf16 autocast against float32.

``WUBUGAAD_AMP_ON_CPU=1`` (``train.amp.CPU_AMP_ENV``) lets ``--use_amp`` autocast on the CPU, so the
trainer's own code path (autocast around G's and D's forwards, the float32 losses) runs here; on a machine
with a GPU the ``[cuda]`` variants run the same tests with CUDA autocast (``pytest -k cuda``). Each test
trains one step twice from the same seed and data, float32 and bf16, and compares the logged step-1
losses: they come from the first forward, before any update, so they differ only by the rounding. The
tolerances (``LOSS_RTOL``, ``NORM_RTOL``) are a few bf16 ulps (2⁻⁸ ≈ 0.4 % each) accumulated through
the network, and well below what a wrong dtype path would move.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import torch
from test_entry import ROOT, TINY_MODEL, VAL_VIDEO, VIDEO
from wubugaad.train import config, trainer
from wubugaad.train.amp import CPU_AMP_ENV

LOSS_RTOL = 5e-3   # total G and D losses of step 1 (measured on the CPU: < 1e-4)
NORM_RTOL = 0.10   # the generator's pre-clip gradient norm (measured: 2.4 % in the research test)
TINY_STACKS = ("--wubu_s_hyperbolic_dims", "8", "4", "--wubu_t_hyperbolic_dims", "8", "4",
               "--wubu_m_hyperbolic_dims", "8", "4", "--gaad_motion_num_regions", "3",
               "--disc_cnn_channels_2d", "8", "8", "8", "--disc_gaad_condition_dim_disc", "8")


def run_control(tmp_path: Path, name: str) -> list[str]:
    """One optimizer step, deterministic, one validation clip, outputs under ``tmp_path / name``."""
    return ["--video_data_path", str(VIDEO), "--validation_video_path", str(VAL_VIDEO),
            "--cache_dir", str(tmp_path / "cache"), "--checkpoint_dir", str(tmp_path / name),
            "--num_workers", "0", "--max_steps", "1", "--epochs", "1", "--log_interval", "1",
            "--save_interval", "0", "--val_max_clips", "1", "--num_val_samples_to_log", "1",
            "--demo_num_samples", "1", "--sample_format", "png", "--deterministic", "--log_grad_norm",
            "--no_augment"]


def train_one_step(argv: list[str], bf16: bool) -> tuple[dict, set, list[torch.Tensor]]:
    """Run the real trainer (``--use_amp --amp_dtype bf16`` when ``bf16``); returns (the step-1 record,
    dtypes of the generator's and D's conv outputs, the generator's weights after the step)."""
    amp = ["--use_amp", "--amp_dtype", "bf16"] if bf16 else []
    s = trainer.setup(config.parse_args([*argv, *amp]))
    dtypes: set = set()
    convs = [m for net in (s.model, s.disc) for m in net.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.Conv3d)]
    hooks = [m.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype)) for m in convs]
    assert trainer.train(s) == 0
    for hook in hooks:
        hook.remove()
    records = [json.loads(line) for line in (s.run_dir / "metrics.jsonl").read_text().splitlines()]
    step1 = next(r for r in records if r.get("step") == 1 and "train/loss_g_total" in r)
    return step1, dtypes, [p.detach().clone() for p in s.model.parameters()]


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))])
def device(request, monkeypatch) -> str:
    """Where the trainer runs: the CPU through the rehearsal switch (CUDA hidden from the session when a
    GPU is present), or CUDA, where AMP is the real thing (the ``-k cuda`` variants)."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    if request.param == "cpu":
        monkeypatch.setenv(CPU_AMP_ENV, "1")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    else:
        monkeypatch.delenv(CPU_AMP_ENV, raising=False)
    return request.param


def assert_bf16_step_matches_float32(argv_of, tmp_path, device: str):
    fp32, fp32_dtypes, _ = train_one_step(argv_of(tmp_path, "fp32"), bf16=False)
    bf16, bf16_dtypes, weights = train_one_step(argv_of(tmp_path, "bf16"), bf16=True)
    assert fp32_dtypes == {torch.float32}
    assert torch.bfloat16 in bf16_dtypes, "no convolution ran in bf16: autocast was not on"
    for record in (fp32, bf16):
        train = {k: v for k, v in record.items() if k.startswith("train/")}
        assert all(math.isfinite(v) for v in train.values()), train
        assert record["train/nonfinite_skipped"] == 0
        assert record["train/grad_norm_gen"] > 0 and record["train/grad_norm_disc"] > 0
    assert all(torch.isfinite(w).all() for w in weights)
    assert {w.device.type for w in weights} == {device}
    for key in ("train/loss_g_total", "train/loss_d_total"):
        assert bf16[key] == pytest.approx(fp32[key], rel=LOSS_RTOL), key
    assert bf16["train/grad_norm_gen"] == pytest.approx(fp32["train/grad_norm_gen"], rel=NORM_RTOL)


def test_default_model_trains_one_step_under_bf16_autocast(device, tmp_path):
    """The parser's full default model (widths included) at 32×32."""
    def argv_of(root, name):
        return ["--image_h", "32", "--image_w", "32", "--batch_size", "2", *run_control(root, name)]

    assert_bf16_step_matches_float32(argv_of, tmp_path, device)


def research_argv() -> list[str]:
    """The launcher's research flags (``run_vaegan.sh`` with ``DRY_RUN=true``), as ``bench/_common`` reads
    them: paths are replaced by the test's own flags after them (the last value wins)."""
    env = {**os.environ, "DRY_RUN": "true", "PAUSE_AT_END": "false", "NPROC_PER_NODE": "1",
           "WANDB_ENABLED": "false", "USE_LPIPS_FOR_VERIFICATION": "false",
           "EXTRA_ARGS": "--optical_flow_random_init"}
    done = subprocess.run(["bash", str(ROOT / "run_vaegan.sh")], env=env, capture_output=True, text=True,
                          check=True)
    tokens = shlex.split(next(ln for ln in done.stdout.splitlines() if ln.startswith("DRY_RUN:"))[8:])
    return tokens[next(i for i, t in enumerate(tokens) if t.endswith("WuBuGAADHybridGen_v0.1.py")) + 1:]


def test_research_configuration_with_motion_and_adversarial_term_under_bf16_autocast(device, tmp_path):
    """The launcher's configuration at toy widths: RAFT motion branch (128×128, its smallest input), the
    Q-controllers, and the adversarial term from step 1 (``--gan_start_step 0``), so G's backward runs
    through the frozen D under autocast too."""
    research = research_argv()

    def argv_of(root, name):
        return [*research, *TINY_MODEL, *TINY_STACKS, "--image_h", "128", "--image_w", "128",
                "--resize_mode", "stretch", "--num_input_frames", "3", "--num_predict_frames", "2",
                "--batch_size", "2", "--gan_start_step", "0", "--gan_ramp_steps", "0",
                "--validation_split_fraction", "0", *run_control(root, name)]

    assert "--use_wubu_motion_branch" in research and "raft_small" in research
    assert_bf16_step_matches_float32(argv_of, tmp_path, device)
