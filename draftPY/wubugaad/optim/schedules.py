"""Learning-rate schedules: the factor multiplying every group's base learning rate, a pure function of the
optimizer step (so a resumed run continues the schedule exactly).

With ``W`` warm-up steps and a horizon of ``T`` optimizer steps, for the step with index ``k`` (0-based):

- ``constant``: ``(k + 1)/W`` while ``k < W``, then 1.
- ``cosine``: the same warm-up, then ``½(1 + cos(π·u))`` with ``u = (k − W)/(T − W)`` clamped to [0, 1]
  (1 right after the warm-up, 0 at the horizon).
- ``onecycle`` (the defaults of PyTorch's ``OneCycleLR``, cosine annealing): from 1/25 rising linearly
  to 1 over the first ``W`` steps (``0.3·T`` when ``W = 0``), then cosine down to ``1/(25·10⁴)`` at the
  horizon.

Steps past the horizon keep the horizon's factor. The Q-controller's learning-rate scale multiplies the
factor (the trainer composes them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "cosine", "onecycle")
ONECYCLE_START = 1 / 25
ONECYCLE_END = ONECYCLE_START / 1e4
ONECYCLE_RISE_FRACTION = 0.3


def warmup(step: int, warmup_steps: int) -> float:
    """``(step + 1)/W`` during the warm-up, 1 after it (and without one)."""
    return (step + 1) / warmup_steps if step < warmup_steps else 1.0


def cosine_between(start: float, end: float, progress: float) -> float:
    """Half a cosine from ``start`` (progress 0) to ``end`` (progress ≥ 1)."""
    progress = min(max(progress, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_factor(kind: str, step: int, total_steps: int, warmup_steps: int = 0) -> float:
    """The schedule's factor for optimizer step ``step`` (0-based) of ``total_steps`` (module docstring)."""
    if kind == "constant":
        return warmup(step, warmup_steps)
    if kind == "cosine":
        if step < warmup_steps:
            return warmup(step, warmup_steps)
        return cosine_between(1.0, 0.0, (step - warmup_steps) / max(total_steps - warmup_steps, 1))
    if kind == "onecycle":
        rise = warmup_steps if warmup_steps > 0 else max(round(ONECYCLE_RISE_FRACTION * total_steps), 1)
        if step < rise:
            return ONECYCLE_START + (1.0 - ONECYCLE_START) * step / rise
        return cosine_between(1.0, ONECYCLE_END, (step - rise) / max(total_steps - rise, 1))
    raise ValueError(f"lr_factor: unknown schedule '{kind}' (choose one of {', '.join(SCHEDULES)})")


@dataclass(frozen=True)
class Schedule:
    """`lr_factor` with its settings bound: ``schedule(step)`` is the factor of that optimizer step."""

    kind: str = "constant"
    total_steps: int = 1
    warmup_steps: int = 0

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise ValueError(f"Schedule: unknown kind '{self.kind}' (choose one of {', '.join(SCHEDULES)})")
        if self.total_steps < 1 or self.warmup_steps < 0:
            raise ValueError(f"Schedule: total_steps must be >= 1 and warmup_steps >= 0, got "
                             f"{self.total_steps} and {self.warmup_steps}")

    def __call__(self, step: int) -> float:
        return lr_factor(self.kind, step, self.total_steps, self.warmup_steps)
