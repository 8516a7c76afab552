"""Classical dense optical flow (OpenCV), computed on the CPU by the data-loader workers.

Flow is in pixels per frame, channel 0 = x (right), channel 1 = y (down); pair ``(t−1, t)`` is stored at
index ``t−1`` and describes the motion *into* frame ``t``.
"""

from __future__ import annotations

import cv2
import numpy as np

OPENCV_TYPES = ("dis", "farneback")


def opencv_flow(frames_uint8: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow of each consecutive pair of ``(T, H, W, C)`` uint8 frames → float32 ``(T−1, 2, H, W)``.

    ``dis``: DIS optical flow (FAST preset); ``farneback``: Farnebäck on grayscale. CPU data-pipeline code:
    OpenCV has no batched API, so the pairs are looped here (never in a training step).
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
    out = np.empty((max(T - 1, 0), 2, H, W), np.float32)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST) if method == "dis" else None
    for t in range(1, T):
        if dis is not None:
            flow = dis.calc(gray[t - 1], gray[t], None)
        else:
            flow = cv2.calcOpticalFlowFarneback(gray[t - 1], gray[t], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        # (H, W, 2) -> (2, H, W)
        out[t - 1] = flow.transpose(2, 0, 1)
    return out
