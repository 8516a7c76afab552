"""`ManifoldParameter`: a parameter that lives on a Poincaré ball.

The optimizer recognises these by type and applies a Riemannian update (see `wubugaad.optim.risgd`).
The curvature is looked up at every step, so a level whose curvature is learnable hands in a
zero-argument callable (a bound method, so that `copy.deepcopy` rebinds it to the copied module).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

CurvatureSource = float | torch.Tensor | Callable[[], torch.Tensor]


class ManifoldParameter(nn.Parameter):
    """An `nn.Parameter` whose points lie in the ball `{x : c‖x‖² < 1}` along the last dim."""

    def __new__(cls, data: torch.Tensor | None = None, c: CurvatureSource = 1.0, requires_grad: bool = True):
        return super().__new__(cls, data, requires_grad)

    def __init__(
        self, data: torch.Tensor | None = None, c: CurvatureSource = 1.0, requires_grad: bool = True
    ):
        if callable(c):
            self._curvature_source = c
        else:
            # a float64 curvature tensor stays float64 (rounding it would move a float64 ball's boundary)
            floating = isinstance(c, torch.Tensor) and c.is_floating_point()
            curvature = torch.as_tensor(c, dtype=None if floating else torch.get_default_dtype()).detach()
            if not bool((curvature > 0).all()):
                raise ValueError(f"ManifoldParameter: curvature c must be positive, got {c}")
            self._curvature_source = curvature

    def curvature(self) -> torch.Tensor:
        """The current curvature `c > 0` as a tensor on this parameter's device and dtype."""
        source = self._curvature_source
        c = source() if callable(source) else source
        return c.to(device=self.device, dtype=self.dtype)

    def __deepcopy__(self, memo):
        import copy

        result = ManifoldParameter(
            self.data.clone(memory_format=torch.preserve_format),
            copy.deepcopy(self._curvature_source, memo),
            self.requires_grad,
        )
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        return (ManifoldParameter, (self.data, self._curvature_source, self.requires_grad))

    def __repr__(self) -> str:
        return f"ManifoldParameter on a Poincaré ball containing:\n{super().__repr__()}"
