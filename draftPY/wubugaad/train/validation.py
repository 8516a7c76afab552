"""Validation metrics over the whole validation set, and sample grids / clips.

Every validation clip ``(B, T, C, H, W)`` (``T = n_in + P``) is scored three ways on the same target frames
``clip[:, n_in:]``:

- reconstruction (``mode="reconstruct"``, z = μ of the posterior): ``avg_val_recon_mse``, ``avg_val_psnr``,
  ``avg_val_ssim``, ``avg_val_lpips``;
- prediction (``mode="predict"``, context only, z = the prior's mean): ``pred_mse``, ``pred_psnr``, ...;
- copy-last baseline (every target frame := the last context frame; only with context): ``copy_last_*``;
- flow-extrapolation baseline (the classical flow of the last context pair continued at constant velocity,
  ``train/baselines.py``; with two context frames): ``flow_extrap_*``.

Prediction and the baselines are also scored in the published benchmarks' definitions
(``metrics.bench_*``): ``bench_mse``, ``bench_mae``, ``bench_ssim``, ``bench_psnr`` (and
``copy_last_bench_*``, ``flow_extrap_bench_*``), plus, when the number of predicted frames is given, the
same per future step ``k`` = 1 … P as ``bench_mse_t{k}`` etc. The headline is ``learned_gain_db`` =
``pred_psnr − max(copy_last_psnr, flow_extrap_psnr)``: what the model adds over the better formula.
The baselines' scores are computed once per validation set when a ``baseline_cache`` is passed.

Each rank scores its own shard (the trainer shards without padding), per-clip values are summed, and one
``all_reduce`` of ``[Σ metric..., count]`` gives exact means over the whole set.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from wubugaad.data.datasets import frames_to_model
from wubugaad.train import distributed, exits, metrics
from wubugaad.train.baselines import BASELINE_PREFIXES, baseline_predictions, learned_gain

__all__ = ["RECON_METRIC_KEYS", "PRED_METRIC_KEYS", "COPY_LAST_METRIC_KEYS", "FLOW_EXTRAP_METRIC_KEYS",
           "BENCH_METRIC_KEYS", "LEARNED_GAIN_KEY", "CHECKPOINT_METRIC_KEYS", "VAL_METRIC_KEYS",
           "PER_VIDEO_METRICS", "metric_keys", "is_baseline", "per_video_key", "is_per_video", "is_per_step",
           "per_step_key", "evaluate", "to_unit", "write_grid", "write_clip", "write_samples", "generate",
           "prepare_batch", "image_grid"]


SCORE_NAMES = ("mse", "psnr", "ssim", "lpips")
BENCH_NAMES = ("mse", "mae", "ssim", "psnr")
# The one list of validation metric names. Reconstruction keeps v0.1's names; prediction and the
# baselines are `pred_*`, `copy_last_*` and `flow_extrap_*`; benchmark definitions are
# `[copy_last_|flow_extrap_]bench_*`; the headline gain over the better baseline is `learned_gain_db`.
RECON_METRIC_KEYS = ("avg_val_recon_mse", "avg_val_psnr", "avg_val_ssim", "avg_val_lpips")
PRED_METRIC_KEYS = tuple(f"pred_{n}" for n in SCORE_NAMES)
COPY_LAST_METRIC_KEYS = tuple(f"{BASELINE_PREFIXES['copy']}{n}" for n in SCORE_NAMES)
FLOW_EXTRAP_METRIC_KEYS = tuple(f"{BASELINE_PREFIXES['flow']}{n}" for n in SCORE_NAMES)
BENCH_METRIC_KEYS = tuple(f"{prefix}bench_{n}" for prefix in ("", *BASELINE_PREFIXES.values())
                          for n in BENCH_NAMES)
LEARNED_GAIN_KEY = "learned_gain_db"
VAL_METRIC_KEYS = (RECON_METRIC_KEYS + PRED_METRIC_KEYS + COPY_LAST_METRIC_KEYS + FLOW_EXTRAP_METRIC_KEYS
                   + (LEARNED_GAIN_KEY,))
_MODE_KEYS = {"recon": RECON_METRIC_KEYS, "pred": PRED_METRIC_KEYS, "copy": COPY_LAST_METRIC_KEYS,
              "flow": FLOW_EXTRAP_METRIC_KEYS}
_BENCH_PREFIX = {"pred": "", **BASELINE_PREFIXES}
# reported per video when the validation set has several (``video/<name>/<metric>``), with the gain
PER_VIDEO_PREFIX = "video/"
PER_VIDEO_METRICS = (PRED_METRIC_KEYS[1], COPY_LAST_METRIC_KEYS[1], FLOW_EXTRAP_METRIC_KEYS[1])
# context frames each baseline needs: copy-last one, the flow extrapolation a pair
_BASELINE_CONTEXT = {"copy": 1, "flow": 2}
BENCH_FUNCTIONS = {"mse": metrics.bench_mse, "mae": metrics.bench_mae, "ssim": metrics.bench_ssim,
                   "psnr": metrics.bench_psnr}


def per_step_key(key: str, k: int) -> str:
    """Name of metric ``key`` at future step ``k`` (1-based): ``bench_mse_t3``."""
    return f"{key}_t{k}"


def _bench_keys(prefix: str, num_predict_frames: int) -> list[str]:
    keys = [f"{prefix}bench_{n}" for n in BENCH_NAMES]
    return keys + [per_step_key(key, k) for key in keys for k in range(1, num_predict_frames + 1)]


def metric_keys(num_input_frames: int, with_lpips: bool, num_predict_frames: int = 0) -> list[str]:
    """The metric names one validation produces, in a fixed order (identical on every rank).

    Per-step benchmark keys appear only when ``num_predict_frames`` is given (> 0).
    """
    keys = [*RECON_METRIC_KEYS[:3], *PRED_METRIC_KEYS[:3]]
    if with_lpips:
        keys += [RECON_METRIC_KEYS[3], PRED_METRIC_KEYS[3]]
    keys += _bench_keys("", num_predict_frames)
    for mode, needed in _BASELINE_CONTEXT.items():
        if num_input_frames >= needed:
            keys += list(_MODE_KEYS[mode][:4 if with_lpips else 3])
            keys += _bench_keys(BASELINE_PREFIXES[mode], num_predict_frames)
    return keys


def is_baseline(key: str) -> bool:
    """True for the scores of a baseline (``copy_last_*``, ``flow_extrap_*``, of the whole set or of one
    video), which never change."""
    return key.rpartition("/")[2].startswith(tuple(BASELINE_PREFIXES.values()))


def per_video_key(video: str, key: str) -> str:
    """Name of metric ``key`` on the clips of one video of the validation set: ``video/<name>/pred_psnr``."""
    return f"{PER_VIDEO_PREFIX}{video}/{key}"


def is_per_video(key: str) -> bool:
    """True for the figures of one video (kept out of the console summary)."""
    return key.startswith(PER_VIDEO_PREFIX)


# metrics that can select the best checkpoint (not the baselines': they do not train); on a fixed validation
# set the learned gain ranks checkpoints as the prediction PSNR it is computed from does
CHECKPOINT_METRIC_KEYS = (RECON_METRIC_KEYS + PRED_METRIC_KEYS
                          + tuple(k for k in BENCH_METRIC_KEYS if not is_baseline(k)) + (LEARNED_GAIN_KEY,))


def is_per_step(key: str) -> bool:
    """True for per-future-step keys (kept out of the console summary)."""
    head, _, tail = key.rpartition("_t")
    return bool(head) and tail.isdigit()


def prepare_batch(batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 frames → model clip in [-1, 1] on ``device``; OpenCV flow (when the data carries it)."""
    clip = frames_to_model(batch["frames"].to(device, non_blocking=True))
    flow = batch.get("flow")
    return clip, (flow.to(device, non_blocking=True) if flow is not None else None)


