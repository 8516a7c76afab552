"""`RiemannianAdam`: `torch.optim.AdamW` for Euclidean parameters, Riemannian Adam on Poincaré balls.

The step frame (whole-step skip on non-finite gradients, per-parameter clipping, scales, persistence) is
`wubugaad.optim.base`. Per parameter p with (clipped) gradient g, step count t (after this step),
moments m, v (zero at first use) and bias corrections ``b₁ = 1 − β₁ᵗ``, ``b₂ = 1 − β₂ᵗ``:

- Euclidean parameters, exactly AdamW (decoupled weight decay, amsgrad off):
  ``p ← p·(1 − lr·wd)``; ``m ← β₁m + (1 − β₁)g``; ``v ← β₂v + (1 − β₂)g²``;
  ``p ← p − (lr/b₁)·m / (√v/√b₂ + eps)``.
- `ManifoldParameter`s with curvature c (read every step): the decay is the same shrink toward the
  origin, ``x = p·(1 − lr·wd)`` (it keeps the point inside the ball); then, in the tangent space at x,
  ``r = g/λ_x²`` (Riemannian gradient), ``m ← β₁m + (1 − β₁)r``, and the second moment is one number per
  point, the squared Riemannian norm: ``v ← β₂v + (1 − β₂)·λ_x²‖r‖²``. The update is the exponential map
  ``p' = project(expmap_x(−lr·(m/b₁)/(√(v/b₂) + eps)), c)`` and the first moment is parallel-transported
  to the new point, ``m ← P_{x→p'} m`` (so it stays a tangent vector at the point it is used at). With
  ``wd = 0`` this is geoopt's RiemannianAdam on an exact Poincaré ball, step for step.

The step count is a tensor on the parameter's device that only advances on a finite step, so bias
corrections need no host sync and a skipped step leaves it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from wubugaad.geometry import poincare
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.optim.base import RiemannianOptimizer, masked_copy_


class RiemannianAdam(RiemannianOptimizer):
    """AdamW, Riemannian on `ManifoldParameter`s; whole-step skip on non-finite gradients.

    Args:
        params: parameters or param-group dicts (groups may override lr, betas, eps, weight_decay,
            max_grad_norm, and set lr_mult).
        lr: learning rate (>= 0); also each group's ``base_lr``.
        betas: (β₁, β₂), each in [0, 1); β₁ is the ``base_momentum`` the Q-controller scales.
        eps: added to the denominator (> 0).
        weight_decay: decoupled decay coefficient (>= 0).
        max_grad_norm: per-parameter gradient-norm cap; <= 0 switches clipping off.
    """

    KIND = "riemannian_adam"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        max_grad_norm: float = 1.0,
    ):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "max_grad_norm": max_grad_norm}
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping) -> None:
        """ValueError naming the bad hyper-parameter and the allowed range."""
        beta1, beta2 = group["betas"]
        if not group["lr"] >= 0.0:
            raise ValueError(f"RiemannianAdam: lr must be >= 0, got {group['lr']}")
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"RiemannianAdam: betas must both be in [0, 1), got {group['betas']}")
        if not group["eps"] > 0.0:
            raise ValueError(f"RiemannianAdam: eps must be > 0, got {group['eps']}")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(f"RiemannianAdam: weight_decay must be >= 0, got {group['weight_decay']}")

    def _momentum(self, group: Mapping) -> float:
        return group["betas"][0]

    def _set_momentum(self, group: dict, value: float) -> None:
        group["betas"] = (value, group["betas"][1])

    def _steps(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-parameter step counts (0-dim float32 on the parameter's device, 0 at first use)."""
        return [self._state_tensor(p, "step", p.new_zeros((), dtype=torch.float32)) for p in params]

    def _update_group(self, group: dict, params: list, grads: list[torch.Tensor],
                      finite: torch.Tensor) -> None:
        steps = self._steps(params)
        # bias corrections of the step being taken, in float64 whatever the parameter dtype
        t = torch.stack([s.to(finite.device) for s in steps]).double() + 1
        beta1, beta2 = group["betas"]
        corr1, corr2 = 1 - beta1**t, 1 - beta2**t
        euclid = [i for i, p in enumerate(params) if not isinstance(p, ManifoldParameter)]
        if euclid:
            self._euclidean_update([params[i] for i in euclid], [grads[i] for i in euclid],
                                   corr1[euclid], corr2[euclid], group, finite)
        for i, p in enumerate(params):
            if isinstance(p, ManifoldParameter):
                self._manifold_update(p, grads[i], corr1[i].to(p.dtype), corr2[i].to(p.dtype), group, finite)
        torch._foreach_add_(steps, finite.to(torch.float32))

    def _euclidean_update(self, params, grads, corr1, corr2, group, finite) -> None:
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        exp_avg = [self._state_tensor(p, "exp_avg", p) for p in params]
        exp_avg_sq = [self._state_tensor(p, "exp_avg_sq", p) for p in params]
        new_avg = torch._foreach_mul(exp_avg, beta1)
        torch._foreach_add_(new_avg, grads, alpha=1 - beta1)
        new_sq = torch._foreach_mul(exp_avg_sq, beta2)
        torch._foreach_addcmul_(new_sq, grads, grads, value=1 - beta2)
        denom = torch._foreach_sqrt(new_sq)
        torch._foreach_div_(denom, [c.sqrt().to(p.dtype) for c, p in zip(corr2, params, strict=True)])
        torch._foreach_add_(denom, eps)
        update = torch._foreach_div(new_avg, denom)
        torch._foreach_mul_(update, [(lr / c).to(p.dtype) for c, p in zip(corr1, params, strict=True)])
        new_params = torch._foreach_mul(params, 1 - lr * wd) if wd != 0 else list(params)
        new_params = torch._foreach_sub(new_params, update)
        masked_copy_(exp_avg + exp_avg_sq + list(params), new_avg + new_sq + new_params, finite)

    def _manifold_update(self, p: ManifoldParameter, grad, corr1, corr2, group, finite) -> None:
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        c = p.curvature().detach()
        exp_avg = self._state_tensor(p, "exp_avg", p)
        exp_avg_sq = self._state_tensor(p, "exp_avg_sq", p[..., :1])  # one value per point
        x = p * (1 - lr * wd) if wd != 0 else p
        rgrad = poincare.egrad2rgrad(x, grad, c)
        new_avg = exp_avg * beta1 + rgrad * (1 - beta1)
        sq_norm = poincare.lambda_x(x, c).pow(2) * rgrad.pow(2).sum(dim=-1, keepdim=True)
        new_sq = exp_avg_sq * beta2 + sq_norm * (1 - beta2)
        direction = (new_avg / corr1) / ((new_sq / corr2).sqrt() + eps)
        new_p = poincare.project(poincare.expmap(x, direction * -lr, c), c)
        new_avg = poincare.transport(x, new_p, new_avg, c)
        masked_copy_([exp_avg, exp_avg_sq, p], [new_avg, new_sq, new_p], finite)
