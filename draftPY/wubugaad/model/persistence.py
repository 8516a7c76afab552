"""How much of each pixel's last change persists: the input of the extrapolation channel
(`--gen_change_persistence`).

The extrapolation channel continues each pixel's last change in place (fades, shading, drifting gratings:
change that is not motion). On real camera footage much of a frame difference is sensor noise and flicker,
which do not persist from one frame to the next; continued, they add noise to the prediction. A classical
local estimate of the part that persists, from the last three context frames:

    d₁ = x_{t−1} − x_{t−2},   d₀ = x_{t−2} − x_{t−3}
    κ  = clamp( avg₃ₓ₃(Σ_c d₁·d₀) / (avg₃ₓ₃(Σ_c d₀²) + ε), 0, 1 )
    change = κ · d₁

κ is the local least-squares coefficient of the last change on the one before it: 1 for a steady fade
(d₁ = d₀, up to ε), about 0 for noise (d₁ and d₀ uncorrelated) and for a change that has just begun (d₀ = 0),
0 for a change that reversed. Computed, not learned: it carries to footage unlike the training clips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["EPS", "last_change"]

EPS = 1e-4  # squared change (on [-1, 1]) below which a pixel's previous change counts as none


def last_change(frames: torch.Tensor, persistence: bool) -> torch.Tensor:
    """The change the extrapolation channel continues, `(B, C, H, W)`, from the context `(B, I, C, H, W)`:
    `x_{t−1} − x_{t−2}`, times κ (module docstring) when `persistence` is on and there are three frames."""
    now = frames[:, -1] - frames[:, -2]
    if not persistence or frames.shape[1] < 3:
        return now
    before = frames[:, -2] - frames[:, -3]
    agree, energy = (F.avg_pool2d(x.sum(1, keepdim=True), 3, stride=1, padding=1, count_include_pad=False)
                     for x in (now * before, before.square()))
    return now * (agree / (energy + EPS)).clamp(0.0, 1.0)
