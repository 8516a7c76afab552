"""An exponential moving average of the model's weights, the one validation, samples and the best
checkpoint read (``--ema_decay``); training itself always steps the raw weights.

After optimizer step t (t = 1, 2, …)::

    θ̄ ← θ̄ + (1 − d_t) · (θ − θ̄),    d_t = min(d, t / (t + 9))

θ̄ starts as θ (at the start of the run, or when resuming without one). The warm-up d_t (as in
TensorFlow's ExponentialMovingAverage with ``num_updates``) keeps the average close to the recent
weights while they still move fast: with the plain d = 0.99 the average at step 100 would still be 37 %
the untrained model.

Why: on held-out demo video the raw weights' prediction score moved by up to 0.15 dB from one validation
to the next (Adam at 2e-3), while that of the average over the last ~1/(1 − d) steps (d = 0.99) stayed
within 0.04 dB (bench/RESULTS.md): the best checkpoint and the final figure then measure the model, not
where the last step happened to land. Points of a Poincaré ball stay inside under this
averaging (the ball is convex in its coordinates).

``torch.optim.swa_utils.AveragedModel`` computes a plain average of this kind but reads its step counter
on the host at every update (a device sync per step on CUDA); here the step is the trainer's Python int,
and frozen parameters (a frozen flow network) are copied once, not averaged every step.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["WeightAverage", "decay_at"]


def decay_at(decay: float, step: int) -> float:
    """``d_t = min(d, t / (t + 9))`` for optimizer step ``t`` ≥ 1 (module docstring)."""
    return min(decay, step / (step + 9))


class WeightAverage:
    """``module``: a frozen copy holding the averaged weights (for evaluation); ``update`` after each step."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"WeightAverage: decay must be in [0, 1) (got {decay})")
        self.decay = float(decay)
        self.module = copy.deepcopy(model).requires_grad_(False)

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        """Start the average again from ``model``'s current weights."""
        torch._foreach_copy_(*self._pairs(model, trainable_only=False))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """The average after optimizer step ``step`` (≥ 1) of ``model`` (same architecture, same device)."""
        torch._foreach_lerp_(*self._pairs(model, trainable_only=True), 1.0 - decay_at(self.decay, step))

    def _pairs(self, model: nn.Module, trainable_only: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(averaged, current) parameter tensors, in the same order; frozen ones left out when asked."""
        pairs = [(mine.detach(), theirs.detach())
                 for mine, theirs in zip(self.module.parameters(), model.parameters(), strict=True)
                 if theirs.requires_grad or not trainable_only]
        return [a for a, _ in pairs], [b for _, b in pairs]
