"""Classical dense optical flow (OpenCV), computed on the CPU by the data-loader workers.

Flow is in pixels per frame, channel 0 = x (right), channel 1 = y (down); pair ``(t−1, t)`` is stored at
index ``t−1`` and describes the motion *into* frame ``t``, on frame ``t``'s grid: ``x_t(p) ≈ x_{t−1}(p −
f(p))``. It is measured backwards (from frame ``t`` to ``t−1``) and negated, so that ``−f`` is exactly the
sampling flow that warps frame ``t`` one more step along the motion: on the held-out demo video, warping
the last frame by it scores 23.2 dB against 23.0 dB for the forward flow on frame ``t−1``'s grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

OPENCV_TYPES = ("dis", "farneback")
# DIS: the FAST preset with patches every 2 pixels instead of 4 and no per-patch mean normalisation.
# Warping the last frame by the flow continued at constant velocity, against the preset: +0.08 dB on
# the training demo video (where these were chosen), +0.09 dB on the held-out one, +0.05 dB on the
# other Big Buck Bunny excerpt, all at 64×64; about twice the preset's time (still ~2 ms a pair there).
DIS_PATCH_STRIDE = 2
DIS_MEAN_NORMALIZATION = False
# OpenCV's DIS crashes the process (a segmentation fault, no Python error) on frames under 32 px high at
# many widths (24 × 256, 28 × 256, 30 × 200 …) and refuses sides under 12 px; measured over sides 1–4096,
# every frame with both sides ≥ 32 px works. Smaller frames are edge-padded up to this side for DIS and
# the flow cropped back.
DIS_MIN_SIDE = 32
SETTINGS_VERSION = 3  # raise whenever the estimators' settings change: flow caches are keyed by it


def opencv_flow(frames_uint8: np.ndarray, method: str = "dis",
                pairs: Sequence[int] | None = None) -> np.ndarray:
    """Dense flow of each consecutive pair of ``(T, H, W, C)`` uint8 frames → float32 ``(T−1, 2, H, W)``.

    ``dis``: DIS optical flow (the FAST preset with denser patches, see ``DIS_PATCH_STRIDE``; frames with a
    side under ``DIS_MIN_SIDE`` are padded by repeating their last row / column, then cropped back);
    ``farneback``: Farnebäck on grayscale. CPU data-pipeline code: OpenCV has no batched API, so the
    pairs are looped here (never in a training step). ``pairs``: indices of the pairs to compute (None: all);
    the others are NaN: not computed, never a made-up motion. (A NaN flow does not necessarily surface:
    ``grid_sample`` samples at non-finite coordinates as outside the frame, so which pairs a model reads is
    pinned by a test instead, ``model.flow_reads``.)
    """
    if method not in OPENCV_TYPES:
        raise ValueError(f"opencv_flow: method {method!r} unknown; use one of {', '.join(OPENCV_TYPES)}")
    if frames_uint8.dtype != np.uint8 or frames_uint8.ndim != 4 or frames_uint8.shape[-1] not in (1, 3):
        raise ValueError(f"opencv_flow expects uint8 frames (T, H, W, 1|3), got {frames_uint8.dtype} "
                         f"{frames_uint8.shape}")
    T, H, W, C = frames_uint8.shape
    if C == 3:
        # ITU-R 601 luma, vectorised over all frames (same weights as cv2.COLOR_RGB2GRAY)
        gray = np.rint(frames_uint8.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
        gray = gray.clip(0, 255).astype(np.uint8)
    else:
        gray = np.ascontiguousarray(frames_uint8[..., 0])
    out = np.full((max(T - 1, 0), 2, H, W), np.nan, np.float32)
    wanted = range(T - 1) if pairs is None else pairs
    if any(not 0 <= j < T - 1 for j in wanted):
        raise ValueError(f"opencv_flow: pair indices {list(wanted)} outside 0..{T - 2} for {T} frames")
    dis = None
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        dis.setPatchStride(DIS_PATCH_STRIDE)
        dis.setUseMeanNormalization(DIS_MEAN_NORMALIZATION)
        gray = _padded_for_dis(gray)
    for t in (j + 1 for j in wanted):
        # from frame t back to frame t−1: x_t(p) ≈ x_{t−1}(p + back(p)), on frame t's grid
        if dis is not None:
            back = dis.calc(gray[t], gray[t - 1], None)[:H, :W]
        else:
            back = cv2.calcOpticalFlowFarneback(gray[t], gray[t - 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        # (H, W, 2) -> (2, H, W), negated: the motion into frame t
        out[t - 1] = -back.transpose(2, 0, 1)
    return out


def _padded_for_dis(gray: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` grey frames with their bottom rows / right columns repeated up to ``DIS_MIN_SIDE``
    (``DIS_MIN_SIDE`` comment); unchanged when both sides are large enough."""
    _, H, W = gray.shape
    pad_h, pad_w = max(DIS_MIN_SIDE - H, 0), max(DIS_MIN_SIDE - W, 0)
    if not pad_h and not pad_w:
        return gray
    return np.pad(gray, ((0, 0), (0, pad_h), (0, pad_w)), mode="edge")
