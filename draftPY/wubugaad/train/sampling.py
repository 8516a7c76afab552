"""Sampled futures for people to look at: rollouts beyond the training horizon, labelled grids, tiled clips.

Used by ``wubugaad_sample.py`` (``--mode generate --num_samples N --num_frames K``). The model predicts
``P`` frames from ``I`` context frames per call; ``rollout`` continues past ``P`` by feeding its own output
back as the next context and calling the model again (one call per chunk of ``P`` frames, every row of
the batch at once: the loop is over future chunks, a true data dependency).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from wubugaad.data.flow import DIS_MIN_SIDE, opencv_flow
from wubugaad.train.validation import generate, image_grid

__all__ = ["rollout", "context_flow", "sample_rows", "labelled_grid", "tiled_frames", "write_png",
           "blank_like"]

LABEL_WIDTH = 72  # px of the label column left of a grid
PAD = 2  # make_grid's padding between tiles


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(N, T, C, H, W) in [-1, 1] → uint8 (N, T, H, W, C) on the CPU."""
    return ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(
        0, 1, 3, 4, 2).cpu().numpy()


def context_flow(frames: torch.Tensor, method: str | None) -> torch.Tensor | None:
    """OpenCV flow of every consecutive pair of ``frames`` (B, I, C, H, W) in [-1, 1] → (B, I−1, 2, H, W),
    as the data loader computes it (``data/flow.py``), for contexts made of generated frames; None when the
    model reads no loader flow (``method`` None). The frames are measured as the 8-bit images they would be
    on disk; OpenCV has no batched API, so the clips are looped (a sampler, never a training step)."""
    if method is None or frames.shape[1] < 2:
        return None
    H, W = frames.shape[-2:]
    method = method if method != "dis" or max(H, W) >= DIS_MIN_SIDE else "farneback"
    flows = [torch.from_numpy(opencv_flow(np.ascontiguousarray(clip), method)) for clip in _to_uint8(frames)]
    return torch.stack(flows).to(frames.device)


@torch.no_grad()
def rollout(model: torch.nn.Module, context: torch.Tensor, flow: torch.Tensor | None, num_frames: int,
            num_predict_frames: int, mode: str = "generate", flow_method: str | None = None) -> torch.Tensor:
    """``num_frames`` future frames (B, K, C, H, W) of each context (B, I, C, H, W).

    The first chunk reads ``flow`` (the loader's, or None); every later chunk's context is the last ``I``
    frames of context + output so far, its flow measured by ``context_flow`` (``flow_method``: the loader's
    OpenCV method, None when the model estimates its own or reads none). Each call draws fresh noise in
    ``generate`` mode, so a seed set before fixes the whole rollout. Without context frames the model cannot
    be fed back: ``num_frames`` must then be at most ``num_predict_frames``.
    """
    I = context.shape[1]
    if num_frames > num_predict_frames and I == 0:
        raise ValueError(f"--num_frames {num_frames} exceeds the model's {num_predict_frames} predicted "
                         f"frames, and a model without context frames (num_input_frames 0) cannot be fed "
                         f"its own output: use --num_frames {num_predict_frames} or less")
    seen, made, pairs = context, [], flow
    while sum(x.shape[1] for x in made) < num_frames:
        out = generate(model, seen, None, pairs, mode=mode).to(context.dtype)  # (B, P, C, H, W)
        made.append(out)
        seen = torch.cat([seen, out], dim=1)[:, -I:] if I > 0 else seen
        pairs = context_flow(seen, flow_method)
    return torch.cat(made, dim=1)[:, :num_frames]


def sample_rows(model: torch.nn.Module, context: torch.Tensor, flow: torch.Tensor | None, num_samples: int,
                num_frames: int, num_predict_frames: int, flow_method: str | None) -> torch.Tensor:
    """``num_samples`` generated futures of every context: (B, I, C, H, W) → (B, N, K, C, H, W); all B·N rows
    go through each model call together (the contexts repeated N times along the batch)."""
    B, n = context.shape[0], num_samples
    rows = context.repeat_interleave(n, dim=0)
    rows_flow = None if flow is None else flow.repeat_interleave(n, dim=0)
    out = rollout(model, rows, rows_flow, num_frames, num_predict_frames, "generate", flow_method)
    return out.reshape(B, n, *out.shape[1:])


def labelled_grid(rows: torch.Tensor, labels: list[str]) -> np.ndarray:
    """``rows`` (R, T, C, H, W) in [-1, 1] as an R-row, T-column grid with ``labels[r]`` written left of row
    ``r``: an RGB uint8 image (H', LABEL_WIDTH + W', 3)."""
    grid = image_grid(rows)  # (C, H', W') in [0, 1], tiles H + PAD apart
    img = (grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    margin = np.full((img.shape[0], LABEL_WIDTH, 3), 255, np.uint8)
    step = rows.shape[-2] + PAD
    scale = max(0.3, min(0.5, rows.shape[-2] / 40))
    for r, text in enumerate(labels):
        y = PAD + r * step + rows.shape[-2] // 2 + 4
        cv2.putText(margin, text[:12], (2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.ascontiguousarray(np.concatenate([margin, img], axis=1))


def tiled_frames(panels: torch.Tensor) -> torch.Tensor:
    """(R, Q, T, C, H, W) panels → (T, C, R·H, Q·W) frames: panel (r, q) at row r, column q of every frame,
    for one clip of R contexts × Q columns (truth, then the samples)."""
    R, Q, T, C, H, W = panels.shape
    return panels.permute(2, 3, 0, 4, 1, 5).reshape(T, C, R * H, Q * W)


def write_png(img: np.ndarray, path) -> None:
    """An RGB uint8 image as PNG (OpenCV writes BGR); ``OSError`` when it could not be written."""
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(28, "OpenCV could not write the file", str(path))


def blank_like(frames: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` mid-grey frames shaped like ``frames``' (B, ·, C, H, W): where no truth exists."""
    return frames.new_zeros(frames.shape[0], count, *frames.shape[2:])

