"""All target frames at once, or one frame at a time from predictions? Measured on the held-out demo pair.

    python3 bench/bench_rollout.py [--steps 600] [--config cpu-small] [training flags]

Three models of configuration ``--config`` train the same number of optimizer steps on demo seed 1:

- ``joint`` (``--no_gen_rollout``): ``num_predict_frames = P`` (P from the configuration), one generator
  pass predicts every target frame, each warped from the last context frame;
- ``rollout`` (``--gen_rollout``, the default): the generator predicts one frame per pass, each warped
  from the one before and fed back, trained through all ``P`` frames;
- ``one_frame``: ``num_predict_frames = 1``, trained on the next frame only and rolled out ``P`` times
  at evaluation: each prediction becomes the newest context frame (the oldest drops out) and the whole
  model (encoder, WuBu stacks, generator) runs again on the new window.

Both are scored on the same held-out windows of demo seed 2 (``I + P`` frames each): PSNR per future
step and mean, against copy-last, with seconds per training step and per evaluated clip. One JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import CONFIGS, config_argv, demo_pair, emit, machine, run_control_argv
from wubugaad.data.datasets import build_dataloader, build_datasets
from wubugaad.model.flow_reads import flow_reads
from wubugaad.train import config, metrics, session, trainer
from wubugaad.train.validation import prepare_batch

# name → (target frames per training clip, 0 = the configuration's P; extra training flags)
VARIANTS = {"joint": (0, ["--no_gen_rollout"]), "rollout": (0, ["--gen_rollout"]), "one_frame": (1, [])}


def train(argv: list[str]) -> tuple[torch.nn.Module, float]:
    """Train with the real trainer; the model and the mean seconds per optimizer step."""
    with contextlib.redirect_stdout(sys.stderr):
        s = session.setup(config.parse_args(argv))
        t0 = time.perf_counter()
        if trainer.train(s) != 0:
            raise RuntimeError("training failed")
        return s.model, (time.perf_counter() - t0) / max(s.step, 1)


@torch.no_grad()
def rollout(model: torch.nn.Module, context: torch.Tensor, frames: int, per_call: int) -> torch.Tensor:
    """``frames`` future frames from ``context`` (B, I, C, H, W): calls of ``per_call`` frames each, every
    call's predictions appended to the window (oldest frames dropped) before the next."""
    window, out = context, []
    while sum(p.shape[1] for p in out) < frames:
        pred = model(window, mode="predict").prediction.clamp(-1, 1)  # (B, per_call, C, H, W)
        out.append(pred)
        window = torch.cat([window, pred], dim=1)[:, -context.shape[1]:]
    return torch.cat(out, dim=1)[:, :frames]


@torch.no_grad()
def score(models: dict[str, tuple[torch.nn.Module, int]], loader, num_input: int, frames: int) -> dict:
    """Per-step PSNR (and mean) of each model's rollout and of copy-last over every clip of ``loader``."""
    sums: dict[str, torch.Tensor] = {}
    seconds = dict.fromkeys(models, 0.0)
    clips = 0
    for batch in loader:
        clip, _ = prepare_batch(batch, torch.device("cpu"))
        context, target = clip[:, :num_input], clip[:, num_input:num_input + frames]
        preds = {"copy_last": metrics.copy_last_baseline(context[:, -1], target)}
        for name, (model, per_call) in models.items():
            t0 = time.perf_counter()
            preds[name] = rollout(model, context, frames, per_call)
            seconds[name] += time.perf_counter() - t0
        for name, pred in preds.items():
            psnr = metrics.psnr(pred.float(), target.float()).reshape(clip.shape[0], frames)  # (B, P)
            sums[name] = sums.get(name, 0) + psnr.sum(dim=0)
        clips += clip.shape[0]
    out = {}
    for name, total in sums.items():
        per_step = (total / clips).tolist()
        out[name] = {"psnr_per_step": [round(v, 3) for v in per_step],
                     "psnr": round(sum(per_step) / frames, 3)}
        if name in seconds:
            out[name]["eval_s_per_clip"] = round(seconds[name] / clips, 4)
    return {"val_clips": clips, **out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Unknown flags are passed on to the training parser.")
    p.add_argument("--steps", type=int, default=600, help="optimizer steps of each model")
    p.add_argument("--config", choices=[n for n, v in CONFIGS.items() if v is not None], default="cpu-small")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                   help="which models to train and score")
    opts, extra = p.parse_known_args(argv)
    size = dict(zip(CONFIGS[opts.config][::2], CONFIGS[opts.config][1::2], strict=True))
    train_video, val_video = demo_pair(Path(tempfile.gettempdir()) / "wubugaad-demo-pair",
                                       int(size["--image_w"]), int(size["--image_h"]))
    frames = int(size["--num_predict_frames"])
    num_input = int(size["--num_input_frames"])
    record = {"config": opts.config, "date": datetime.date.today().isoformat(), "machine": machine(),
              "steps": opts.steps, "future_frames": frames}
    models = {}
    with tempfile.TemporaryDirectory(prefix="wubugaad-rollout-") as tmp:
        for name in opts.variants:
            predict, flags = VARIANTS[name]
            predict = predict or frames
            work = Path(tmp) / name
            argv_ = [*config_argv(opts.config, train_video, work), "--num_workers", "1",
                     *run_control_argv(work, opts.steps), "--validation_split_fraction", "0", *extra,
                     "--num_predict_frames", str(predict), *flags]
            model, step_s = train(argv_)
            models[name] = (model.eval(), predict)
            record[f"{name}_s_per_step"] = round(step_s, 4)
        val_args = config.parse_args([*config_argv(opts.config, val_video, Path(tmp) / "val"),
                                      "--validation_split_fraction", "0", "--num_workers", "0",
                                      "--cache_dir", str(Path(tmp) / "cache"), "--no_augment"])
        val_ds, _ = build_datasets(val_args, 0, 1, flow=flow_reads(val_args).loader_method)
        record.update(score(models, build_dataloader(val_ds, val_args, shuffle=False), num_input, frames))
    emit(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