def _per_clip(values: torch.Tensor, batch: int) -> torch.Tensor:
    """Per-frame (or per-clip) metric values → one mean per clip, shape (B,)."""
    return values.float().reshape(batch, -1).mean(dim=1)


def _score(pred: torch.Tensor, target: torch.Tensor, lpips_metric) -> dict[str, torch.Tensor]:
    """MSE, PSNR, SSIM (and LPIPS) per clip for ``(B, P, C, H, W)`` tensors in [-1, 1]."""
    B = pred.shape[0]
    pred = pred.float().clamp(-1, 1)
    out = {
        "mse": (pred - target).pow(2).flatten(1).mean(dim=1),
        "psnr": _per_clip(metrics.psnr(pred, target), B),
        "ssim": _per_clip(metrics.ssim(pred, target), B),
    }
    if lpips_metric is not None:
        out["lpips"] = _per_clip(lpips_metric(pred, target), B)
    return out


def _bench_scores(pred: torch.Tensor, target: torch.Tensor, prefix: str, per_step: bool) -> dict:
    """``{prefix}bench_*`` per clip (B,) — and per future step when ``per_step`` — for (B, P, C, H, W)."""
    out = {}
    for name, fn in BENCH_FUNCTIONS.items():
        values = fn(pred.float(), target).float()  # (B, P): one value per frame
        key = f"{prefix}bench_{name}"
        out[key] = values.mean(dim=1)
        if per_step:
            out.update({per_step_key(key, k + 1): values[:, k] for k in range(values.shape[1])})
    return out


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, num_input_frames: int, device: torch.device,
             lpips_metric=None, autocast: Callable = contextlib.nullcontext,
             progress: Callable = lambda it, **_: it, num_predict_frames: int = 0,
             baseline_cache: dict[str, float] | None = None,
             video_names: Sequence[str] | None = None) -> dict[str, float]:
    """Mean metrics over every clip of every rank's ``loader`` (the raw model, not the DDP wrapper), and
    ``learned_gain_db`` when a baseline is scored.

    ``num_predict_frames`` > 0 adds the per-future-step benchmark keys (clips must have that many targets).
    ``baseline_cache``: an empty dict is filled with the baselines' means; a filled one is reused instead
    of scoring them again (the same validation set every time; None: score them every call).
    ``video_names``: with more than one, batches carry ``"video"`` (an index into it) and the PSNRs of
    ``PER_VIDEO_METRICS`` and the learned gain are also reported per video, as ``video/<name>/<metric>``.
    """
    was_training = model.training
    model.eval()
    all_keys = metric_keys(num_input_frames, lpips_metric is not None, num_predict_frames)
    reuse = bool(baseline_cache)
    keys = [k for k in all_keys if not (reuse and is_baseline(k))]
    per_step = num_predict_frames > 0
    videos = list(video_names) if video_names is not None and len(video_names) > 1 else []
    video_keys = [k for k in PER_VIDEO_METRICS if k in keys]
    sums = torch.zeros(len(keys) + 1, dtype=torch.float64, device=device)  # last slot: clip count
    video_sums = torch.zeros(len(videos), len(video_keys) + 1, dtype=torch.float64, device=device)
    for batch in progress(loader, desc="val"):
        clip, flow = prepare_batch(batch, device)
        target = clip[:, num_input_frames:].float()
        with autocast():
            outputs = {"recon": model(clip, mode="reconstruct", flow=flow).prediction,
                       "pred": model(clip, mode="predict", flow=flow).prediction}
        if not reuse:
            outputs.update(baseline_predictions(batch["frames"], clip, flow, num_input_frames))
        scores: dict[str, torch.Tensor] = {}
        for mode, pred in outputs.items():
            for name, value in _score(pred, target, lpips_metric).items():
                scores[_MODE_KEYS[mode][SCORE_NAMES.index(name)]] = value
            if mode != "recon":
                scores.update(_bench_scores(pred, target, _BENCH_PREFIX[mode], per_step))
        ones = sums.new_ones(clip.shape[0])
        sums += torch.stack([scores[k].sum().double() for k in keys] + [ones.sum()])
        if videos:
            rows = torch.stack([scores[k].double() for k in video_keys] + [ones], dim=1)  # (B, keys + 1)
            video_sums.index_add_(0, batch["video"].to(device), rows)
    both = torch.cat([sums, video_sums.flatten()])
    distributed.all_reduce_sum(both)  # one collective for the overall and the per-video sums
    model.train(was_training)
    totals = both.tolist()
    count = max(totals[len(keys)], 1.0)
    means = dict(zip(keys, (v / count for v in totals[:len(keys)]), strict=True))
    width = len(video_keys) + 1
    for v, name in enumerate(videos):
        *values, clips = totals[len(keys) + 1 + v * width:len(keys) + 1 + (v + 1) * width]
        if clips > 0:  # a video with no validation window has no figures
            means.update({per_video_key(name, k): x / clips for k, x in zip(video_keys, values, strict=True)})
    if reuse:
        means.update(baseline_cache)
    elif baseline_cache is not None:
        baseline_cache.update({k: v for k, v in means.items() if is_baseline(k)})
    out = {k: means[k] for k in all_keys}
    for name in [None, *videos]:  # the whole set, then each video
        key = (lambda metric: metric) if name is None else functools.partial(per_video_key, name)
        figures = {k: means[key(k)] for k in PER_VIDEO_METRICS if key(k) in means}
        out.update({key(k): v for k, v in figures.items()})
        gain = learned_gain(figures)
        if gain is not None:
            out[key(LEARNED_GAIN_KEY)] = gain
    return out


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1] float on the CPU."""
    return ((x.detach().float().cpu() + 1.0) * 0.5).clamp(0.0, 1.0)


def image_grid(rows: torch.Tensor) -> torch.Tensor:
    """``rows`` (N, K, C, H, W) in [-1, 1] → one N-row, K-column image (C, H', W') in [0, 1]."""
    N, K = rows.shape[:2]
    return make_grid(to_unit(rows).reshape(N * K, *rows.shape[2:]), nrow=K, padding=2)  # (N·K, C, H, W) in


def write_grid(rows: torch.Tensor, path: Path) -> torch.Tensor:
    """Save ``rows`` (N, K, C, H, W) in [-1, 1] as an N-row, K-column PNG grid; returns it (C, H', W')."""
    grid = image_grid(rows)
    with exits.writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
    return grid


def _write_mp4(video: np.ndarray, path: Path, fps: int) -> bool:
    """OpenCV ``mp4v`` file of ``video`` (T, H, W, 3) RGB; True only when it reads back with all T frames
    (the writer refuses e.g. sides beyond MPEG-4's limit, and loses frames on a full disk, silently)."""
    H, W = video.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    if not writer.isOpened():
        return False
    for f in video:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    check = cv2.VideoCapture(str(path))
    frames = check.get(cv2.CAP_PROP_FRAME_COUNT) if check.isOpened() else 0
    check.release()
    if int(frames) == video.shape[0]:
        return True
    path.unlink(missing_ok=True)
    return False


def write_clip(frames: torch.Tensor, path: Path, fmt: str, fps: int = 4) -> Path:
    """Write a clip (T, C, H, W) in [-1, 1] as ``fmt`` ∈ {mp4, gif, png}; returns the path written.

    MP4 uses OpenCV's ``mp4v`` writer and is read back to check every frame arrived; when it is not (a
    clip too large for MPEG-4, a writer that cannot open), the clip is written as a GIF (Pillow) instead
    and that path is returned. PNG writes the frames as one row. A file that cannot be written for lack of
    space or permission raises ``OutputWriteError``.
    """
    path = path.with_suffix("." + fmt)
    video = (to_unit(frames) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (T, H, W, C)
    if video.shape[-1] == 1:
        video = np.repeat(video, 3, axis=-1)
    with exits.writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "png":
            save_image(to_unit(frames), path, nrow=frames.shape[0])
            return path
        if fmt == "mp4" and _write_mp4(video, path, fps):
            return path
    path = path.with_suffix(".gif")
    with exits.writing(path):
        from PIL import Image  # torchvision's own dependency

        images = [Image.fromarray(f) for f in video]
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


@torch.no_grad()
def generate(model: torch.nn.Module, clip: torch.Tensor, z: torch.Tensor | None, flow=None,
             mode: str = "predict") -> torch.Tensor:
    """Model output frames (B, P, C, H, W) in eval mode, restoring the previous train/eval state."""
    was_training = model.training
    model.eval()
    out = model(clip, mode=mode, z=z, flow=flow).prediction.float()
    model.train(was_training)
    return out


def write_samples(model: torch.nn.Module, clip: torch.Tensor, flow: torch.Tensor | None,
                  fixed_z: torch.Tensor, num_input_frames: int, out_dir: Path, tag: str,
                  fmt: str) -> dict[str, torch.Tensor]:
    """Reconstruction / prediction / fixed-noise samples of a fixed validation batch.

    ``clip`` (N, T, C, H, W); ``fixed_z`` (``model.noise_shape(M)``: the per-frame latent's noise ε
    (M, P, latent_dim), or the global generator's z (M, latent_dim)) drawn once per run, used with the
    first context clips cycled to M. Writes ``{tag}_reconstruction.png``, ``{tag}_prediction.png``
    (rows: context | truth | output), ``{tag}_prediction.{fmt}`` (truth beside prediction over the whole
    clip) and ``{tag}_fixed_noise.png/.{fmt}``; returns the grids under their WandB image keys.
    """
    context, truth = clip[:, :num_input_frames], clip[:, num_input_frames:]
    recon = generate(model, clip, None, flow, mode="reconstruct")
    pred = generate(model, clip, None, flow, mode="predict")
    grids = {
        "samples/val_reconstruction_samples": write_grid(torch.cat([context, truth, recon.to(clip)], 1),
                                                         out_dir / f"{tag}_reconstruction.png"),
        "samples/val_prediction_samples": write_grid(torch.cat([context, truth, pred.to(clip)], 1),
                                                     out_dir / f"{tag}_prediction.png"),
    }
    # truth above prediction: (N, T, C, 2H, W); the N clips are then tiled along the width → (T, C, 2H, N·W)
    side = torch.cat([clip, torch.cat([context, pred.to(clip)], 1)], dim=3)
    write_clip(torch.cat(list(side), dim=3), out_dir / f"{tag}_prediction", fmt)
    index = torch.arange(fixed_z.shape[0], device=clip.device) % clip.shape[0]
    fixed_flow = flow[index] if flow is not None else None
    fixed = generate(model, clip[index], fixed_z, fixed_flow, mode="predict")
    fixed_rows = torch.cat([clip[index][:, :num_input_frames], fixed.to(clip)], 1)
    grids["samples/fixed_noise_generated"] = write_grid(fixed_rows, out_dir / f"{tag}_fixed_noise.png")
    write_clip(torch.cat(list(fixed_rows), dim=3), out_dir / f"{tag}_fixed_noise", fmt)
    return grids
