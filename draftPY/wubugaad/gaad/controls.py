"""Control box layouts for GAAD (`--gaad_box_layout`): the matched controls of the theory study.

The golden-ratio boxes (`boxes.py`) are compared with boxes of the same count `N` and the same coverage,
where coverage is the summed box area over the frame's, `κ = Σ_n w_n h_n / (W·H)` (the mean number of
boxes over a pixel: how much of the frame the regions read, overlaps counted). Every control box has the
same area `a·W·H` with `a = κ/N` (`a ≤ 1` because no golden box exceeds the frame), so the controls differ
from golden only in where the boxes are and how their sizes are spread:

- `grid`: a uniform grid. `rows = clamp(round(√(N·H/W)), 1, N)` rows (cells near the frame's aspect), the
  `N` boxes dealt to them as evenly as possible (`⌈N/rows⌉` or `⌊N/rows⌋` per row), centred on the cell
  centres of their row, each `√a·W × √a·H` (the frame's aspect), shifted inside the frame.
- `random`: `N` boxes re-drawn for every clip: log-aspect `ρ ~ U[ln √a, −ln √a]`, sides
  `√a·e^ρ·W × √a·e^{−ρ}·H` (area `a·W·H`, never larger than the frame), top-left corner uniform over the
  positions that keep the box inside. One batched draw, no loop over clips or boxes; deterministic given
  the generator's state (training draws from the global generator, whose state checkpoints save).

Shifting a box inside the frame keeps its size, so a control's coverage equals golden's exactly.
"""

from __future__ import annotations

import functools
import math

import torch

from wubugaad.gaad.boxes import cached_boxes

BOX_LAYOUTS = ("golden", "grid", "random")


def coverage(boxes: torch.Tensor, W: float, H: float) -> torch.Tensor:
    """Summed box area over the frame's: boxes `(…, N, 4)` pixel `[x1, y1, x2, y2]` → `(…)`."""
    sides = boxes[..., 2:] - boxes[..., :2]
    return sides.prod(dim=-1).sum(dim=-1) / (W * H)


def golden_area_fraction(W: float, H: float, N: int, kind: str, min_size: float) -> float:
    """`a = κ/N` of the static golden set `kind`: the area fraction of every control box."""
    return float(coverage(cached_boxes(W, H, N, kind, min_size).double(), W, H)) / N


def _grid_list(W: float, H: float, N: int, area_fraction: float) -> list[tuple[float, float, float, float]]:
    rows = min(max(round(math.sqrt(N * H / W)), 1), N)
    per_row = [N // rows + (r < N % rows) for r in range(rows)]
    side = math.sqrt(area_fraction)
    w, h = side * W, side * H
    boxes = []
    for r, count in enumerate(per_row):
        cy = (r + 0.5) * H / rows
        for j in range(count):
            cx = (j + 0.5) * W / count
            x1 = min(max(cx - w / 2, 0.0), W - w)
            y1 = min(max(cy - h / 2, 0.0), H - h)
            boxes.append((x1, y1, x1 + w, y1 + h))
    return boxes


@functools.lru_cache(maxsize=64)
def _grid_cached(W: float, H: float, N: int, kind: str, min_size: float,
                 device: torch.device) -> torch.Tensor:
    a = golden_area_fraction(W, H, N, kind, min_size)
    return torch.tensor(_grid_list(W, H, N, a), dtype=torch.float32, device=device)


def grid_boxes(W, H, N: int, kind: str, min_size, device=None) -> torch.Tensor:
    """The uniform grid matched to the golden set `kind` (count and coverage), `(N, 4)` float32, cached
    (treat as read-only)."""
    cached_boxes(W, H, N, kind, min_size)  # validates the key
    return _grid_cached(float(W), float(H), N, kind, float(min_size),
                        torch.device(device if device is not None else "cpu"))


def random_boxes(batch: int, W: float, H: float, N: int, area_fraction: float, device=None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """`(batch, N, 4)` random boxes of area `area_fraction·W·H` each (module docstring), float32."""
    if not 0 < area_fraction <= 1:
        raise ValueError(f"area_fraction must be in (0, 1] (got {area_fraction}): a box cannot exceed the "
                         "frame")
    u = torch.rand(3, batch, N, device=device, generator=generator)
    half_range = -0.5 * math.log(area_fraction)  # −ln √a ≥ 0
    rho = (2 * u[0] - 1) * half_range
    side = math.sqrt(area_fraction)
    w = side * rho.exp() * W
    h = side * (-rho).exp() * H
    x1 = u[1] * (W - w).clamp_min(0.0)
    y1 = u[2] * (H - h).clamp_min(0.0)
    return torch.stack([x1, y1, x1 + w, y1 + h], dim=-1)
