"""The maps a WuBu level reads its ball through (`--wubu_geometry`): the Poincaré ball, or one of the two
Euclidean twins that are the matched controls of the theory study (docs/ARCHITECTURE.md, "WuBu nesting").

- `poincare`: `expmap0`, `logmap0`, `dist`, `project` of curvature `-c_i` (the model).
- `euclidean_limit`: the same level at its `c → 0` limit: `expmap0(v) = s·v`, `logmap0(y) = y/s`,
  `dist(x, y) = 2‖x − y‖`, no projection. Same code, parameters and matrix FLOPs (the maps are elementwise);
  the curvature pre-activation `ρ_c` is kept, so parameter counts match, but frozen: nothing reads it.
- `euclidean_bounded`: the limit maps with every point clipped to the fixed radius `r_i = 1/√c_init,i`
  (the initial ball's radius): bounded like the ball but flat, to separate "curved" from "bounded".

In both twins the boundary points and descriptors stay `ManifoldParameter`s whose curvature reads 0, so the
Riemannian optimizer is the same one at its own `c = 0` limit (`expmap_x(v) = x + v`, `λ_x = 2`).
The map is chosen once, by name, when the level is built: no branching on tensor values.
"""

from __future__ import annotations

import math

import torch

from wubugaad.geometry import poincare

GEOMETRIES = ("poincare", "euclidean_limit", "euclidean_bounded")


class PoincareMaps:
    """The ball of curvature `-c` (`c` is the level's learnable curvature)."""

    uses_curvature = True  # whether the level's curvature reaches the output (else it is frozen)

    def curvature(self, c: torch.Tensor) -> torch.Tensor:
        """The curvature the maps (and the optimizer's ball updates) use."""
        return c

    def expmap0(self, v: torch.Tensor, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return poincare.expmap0(v, c, s)

    def logmap0(self, y: torch.Tensor, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return poincare.logmap0(y, c, s)

    def dist(self, x: torch.Tensor, y: torch.Tensor, c: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
        return poincare.dist(x, y, c, keepdim=keepdim)

    def project(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return poincare.project(x, c)


class FlatLimitMaps(PoincareMaps):
    """The `c → 0` limit: `c` is ignored (`poincare.flat_*`)."""

    uses_curvature = False

    def curvature(self, c: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(c)

    def expmap0(self, v, c, s):
        return poincare.flat_expmap0(v, s)

    def logmap0(self, y, c, s):
        return poincare.flat_logmap0(y, s)

    def dist(self, x, y, c, keepdim=False):
        return poincare.flat_dist(x, y, keepdim=keepdim)

    def project(self, x, c):
        return x


class BoundedFlatMaps(FlatLimitMaps):
    """The `c → 0` limit with points clipped to a fixed radius (`poincare.clip_norm`)."""

    def __init__(self, radius: float):
        self.radius = radius

    def expmap0(self, v, c, s):
        return poincare.clip_norm(poincare.flat_expmap0(v, s), self.radius)

    def project(self, x, c):
        return poincare.clip_norm(x, self.radius)


def level_maps(geometry: str, initial_curvature: float) -> PoincareMaps:
    """The maps of a level named by `--wubu_geometry` (`initial_curvature` sets the bounded twin's radius)."""
    if geometry == "poincare":
        return PoincareMaps()
    if geometry == "euclidean_limit":
        return FlatLimitMaps()
    if geometry == "euclidean_bounded":
        return BoundedFlatMaps(1.0 / math.sqrt(initial_curvature))
    raise ValueError(f"--wubu_geometry {geometry!r} unknown; choose from {GEOMETRIES}")
