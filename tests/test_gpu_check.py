"""``bench/gpu_check.sh --dry-run``: every part of the GPU check parses and starts on the CPU, and the
parts' time limits fit the device's 10-minute window."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["gpu", "python_env", "pytest_cuda", "flops", "fixture_x4", "train_amp_compile", "bench_research",
         "bench_research_amp", "mfmnist_gpu", "mfu"]
WINDOW_S = 600


def test_gpu_check_dry_run_runs_every_part_and_fits_the_window(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1", "MNIST_PATH": str(tmp_path / "none")}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    logs = "".join((tmp_path / name).read_text()[-3000:] for name in ("logs.txt", "train.log")
                   if (tmp_path / name).is_file())
    assert done.returncode == 0, done.stdout + done.stderr + logs
    summary = (tmp_path / "summary.txt").read_text()
    rows = re.findall(r"^(\w+): exit (\d+), \d+s \(limit (\d+)s\)$", summary, flags=re.M)
    assert [name for name, _, _ in rows] == PARTS
    assert all(code == "0" for name, code, _ in rows if name != "pytest_cuda")
    assert sum(int(limit) for _, _, limit in rows) <= WINDOW_S
    assert "generated textured objects" in summary  # no Fashion-MNIST at MNIST_PATH
    bench = [json.loads(line) for line in (tmp_path / "bench.jsonl").read_text().splitlines()]
    assert [r["config"] for r in bench] == ["research", "research-amp"]
    assert bench[0]["clips_per_s"] > 0 and "skipped" in bench[1]  # research-amp needs CUDA
    flops = [json.loads(line) for line in (tmp_path / "flops.jsonl").read_text().splitlines()]
    assert flops[0]["config"] == "research" and flops[0]["train_gflops_per_clip"] > 0
    assert [r["config"] for r in flops[1:]] == ["research", "research-amp"]  # mfu.py's lines
    assert json.loads((tmp_path / "mfmnist.json").read_text())["steps"] == 1
    assert "train/seconds_per_step" in (tmp_path / "train.log").read_text()  # the run's metrics follow it
