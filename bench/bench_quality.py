"""Quality after a fixed wall-clock training budget: prediction vs. the copy-last and flow baselines.

    python3 bench/bench_quality.py [--minutes 10] [--config cpu-small] [--train-video PATH]
                                   [--val-video PATH] [training flags, e.g. --num_workers 1]
    python3 bench/bench_quality.py --video demo   # held-out synthetic: demo seed 1 → demo seed 2
    python3 bench/bench_quality.py --video stream # fresh demo scenes every epoch → their held-out set
    python3 bench/bench_quality.py --split-fraction 0.2   # within one video: held-out blocks of windows

Trains configuration ``--config`` with the real trainer (``--max_train_minutes``: it stops after the first
optimizer step that ends past the budget) on ``--train-video`` (default: the real fixture
tests/data/bbb_excerpt.mp4) and validates on ``--val-video`` (default: tests/data/bbb_excerpt_val.mp4,
frames the training never sees); ``--video demo`` trains on a generated demo video (seed 1, 600 frames)
and validates on another one (seed 2, 160 frames: other shapes, paths and background); ``--video stream``
trains on ``--dataset demo_stream`` (a new scene for every item) and validates on its fixed held-out
scenes; ``--split-fraction
F`` validates instead on held-out blocks of the training video's own windows (``--validation_split_fraction
F``: whole blocks of ``--val_block_size`` windows, never overlapping a training window). Scores come from
the trainer's own validation (``validation.evaluate``)
over every validation clip, read back from the run's ``metrics.jsonl``, all on the same target frames:

- reconstruction (``mode="reconstruct"``, z = posterior mean, the clip's targets visible to the encoder):
  ``avg_val_psnr``, ``avg_val_ssim``;
- prediction (``mode="predict"``, context frames only, z = prior mean): ``pred_psnr``, ``pred_ssim``;
- copy-last-frame baseline (every target = the last context frame): ``copy_last_psnr``, ``copy_last_ssim``;
- flow-extrapolation baseline (the loader's DIS flow of the last context pair, continued at constant
  velocity): ``flow_extrap_psnr``, ``flow_extrap_ssim``; ``learned_gain_db`` = ``pred_psnr`` minus the
  better of the two baselines, the figure that says what training added.

PSNR per frame, ``10·log10(4 / MSE)`` for values in [-1, 1], averaged. The same scores before the first
step are reported too (``at_start``): the residual generator starts as an exact copy of the last frame.
Prints one JSON line on stdout; the training's console output goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import CONFIGS, FIXTURE, FIXTURE_VAL, config_argv, demo_pair, emit, machine, run_control_argv
from wubugaad.train import config, session, trainer
from wubugaad.train.validation import evaluate

KEYS = ("avg_val_psnr", "avg_val_ssim", "pred_psnr", "pred_ssim", "copy_last_psnr", "copy_last_ssim",
        "flow_extrap_psnr", "flow_extrap_ssim", "learned_gain_db")


def _pick(scores: dict) -> dict:
    return {k: scores[k] for k in KEYS if k in scores}


def final_validation(metrics_file: Path) -> dict:
    """The scores of the last validation a run logged, from its ``metrics.jsonl`` (``val/<metric>`` keys)."""
    final: dict = {}
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        scores = {k.removeprefix("val/"): v for k, v in record.items() if k.startswith("val/")}
        if scores:
            final = scores
    return final


def run(name: str, minutes: float, train_video: Path, val_video: Path | None, extra: list[str],
        split_fraction: float = 0.0, stream: bool = False) -> dict:
    """Train ``name`` for ``minutes`` and score it on ``val_video`` (or, when it is None, on the held-out
    ``split_fraction`` of the training video's windows; with ``stream``, on the demo stream and its
    held-out scenes); returns the JSON record."""
    with tempfile.TemporaryDirectory(prefix="wubugaad-quality-") as tmp:
        work = Path(tmp)
        validation = (["--dataset", "demo_stream"] if stream
                      else ["--validation_video_path", str(val_video)] if val_video is not None
                      else ["--validation_split_fraction", str(split_fraction)])
        argv = [*config_argv(name, train_video, work), "--num_workers", "1",
                *run_control_argv(work, 0), *validation,
                "--max_train_minutes", str(minutes), "--val_max_clips", "0", *extra]
        with contextlib.redirect_stdout(sys.stderr):
            args = config.parse_args(argv)
            s = session.setup(args)
            if s.val_loader is None:
                raise ValueError(f"--val-video {val_video}: no validation clips (video too short?)")
            start = evaluate(s.model, s.val_loader, args.num_input_frames, s.dist.device, None, s.autocast)
            t0 = time.perf_counter()
            code = trainer.train(s)
            train_s = time.perf_counter() - t0
        final = final_validation(s.run_dir / "metrics.jsonl")
        if code != 0 or not final:
            raise RuntimeError(f"training ended with exit code {code} before the final validation")
    end = _pick(final)
    return {
        "config": name, "date": datetime.date.today().isoformat(), "machine": machine(),
        "minutes": minutes, "train_video": "demo stream" if stream else str(train_video),
        "val_video": ("the demo stream's held-out scenes" if stream
                      else str(val_video) if val_video is not None
                      else f"held-out {split_fraction} of the windows"),
        "image": f"{args.image_w}x{args.image_h}",
        "frames": f"{args.num_input_frames}+{args.num_predict_frames}",
        "batch_size": args.batch_size, "steps": s.step, "epoch": s.epoch,
        "clips_seen": s.step * args.batch_size * args.grad_accum_steps,
        "train_and_final_validation_s": train_s, "val_clips": len(s.val_loader.dataset),
        "at_start": _pick(start), **end,
        "pred_minus_copy_last_psnr_db": end["pred_psnr"] - end["copy_last_psnr"],
        "pred_beats_copy_last": end["pred_psnr"] > end["copy_last_psnr"],
        "pred_beats_both_baselines": end.get("learned_gain_db", float("nan")) > 0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Unknown flags are passed on to the training parser.")
    p.add_argument("--minutes", type=float, default=10.0, help="training wall-clock budget in minutes")
    p.add_argument("--config", choices=[n for n, v in CONFIGS.items() if v is not None], default="cpu-small",
                   help="named configuration (see _common.py)")
    p.add_argument("--train-video", type=Path, default=FIXTURE, help="training video, or a folder of videos")
    p.add_argument("--val-video", type=Path, default=FIXTURE_VAL, help="held-out validation video")
    p.add_argument("--video", choices=("fixture", "demo", "stream"), default="fixture",
                   help="demo: train on a generated demo video, validate on another (replaces both paths); "
                        "stream: train on --dataset demo_stream, validate on its held-out scenes")
    p.add_argument("--split-fraction", type=float, default=0.0,
                   help="validate on this held-out fraction of the training video's windows instead of a "
                        "second video")
    opts, extra = p.parse_known_args(argv)
    if opts.video == "demo":
        size = {flag: int(v) for flag, v in zip(CONFIGS[opts.config][::2], CONFIGS[opts.config][1::2],
                                                strict=True) if flag in ("--image_w", "--image_h")}
        folder = Path(tempfile.gettempdir()) / "wubugaad-demo-pair"
        opts.train_video, opts.val_video = demo_pair(folder, size["--image_w"], size["--image_h"])
    if not opts.minutes > 0:
        p.error(f"--minutes must be > 0 (got {opts.minutes})")
    if not 0 <= opts.split_fraction < 1:
        p.error(f"--split-fraction must be in [0, 1) (got {opts.split_fraction})")
    stream = opts.video == "stream"
    val_video = None if opts.split_fraction > 0 or stream else opts.val_video
    if not opts.train_video.exists():
        p.error(f"--train-video: nothing at '{opts.train_video}' (a video file or a folder of videos)")
    if val_video is not None and not val_video.is_file():
        p.error(f"--val-video: no file at '{val_video}'")
    emit(run(opts.config, opts.minutes, opts.train_video, val_video, extra, opts.split_fraction, stream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
