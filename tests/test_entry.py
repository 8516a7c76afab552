"""End-to-end runs through the real entry scripts (subprocesses) on the real video fixture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "draftPY" / "WuBuGAADHybridGen_v0.1.py"
SAMPLER = ROOT / "draftPY" / "wubugaad_sample.py"
VIDEO = ROOT / "tests" / "data" / "bbb_excerpt.mp4"
VAL_VIDEO = ROOT / "tests" / "data" / "bbb_excerpt_val.mp4"
# a tiny real model: every stack and network at toy widths
TINY_MODEL = ("--gaad_num_regions", "3", "--wubu_s_hyperbolic_dims", "8", "--wubu_t_hyperbolic_dims", "8",
              "--encoder_initial_tangent_dim", "8", "--gen_base_channels", "8",
              "--disc_base_disc_channels", "8", "--encoder_shallow_cnn_channels", "8",
              "--encoder_pixel_patch_size", "4", "--disc_min_hidden_fc_dim", "8",
              "--disc_max_hidden_fc_dim", "16", "--disc_max_disc_channels", "16", "--latent_dim", "8")


def tiny_run_argv(tmp_path: Path, *extra: str) -> list[str]:
    return ["--video_data_path", str(VIDEO), "--validation_video_path", str(VAL_VIDEO),
            "--cache_dir", str(tmp_path / "cache"), "--checkpoint_dir", str(tmp_path / "run"),
            "--image_h", "16", "--image_w", "32", "--num_input_frames", "2", "--num_predict_frames", "1",
            "--batch_size", "2", "--num_workers", "0", "--log_interval", "1", "--val_max_clips", "4",
            "--num_val_samples_to_log", "2", "--demo_num_samples", "2", *TINY_MODEL, *extra]


def run_script(script: Path, argv: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, str(script), *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_e2e_real_video_then_sample_script(tmp_path):
    done = run_script(ENTRY, tiny_run_argv(tmp_path, "--max_steps", "3", "--epochs", "5"), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "run"
    for kind in ("last", "best"):
        assert load_checkpoint(run / checkpoint_name(kind))["step"] == 3
    assert json.loads((run / "config.json").read_text())["image_w"] == 32
    keys = set().union(*(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()))
    assert {"val/avg_val_psnr", "val/pred_psnr", "val/copy_last_psnr", "val/copy_last_ssim",
            "train/loss_g_total"} <= keys
    samples = list((run / "samples").iterdir())
    assert any(p.suffix == ".png" for p in samples) and any(p.suffix == ".mp4" for p in samples)
    assert all(p.stat().st_size > 0 for p in samples)
    out = tmp_path / "sampled"
    for mode in ("predict", "reconstruct", "generate"):
        made = run_script(SAMPLER, ["--checkpoint", str(run / checkpoint_name("best")), "--mode", mode,
                                    "--video", str(VAL_VIDEO), "--num_samples", "2", "--output_dir", str(out),
                                    "--device", "cpu"], tmp_path)
        assert made.returncode == 0, made.stderr[-3000:]
        assert (out / f"{mode}_grid.png").stat().st_size > 0 and (out / f"{mode}.mp4").stat().st_size > 0


def _short_video(path: Path, frames: int) -> Path:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (32, 16))
    for i in range(frames):
        writer.write(np.full((16, 32, 3), 40 * i, dtype=np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize("case", ["missing_video", "short_video", "missing_val", "raft_size", "corrupt_ckpt",
                                  "missing_ckpt"])
def test_bad_input_stops_before_training_with_one_clear_line(tmp_path, case):
    extra = {
        "missing_video": ["--video_data_path", str(tmp_path / "nope.mp4")],
        "short_video": ["--video_data_path", str(_short_video(tmp_path / "short.mp4", 2))],
        "missing_val": ["--validation_video_path", str(tmp_path / "nope_val.mp4")],
        "raft_size": ["--use_wubu_motion_branch", "--optical_flow_net_type", "raft_small"],
        "corrupt_ckpt": ["--load_checkpoint", str(tmp_path / "bad.pt")],
        "missing_ckpt": ["--load_checkpoint", str(tmp_path / "missing.pt")],
    }[case]
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint at all")
    done = run_script(ENTRY, tiny_run_argv(tmp_path, "--max_steps", "2") + extra, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and len(lines[0]) < 600, done.stderr[-2000:]
    assert not (tmp_path / "run" / checkpoint_name("last")).exists()


@pytest.mark.parametrize("flags, missing, fix", [
    (["--use_wubu_motion_branch", "--optical_flow_net_type", "raft_small", "--image_h", "128",
      "--image_w", "128"], "raft_small", "--optical_flow_weights"),
    (["--use_lpips_for_verification"], "alexnet-owt-7be5be79.pth", "--lpips_weights"),
])
def test_missing_weight_file_stops_before_any_cache_is_built(tmp_path, flags, missing, fix):
    """An empty torch hub cache: the run stops at once with one line naming the file and where it goes,
    before the video is cached or the run folder is made."""
    env = {**os.environ, "WANDB_MODE": "disabled", "TORCH_HOME": str(tmp_path / "torch_home")}
    done = subprocess.run([sys.executable, str(ENTRY), *tiny_run_argv(tmp_path, "--max_steps", "1"), *flags],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr[-2000:]
    assert missing in lines[0] and str(tmp_path / "torch_home") in lines[0] and fix in lines[0]
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_crash_mid_training_exits_nonzero_with_traceback(tmp_path):
    code = (
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'draftPY')!r})\n"
        "import wubugaad.train.trainer as t\n"
        "real, calls = t.generator_losses, []\n"
        "def boom(*a, **k):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 2:\n"
        "        raise RuntimeError('simulated crash in step 2')\n"
        "    return real(*a, **k)\n"
        "t.generator_losses = boom\n"
        f"sys.argv = ['entry'] + {tiny_run_argv(tmp_path, '--max_steps', '4')!r}\n"
        f"runpy.run_path({str(ENTRY)!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "WANDB_MODE": "disabled"})
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "simulated crash in step 2" in done.stderr


def test_sigint_saves_last_checkpoint_and_exits_130(tmp_path):
    argv = tiny_run_argv(tmp_path, "--max_steps", "100000", "--epochs", "1000", "--val_interval", "100000")
    proc = subprocess.Popen([sys.executable, str(ENTRY), *argv], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and "train/loss_g_total" in metrics.read_text():
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err[-2000:]
    last = load_checkpoint(tmp_path / "run" / checkpoint_name("last"))
    assert last["step"] >= 1 and isinstance(last["extra"]["rng"]["torch"], torch.Tensor)


@pytest.mark.slow
def test_no_argument_run_finishes_with_outputs(tmp_path):
    done = run_script(ENTRY, [], tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "wubugaad_hybridgen_checkpoints_v01"
    assert (run / checkpoint_name("last")).is_file() and (run / "config.json").is_file()
    keys = set().union(*(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()))
    assert {"val/avg_val_psnr", "val/pred_psnr", "val/copy_last_psnr"} <= keys
    suffixes = {p.suffix for p in (run / "samples").iterdir()}
    assert {".png", ".mp4"} <= suffixes
