"""Stochastic prediction metrics: N sampled futures of each clip scored against the one true future.

A stochastic model is not judged by one sample: the true future is one of many plausible ones, so a good
model has *some* sample close to it (best of N), samples that are good on average (mean of N) and no
sample that is absurd (worst of N), and its samples differ (diversity). The conventions follow SVG
(Denton & Fergus 2018):

- **best / worst of N** are chosen per clip by the sample's mean PSNR over the predicted horizon, then
  that *one* sample's per-step curve (and its SSIM, LPIPS) is reported: choosing the best sample
  separately at every step would splice frames of different futures into one curve no model produced.
  Ties go to the lower sample index (``argmax`` / ``argmin``).
- **mean of N** is the average over the N samples, per step.
- **diversity** is the mean absolute pixel difference between two distinct samples of the same clip,
  over all ``N (N − 1)`` ordered pairs, on frames mapped to [0, 1] (per step; the headline is the mean
  over steps). 0 means the N samples are identical (a deterministic model); it is 0 by definition for
  ``N = 1``.

Keys (logged as ``val/<key>``): ``sample_{best,mean,worst}_{psnr,ssim[,lpips]}`` and ``sample_diversity``,
and each per future step ``k`` = 1 … P with the ``_t{k}`` suffix (``validation.per_step_key``).

Sampling: ``draw_samples`` repeats every clip's context N times along the batch and calls the model once
(``mode="generate"``): the samples differ only by the model's own noise, drawn from the torch RNG, so a
seed fixes them. Clips are chunked (``SAMPLE_ROWS`` rows per forward at most) only to bound memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from wubugaad.train import metrics

__all__ = ["RANKS", "SCORES", "DIVERSITY_KEY", "SAMPLE_ROWS", "sample_keys", "sample_key_names",
           "draw_samples", "score_samples", "diversity"]

RANKS = ("best", "mean", "worst")
SCORES = ("psnr", "ssim", "lpips")
DIVERSITY_KEY = "sample_diversity"
# rows (clips × samples) of one generate forward at most: 8 clips × 32 samples at 64 × 64 fit a small GPU
SAMPLE_ROWS = 256


def _step_key(key: str, k: int) -> str:
    """``key`` at future step ``k`` (1-based), the convention of ``validation.per_step_key``."""
    return f"{key}_t{k}"


def sample_key_names(with_lpips: bool = False) -> list[str]:
    """The headline sample keys (no per-step ones): best/mean/worst of every score, then diversity."""
    scores = SCORES if with_lpips else SCORES[:2]
    return [f"sample_{rank}_{score}" for score in scores for rank in RANKS] + [DIVERSITY_KEY]


def sample_keys(num_predict_frames: int, with_lpips: bool = False) -> list[str]:
    """Every key ``score_samples`` returns, headline keys first, then per step ``_t1`` … ``_tP``."""
    heads = sample_key_names(with_lpips)
    return heads + [_step_key(key, k) for key in heads for k in range(1, num_predict_frames + 1)]


def draw_samples(model: torch.nn.Module, clip: torch.Tensor, flow: torch.Tensor | None, num_samples: int,
                 num_input_frames: int, autocast: Callable = contextlib.nullcontext,
                 max_rows: int = SAMPLE_ROWS) -> torch.Tensor:
    """``num_samples`` futures of every clip: ``(B, N, P, C, H, W)`` float, from ``mode="generate"``.

    Only the context frames (and their flow pairs) are repeated: generate reads nothing else, and the
    targets repeated N times would be the largest tensor here. Each forward takes whole clips (all N
    samples of a clip in one batch); the loop runs over chunks of clips only when ``B · N > max_rows``.
    """
    B, n = clip.shape[0], int(num_samples)
    if n < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    context = clip[:, :num_input_frames]
    pairs = None if flow is None else flow[:, :max(num_input_frames - 1, 0)]
    per_chunk = max(1, max_rows // n)
    out = []
    for start in range(0, B, per_chunk):
        part = context[start:start + per_chunk]
        rows = part.repeat_interleave(n, dim=0)  # (b·N, I, C, H, W): clip i's samples are rows i·N … i·N+N−1
        rows_flow = None if pairs is None else pairs[start:start + per_chunk].repeat_interleave(n, dim=0)
        with autocast():
            pred = model(rows, mode="generate", flow=rows_flow).prediction
        out.append(pred.float().reshape(part.shape[0], n, *pred.shape[1:]))
    return torch.cat(out, dim=0)


def diversity(samples: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference on [0, 1] between two distinct samples, per clip and step: (B, N, P, C,
    H, W) → (B, P); 0 for N = 1. ``cdist`` forms the N × N distances without the N² difference images."""
    B, n, P = samples.shape[:3]
    if n < 2:
        return samples.new_zeros(B, P)
    x = metrics._unit(samples.clamp(-1, 1)).transpose(1, 2).reshape(B * P, n, -1)  # (B·P, N, D)
    dist = torch.cdist(x, x, p=1.0)  # (B·P, N, N), zero diagonal
    return (dist.sum(dim=(1, 2)) / (n * (n - 1) * x.shape[-1])).reshape(B, P)


def _pick(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values`` (B, N, P) at sample ``index`` (B,) of each clip → (B, P)."""
    return values.gather(1, index.view(-1, 1, 1).expand(-1, 1, values.shape[2])).squeeze(1)


def score_samples(samples: torch.Tensor, target: torch.Tensor, lpips_metric=None) -> dict[str, torch.Tensor]:
    """Per-clip values ``(B,)`` of every ``sample_keys`` key for samples ``(B, N, P, C, H, W)`` and the
    true future ``target`` ``(B, P, C, H, W)``, both in [-1, 1] (samples are clipped to it first).

    Best and worst are the samples of highest and lowest mean PSNR over the P steps (see the module
    docstring); every score of a rank, and every step, is read from that same sample.
    """
    B, n, P = samples.shape[:3]
    samples = samples.float().clamp(-1, 1)
    truth = target.float().unsqueeze(1).expand_as(samples)
    per_frame = {"psnr": metrics.psnr(samples, truth), "ssim": metrics.ssim(samples, truth)}  # (B, N, P)
    if lpips_metric is not None:
        per_frame["lpips"] = lpips_metric(samples, truth).float()
    horizon_psnr = per_frame["psnr"].mean(dim=2)  # (B, N): what ranks the samples
    chosen = {"best": horizon_psnr.argmax(dim=1), "worst": horizon_psnr.argmin(dim=1)}
    curves: dict[str, torch.Tensor] = {}  # key → (B, P)
    for score, values in per_frame.items():
        curves[f"sample_best_{score}"] = _pick(values, chosen["best"])
        curves[f"sample_mean_{score}"] = values.mean(dim=1)
        curves[f"sample_worst_{score}"] = _pick(values, chosen["worst"])
    curves[DIVERSITY_KEY] = diversity(samples)
    out = {key: curves[key].mean(dim=1) for key in sample_key_names(lpips_metric is not None)}
    for key in list(out):
        out.update({_step_key(key, k + 1): curves[key][:, k] for k in range(P)})
    return out
