"""Time the real training step for named configurations; one JSON line per configuration.

    python3 bench/bench_train.py                         # cpu-small, cpu-motion-dis, cpu-motion-raft
    python3 bench/bench_train.py --config cpu-small [--steps N --warmup K --video PATH] [training flags]
    python3 bench/bench_train.py --config research       # the launcher's configuration (CPU: 2+1 steps)
    python3 bench/bench_train.py --config research-amp   # CUDA only (a "skipped" line without a GPU)
    python3 bench/bench_train.py --long-video-factor 10  # peak RSS: fixture vs. a 10x longer video

It runs ``trainer.train(session.setup(args))`` itself — the trainer's own loop with its data loader —
under ``_probe.Probe``: ``warmup`` untimed steps, ``steps`` clean steps (clock and host-sync counters only)
and ``steps`` breakdown steps (forward hooks on the encoder, flow estimator, generator and discriminator,
wrapped ``backward`` / ``clip_and_step`` / ``prepare_batch``, each synchronised on CUDA). Clean figures:
clips/s = steps·batch / clean wall time, median step time, fraction of it waiting for data and inside
host syncs, host syncs per step. Breakdown: mean seconds per step of each part; ``other`` is the rest of
the step (losses, concatenations, Q-controller, logging); ``backward_d`` is the D-loss backward and
``backward_g`` the G-loss backward (which also runs back through the frozen D), and
``discriminator_share_estimate`` = (D's two forwards + 1.5 × backward_d) / step, the 0.5 estimating the
G-loss backward's pass through D over half as many clips. Checkpoint saves and validation are skipped.

Unknown flags are passed to the training parser after the configuration's own (the last value wins),
e.g. ``--num_workers 1``. Several configurations run one subprocess each, so each peak RSS is its own.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import (
    ALIASES,
    CONFIGS,
    CPU_STEPS,
    CUDA_ONLY,
    DEFAULT_STEPS,
    FIXTURE,
    concat_video,
    config_argv,
    emit,
    expand,
    machine,
    run_control_argv,
)
from _probe import Probe
from wubugaad.train import config, session, trainer


def measure(name: str, steps: int, warmup: int, video: Path, extra: list[str]) -> dict:
    """Set up configuration ``name`` and train ``warmup + 2·steps + 1`` steps under the probe."""
    record = {"config": name, "date": datetime.date.today().isoformat(), "machine": machine(),
              "video": str(video), "steps": steps, "warmup": warmup}
    if name in CUDA_ONLY and not torch.cuda.is_available():
        return {**record, "skipped": "needs CUDA (no GPU on this machine)"}
    with tempfile.TemporaryDirectory(prefix="wubugaad-bench-") as tmp:
        work = Path(tmp)
        argv = [*config_argv(name, video, work), "--validation_split_fraction", "0",
                "--grad_accum_steps", "1", *run_control_argv(work, warmup + 2 * steps + 1), *extra]
        # the training's console lines go to stderr: stdout carries only the JSON lines
        with contextlib.redirect_stdout(sys.stderr):
            args = config.parse_args(argv)
            t0 = time.perf_counter()
            s = session.setup(args)
            setup_s = time.perf_counter() - t0
            if s.dist.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            probe = Probe(s, warmup, steps)
            with probe.installed():
                trainer.train(s)
        record.update({
            "device": str(s.dist.device),
            "image": f"{args.image_w}x{args.image_h}",
            "frames": f"{args.num_input_frames}+{args.num_predict_frames}",
            "batch_size": args.batch_size,
            "motion": (args.optical_flow_net_type if args.use_wubu_motion_branch else None),
            "amp": args.amp_dtype if args.use_amp and s.dist.device.type == "cuda" else None,
            "compile": bool(args.compile),
            "num_workers": args.num_workers,
            "q_controller": bool(args.q_controller_enabled),
            "parameters_g": sum(p.numel() for p in s.model.parameters()),
            "parameters_d": sum(p.numel() for p in s.disc.parameters()),
            "setup_s": setup_s,
            **probe.summary(),
        })
    return record


def run_child(name: str, opts: argparse.Namespace, extra: list[str], video: Path) -> list[dict]:
    """``measure`` in a fresh process (its own peak RSS); returns its JSON records."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--config", name, "--video", str(video)]
    for flag, value in (("--steps", opts.steps), ("--warmup", opts.warmup)):
        if value is not None:
            cmd += [flag, str(value)]
    done = subprocess.run([*cmd, *extra], stdout=subprocess.PIPE, text=True)
    records = [json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not records:
        records = [{"config": name, "error": f"benchmark process exited with code {done.returncode} "
                                             f"(its stderr above says why)"}]
    return records


def rss_check(name: str, opts: argparse.Namespace, extra: list[str]) -> list[dict]:
    """Peak RSS with ``--video`` and with the same frames repeated ``factor`` times."""
    factor = opts.long_video_factor
    with tempfile.TemporaryDirectory(prefix="wubugaad-longvideo-") as tmp:
        long_video = Path(tmp) / f"long_x{factor}.mp4"
        frames = concat_video(opts.video, long_video, factor)
        short = run_child(name, opts, extra, opts.video)[0]
        long = run_child(name, opts, extra, long_video)[0]
    summary = {"config": name, "check": "peak_rss_vs_video_length", "factor": factor,
               "frames_long": frames, "target": "growth < 10%"}
    if "error" in short or "error" in long or "skipped" in short:
        return [short, long, {**summary, "error": "a run failed or was skipped"}]
    growth = 100.0 * (long["peak_rss_mib"] / short["peak_rss_mib"] - 1.0)
    summary.update({"peak_rss_mib_short": short["peak_rss_mib"], "peak_rss_mib_long": long["peak_rss_mib"],
                    "growth_pct": growth, "met": growth < 10.0})
    if short.get("worker_peak_rss_mib") and long.get("worker_peak_rss_mib"):
        summary["worker_peak_rss_mib_short"] = short["worker_peak_rss_mib"]
        summary["worker_peak_rss_mib_long"] = long["worker_peak_rss_mib"]
        ratio = long["worker_peak_rss_mib"] / short["worker_peak_rss_mib"]
        summary["worker_growth_pct"] = 100.0 * (ratio - 1.0)
    return [short, long, summary]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Unknown flags are passed on to the training parser.")
    p.add_argument("--config", action="append", choices=[*CONFIGS, *ALIASES],
                   help="configuration (repeatable; default: cpu-small and cpu-motion; `cpu-motion` = "
                        "cpu-motion-dis + cpu-motion-raft)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per pass (default per configuration)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed warm-up steps (default per configuration)")
    p.add_argument("--video", type=Path, default=FIXTURE, help="training video (default: the real fixture)")
    p.add_argument("--long-video-factor", type=int, default=0,
                   help="peak-RSS check: run with --video and with its frames repeated this many times")
    opts, extra = p.parse_known_args(argv)
    if opts.long_video_factor == 1 or opts.long_video_factor < 0:
        p.error("--long-video-factor must be >= 2 (or 0 for the normal benchmark)")
    if not opts.video.is_file():
        p.error(f"--video: no file at '{opts.video}'")
    names = expand(opts.config or (["cpu-small"] if opts.long_video_factor else ["cpu-small", "cpu-motion"]))
    if opts.long_video_factor:
        for name in names:
            for record in rss_check(name, opts, extra):
                emit(record)
        return 0
    if len(names) > 1:
        for name in names:
            for record in run_child(name, opts, extra, opts.video):
                emit(record)
        return 0
    steps, warmup = DEFAULT_STEPS[names[0]]
    if not torch.cuda.is_available():
        steps, warmup = CPU_STEPS.get(names[0], (steps, warmup))
    steps = opts.steps if opts.steps is not None else steps
    warmup = opts.warmup if opts.warmup is not None else warmup
    if steps < 1 or warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    emit(measure(names[0], steps, warmup, opts.video, extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
