"""`RiemannianEnhancedSGD`: SGD with momentum that keeps `ManifoldParameter`s on their Poincaré balls.

The step frame (whole-step skip on non-finite gradients, per-parameter clipping, scales, persistence) is
`wubugaad.optim.base`. The update of a parameter p with (clipped) gradient g:

- Euclidean parameters, exactly `torch.optim.SGD` (dampening 0, no Nesterov):
  ``d = g + wd·p``; ``buf ← μ·buf + d`` (buf starts at 0, so the first step gives buf = d);
  ``p ← p − lr·buf`` (``p ← p − lr·d`` when μ = 0).
- `ManifoldParameter`s with curvature c (read every step, so learnable curvatures are honoured):
  ``d = g + wd·p`` (Euclidean weight decay), Riemannian gradient ``r = d/λ_p² = ((1 − c‖p‖²)/2)²·d``,
  ``buf ← μ·buf + r``, ``p' ← project(expmap_p(−lr·buf), c)``, then ``buf ← buf · λ_p/λ_p'``: the
  buffer moves to p' keeping its Riemannian length ``λ‖buf‖`` (parallel transport up to the gyration
  rotation, which is dropped). Without the rescale a buffer heading for the boundary would gain a
  factor λ_p'/λ_p per step and run the point into the boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from wubugaad.geometry import poincare
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.optim.base import RiemannianOptimizer, masked_copy_


class RiemannianEnhancedSGD(RiemannianOptimizer):
    """Momentum SGD; Riemannian updates for `ManifoldParameter`s; whole-step skip on non-finite grads.

    Args:
        params: parameters or param-group dicts (groups may override lr, momentum, weight_decay,
            max_grad_norm, and set lr_mult).
        lr: learning rate (>= 0); also each group's ``base_lr``.
        momentum: in [0, 1); also each group's ``base_momentum``.
        weight_decay: L2 coefficient added to the gradient (>= 0).
        max_grad_norm: per-parameter gradient-norm cap; <= 0 switches clipping off.
    """

    KIND = "risgd"

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.01,
        max_grad_norm: float = 1.0,
    ):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                    "max_grad_norm": max_grad_norm}
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping) -> None:
        """ValueError naming the bad hyper-parameter and the allowed range."""
        if not group["lr"] >= 0.0:
            raise ValueError(f"RiemannianEnhancedSGD: lr must be >= 0, got {group['lr']}; pass one >= 0")
        if not 0.0 <= group["momentum"] < 1.0:
            raise ValueError(f"RiemannianEnhancedSGD: momentum must be in [0, 1), got {group['momentum']}")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(f"RiemannianEnhancedSGD: weight_decay must be >= 0, got {group['weight_decay']}")

    def _momentum(self, group: Mapping) -> float:
        return group["momentum"]

    def _set_momentum(self, group: dict, value: float) -> None:
        group["momentum"] = value

    def _update_group(self, group: dict, params: list, grads: list[torch.Tensor],
                      finite: torch.Tensor) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        euclid = [i for i, p in enumerate(params) if not isinstance(p, ManifoldParameter)]
        if euclid:
            self._euclidean_update(
                [params[i] for i in euclid], [grads[i] for i in euclid], lr, momentum, wd, finite
            )
        for i, p in enumerate(params):
            if isinstance(p, ManifoldParameter):
                self._manifold_update(p, grads[i], lr, momentum, wd, finite)

    def _buffers(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """Momentum buffers (zeros at first use, so ``μ·0 + d = d`` reproduces SGD's first step)."""
        return [self._state_tensor(p, "momentum_buffer", p) for p in params]

    def _euclidean_update(self, params, grads, lr, momentum, wd, finite) -> None:
        direction = torch._foreach_add(grads, params, alpha=wd) if wd != 0 else grads
        if momentum != 0:
            bufs = self._buffers(params)
            new_bufs = torch._foreach_mul(bufs, momentum)
            torch._foreach_add_(new_bufs, direction)
            masked_copy_(bufs, new_bufs, finite)
            direction = bufs
        masked_copy_(params, torch._foreach_add(params, direction, alpha=-lr), finite)

    def _manifold_update(self, p: ManifoldParameter, grad, lr, momentum, wd, finite) -> None:
        c = p.curvature().detach()
        direction = poincare.egrad2rgrad(p, grad.add(p, alpha=wd) if wd != 0 else grad, c)
        if momentum == 0:
            masked_copy_([p], [poincare.project(poincare.expmap(p, direction * -lr, c), c)], finite)
            return
        (buf,) = self._buffers([p])
        buf_new = buf * momentum + direction
        new_p = poincare.project(poincare.expmap(p, buf_new * -lr, c), c)
        # Carry the buffer to new_p keeping its Riemannian length λ‖buf‖ (transport up to the gyration):
        # re-used unscaled, a buffer heading for the boundary would grow by λ_new/λ_old every step.
        buf_new = buf_new * (poincare.lambda_x(p, c) / poincare.lambda_x(new_p, c))
        masked_copy_([buf, p], [buf_new, new_p], finite)
