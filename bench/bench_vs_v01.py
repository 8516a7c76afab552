"""The research configuration, ours against the v0.1 script, whole process, side by side on one machine.

    python3 bench/bench_vs_v01.py --v01 PATH/WuBuGAADHybridGen_v0.1.py [--steps 3] [--video PATH]

The v0.1 script is public (``waefrebeorn/bytropix``, ``draftPY/WuBuGAADHybridGen_v0.1.py``); fetch it
somewhere outside this repository and pass its path. It reads video through ``imageio``; install
``imageio-ffmpeg`` for it (with PyAV installed, imageio's ``pyav`` plugin is chosen and fails on these
files' metadata). Both programs get the flags ``run_vaegan.sh`` builds
(``DRY_RUN=true``; WandB and LPIPS off); v0.1 gets the subset of them its parser knows (the flags this
project added are dropped, with their values). Both use random RAFT-small weights (the same cost as
pretrained ones, no download): ours through ``--optical_flow_random_init``, v0.1 through a random
state dict planted at the torch hub path it loads from (``TORCH_HOME`` points at a temp folder).

The video is the fixture written three times in a row (216 frames), so every timed step is a full batch
of 8 (the 72-frame fixture alone ends its epoch within a few steps, on a smaller batch). Ours runs with
``--gan_start_step 0`` (the launcher switches the adversarial term on at step 2000; the G pass through
D is skipped before that): the steady-state step, as v0.1 runs it from step 0.

Each program runs ``steps + 1`` optimizer steps, one after the other (never at once: two busy
processes slow each other down several-fold on a small machine). Seconds per step: ours from
``train/seconds_per_step`` in ``metrics.jsonl`` (logged every step), v0.1 from the moments its tqdm bar
counts another iteration; the first step (warm-up, cache building) is left out of the median. v0.1 has
no step limit, so it is stopped once its bar has counted ``steps + 1``. One JSON line per program and a
last line with the ratio.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import FIXTURE, REPO, concat_video, config_argv, emit, machine, run_control_argv

OURS = REPO / "draftPY" / "WuBuGAADHybridGen_v0.1.py"
TQDM_COUNT = re.compile(r"E\d+:\s+\d+%\|[^|]*\|\s*(\d+)/\d+")
V01_FLAG = re.compile(r"add_argument\(\s*['\"](--[A-Za-z0-9_]+)['\"]")
RAFT_SMALL_FILE = "raft_small_C_T_V2-01064c6d.pth"
# values of shared flags that v0.1 does not accept, replaced by its research configuration's (no effect on
# the step: which validation metric picks the best checkpoint)
V01_VALUES = {"--val_primary_metric": "avg_val_psnr"}


def v01_flags(script: Path) -> set[str]:
    """Every ``--flag`` the v0.1 parser declares."""
    return set(V01_FLAG.findall(script.read_text(encoding="utf-8", errors="replace")))


def keep_known(argv: list[str], known: set[str]) -> tuple[list[str], list[str]]:
    """``argv`` without the flags outside ``known`` (and their values), with ``V01_VALUES`` put in; also
    the dropped flag names."""
    kept, dropped, keeping, replaced = [], [], True, False
    for token in argv:
        if token.startswith("--"):
            keeping = token in known
            (kept if keeping else dropped).append(token)
            replaced = token in V01_VALUES
            if replaced:
                kept.append(V01_VALUES[token])
        elif keeping and not replaced:
            kept.append(token)
    return kept, dropped


def run_ours(argv: list[str], work: Path, steps: int) -> dict:
    cmd = [sys.executable, str(OURS), *argv, *run_control_argv(work, steps + 1), "--log_interval", "1",
           "--gan_start_step", "0", "--gan_ramp_steps", "0"]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode:
        raise SystemExit(f"our run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    metrics = next((work / "ckpt").rglob("metrics.jsonl"))
    times = [rec["train/seconds_per_step"] for rec in map(json.loads, metrics.read_text().splitlines())
             if "train/seconds_per_step" in rec]
    return {"program": "ours", "step_times_s": times, "seconds_per_step_median": statistics.median(times[1:]),
            "process_wall_s": round(wall, 1)}


def plant_random_raft(torch_home: Path) -> None:
    """A random RAFT-small state dict where ``torchvision`` looks for the pretrained one."""
    import torch
    from torchvision.models.optical_flow import raft_small

    target = torch_home / "hub" / "checkpoints" / RAFT_SMALL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(raft_small(weights=None).state_dict(), target)


def run_v01(script: Path, argv: list[str], work: Path, steps: int) -> dict:
    plant_random_raft(work / "torch_home")
    env = {**os.environ, "TORCH_HOME": str(work / "torch_home")}
    cmd = [sys.executable, str(script), *argv, "--checkpoint_dir", str(work / "ckpt_v01")]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stamps, tail, buffer = [], b"", b""
    while len(stamps) < steps + 1:
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        tail = (tail + chunk)[-20000:]
        buffer += chunk
        *pieces, buffer = re.split(rb"[\r\n]", buffer)
        for piece in pieces:
            match = TQDM_COUNT.search(piece.decode(errors="replace"))
            if match and int(match.group(1)) > len(stamps):
                stamps.append(time.monotonic())
    wall = time.monotonic() - started
    proc.kill()
    proc.wait()
    if len(stamps) < steps + 1:
        raise SystemExit(f"v0.1 stopped after {len(stamps)} steps:\n{tail.decode(errors='replace')[-3000:]}")
    times = [b - a for a, b in zip([started, *stamps[:-1]], stamps, strict=True)]
    return {"program": "v0.1", "script": str(script), "step_times_s": [round(t, 2) for t in times],
            "seconds_per_step_median": statistics.median(times[1:]), "process_wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--v01", type=Path, required=True, help="path of the v0.1 script")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per program (after one warm-up)")
    parser.add_argument("--video", type=Path, default=None,
                        help="training video of both runs (default: the fixture three times in a row)")
    parser.add_argument("--programs", nargs="+", choices=("ours", "v01"), default=["ours", "v01"],
                        help="which programs to time (default both, ours first)")
    opts = parser.parse_args()
    if not opts.v01.is_file():
        raise SystemExit(f"--v01 {opts.v01}: no such file; fetch waefrebeorn/bytropix and pass "
                         "draftPY/WuBuGAADHybridGen_v0.1.py from it")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video = opts.video.resolve() if opts.video else work / "fixture_x3.mp4"
        if opts.video is None:
            concat_video(FIXTURE, video, 3)
        base = {"date": datetime.date.today().isoformat(), "machine": machine(), "video": str(video),
                "config": "research"}
        argv = config_argv("research", video, work)
        records = {}
        if "ours" in opts.programs:
            records["ours"] = {**base, **run_ours(argv, work, opts.steps)}
            emit(records["ours"])
        if "v01" in opts.programs:
            v01_argv, dropped = keep_known([a for a in argv if a != "--optical_flow_random_init"],
                                           v01_flags(opts.v01))
            records["v01"] = {**base, **run_v01(opts.v01.resolve(), v01_argv, work, opts.steps),
                              "flags_dropped": dropped}
            emit(records["v01"])
        if len(records) == 2:
            ratio = records["v01"]["seconds_per_step_median"] / records["ours"]["seconds_per_step_median"]
            emit({**base, "speedup_vs_v01": round(ratio, 2)})


if __name__ == "__main__":
    main()
