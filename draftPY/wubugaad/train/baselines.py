"""The two predictors every validation figure is judged against; neither learns anything.

- copy-last: every target frame := the last context frame (``metrics.copy_last_baseline``);
- flow extrapolation: the classical flow of the last context pair (the one the data loader computes for
  the generator's prior), continued at constant velocity over the predicted frames
  (``metrics.flow_extrapolation_baseline``). When the loader carries no flow (the flow prior is off and
  no motion branch reads it, or RAFT runs inside the model), validation computes that pair's flow itself
  with the project's OpenCV function (DIS; Farnebäck on frames under DIS's 12-pixel minimum side), so the
  baseline always exists once there are two context frames.

Neither baseline consumes random numbers, and validation sets do not change between validations, so
their scores are computed at the first validation of a run and reused (``evaluate``'s ``baseline_cache``).
"""

from __future__ import annotations

import numpy as np
import torch

from wubugaad.data.flow import opencv_flow
from wubugaad.train import metrics

__all__ = ["BASELINE_PREFIXES", "DIS_MIN_SIDE", "learned_gain", "last_pair_flow", "baseline_predictions"]

# score-name prefix of each baseline (``copy_last_psnr``, ``flow_extrap_bench_mse_t2``)
BASELINE_PREFIXES = {"copy": "copy_last_", "flow": "flow_extrap_"}
DIS_MIN_SIDE = 12  # OpenCV's DIS refuses frames whose width and height are both smaller


def last_pair_flow(frames_uint8: torch.Tensor, num_input_frames: int) -> torch.Tensor:
    """OpenCV flow of the last context pair of uint8 clips (B, T, C, H, W) → float32 (B, 2, H, W) pixels,
    in ``data/flow.py``'s convention (the motion into the last context frame, on its grid).

    One ``opencv_flow`` call on the clips' pairs laid end to end (pairs 0, 2, 4, … of that sequence):
    OpenCV has no batched API, so its loop over pairs is the one there is.
    """
    B, _, C, H, W = frames_uint8.shape
    I = num_input_frames
    pairs = frames_uint8[:, I - 2:I].permute(0, 1, 3, 4, 2).reshape(2 * B, H, W, C).cpu().numpy()
    method = "dis" if max(H, W) >= DIS_MIN_SIDE else "farneback"
    flow = opencv_flow(np.ascontiguousarray(pairs), method, pairs=range(0, 2 * B, 2))  # (2B−1, 2, H, W)
    return torch.from_numpy(flow[0::2]).to(frames_uint8.device)


def baseline_predictions(frames_uint8: torch.Tensor, clip: torch.Tensor, flow: torch.Tensor | None,
                         num_input_frames: int) -> dict[str, torch.Tensor]:
    """``{"copy": …, "flow": …}`` predictions (B, P, C, H, W) of the clip's targets ``clip[:, I:]``.

    ``flow`` (B, T−1, 2, H, W) is the loader's, or None (then the last pair is measured here). Copy-last
    needs one context frame, the flow extrapolation two; with fewer a baseline is absent.
    """
    I = num_input_frames
    target = clip[:, I:]
    out = {}
    if I >= 1:
        out["copy"] = metrics.copy_last_baseline(clip[:, I - 1], target)
    if I >= 2:
        last = flow[:, I - 2] if flow is not None else last_pair_flow(frames_uint8, I)
        out["flow"] = metrics.flow_extrapolation_baseline(clip[:, I - 1], last.to(clip.device),
                                                          target.shape[1])
    return out


def learned_gain(scores: dict[str, float]) -> float | None:
    """``pred_psnr − max(copy_last_psnr, flow_extrap_psnr)`` (dB) over the baselines present; None when the
    prediction or every baseline is missing. Positive: the model adds what no formula here gives."""
    baselines = [scores[f"{p}psnr"] for p in BASELINE_PREFIXES.values() if f"{p}psnr" in scores]
    if "pred_psnr" not in scores or not baselines:
        return None
    return scores["pred_psnr"] - max(baselines)
