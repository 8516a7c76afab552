"""Backward warping of frames by dense flow in pixels, with `grid_sample`.

`warp(frames, flow)` samples `frames` at `p + flow(p)` for every pixel centre `p` (bilinear, border
padding): `out[y, x] = frames(y + flow_y[y, x], x + flow_x[y, x])`. Channel 0 of the flow is x (right),
channel 1 is y (down), in pixels of the frame.

`grid_sample`'s normalisation of pixel coordinates to [-1, 1] and back is not exact in float arithmetic
(it is for power-of-two sides only), so resampling at zero flow moves values by up to ~1e-6. `warp`
therefore returns `frames + (sample(p + flow) − sample(p))`: the same identity resampling is subtracted,
so zero flow gives `frames` bit-exactly, and the gradient with respect to the flow is the one of
`grid_sample`.

Non-finite flow never reaches `grid_sample`: its backward crashes the process (a segmentation fault) on
NaN coordinates. Such pixels are sampled at zero offset instead and the non-finite value is added to
their output (detached), so the output, the loss and the step's gradients stay non-finite there: the
optimizer skips and counts the step, and `--max_consecutive_nonfinite` ends the run with its exit code, as
for any other non-finite step.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=32)
def _pixel_centres(H: int, W: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`(1, H, W, 2)`: normalised `grid_sample` coordinates (x, y) of pixel centres (align_corners off)."""
    ys = (2.0 * torch.arange(H, device=device, dtype=dtype) + 1.0) / H - 1.0
    xs = (2.0 * torch.arange(W, device=device, dtype=dtype) + 1.0) / W - 1.0
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).unsqueeze(0)


def _sample(frames: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)


def warp(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """`frames` `(M, C, H, W)`, `flow` `(M, 2, H, W)` in pixels → `(M, C, H, W)` (module docstring)."""
    if frames.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2 or flow.shape[0] != frames.shape[0] \
            or flow.shape[2:] != frames.shape[2:]:
        raise ValueError(f"warp needs frames (M, C, H, W) and flow (M, 2, H, W) of the same M, H, W "
                         f"(got frames {tuple(frames.shape)}, flow {tuple(flow.shape)})")
    M, _, H, W = frames.shape
    base = _pixel_centres(H, W, frames.device, frames.dtype)
    scale = torch.tensor([2.0 / W, 2.0 / H], device=frames.device, dtype=frames.dtype)
    # (M, 2, H, W) pixels → (M, H, W, 2) normalised offsets
    offset = flow.to(frames.dtype).permute(0, 2, 3, 1) * scale
    safe = torch.where(torch.isfinite(offset), offset, torch.zeros_like(offset))
    # exactly 0 where the flow is finite, the non-finite value elsewhere. Detached: a second gradient path
    # would add and subtract the same term into the flow's gradient, which is not exact in floating point
    # (the demo's figures moved by 0.02 dB); the non-finite output already makes the loss and every
    # gradient behind it non-finite
    nonfinite = (offset - safe).detach().sum(dim=-1).unsqueeze(1)
    identity = _sample(frames, base.expand(M, H, W, 2))
    return frames + (_sample(frames, base + safe) - identity) + nonfinite
