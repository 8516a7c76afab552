"""`RiemannianEnhancedSGD`: SGD with momentum that keeps `ManifoldParameter`s on their Poincaré balls.

One step, for every parameter p with gradient g (docs/ARCHITECTURE.md, "Losses and optimisation"):

1. Finiteness, decided on the device without a host sync: ``all_finite = isfinite(stack(‖g_i‖)).all()``
   over every gradient of every group (norms in float64 so that large finite float32 gradients do not
   overflow). When it is false the whole step is skipped: parameters and momentum buffers keep their
   values (every write is ``torch.where(all_finite, new, old)``) and ``skipped_steps`` counts it. For the
   arithmetic the gradients are replaced by ``where(all_finite, g, 0)``; the result is discarded anyway.
2. Per-parameter clipping (``max_grad_norm_risgd > 0``): ``g ← g · min(1, max / (‖g‖ + 1e-6))``.
3. Euclidean parameters, exactly `torch.optim.SGD` (dampening 0, no Nesterov):
   ``d = g + wd·p``; ``buf ← μ·buf + d`` (buf starts at 0, so the first step gives buf = d);
   ``p ← p − lr·buf`` (``p ← p − lr·d`` when μ = 0).
4. `ManifoldParameter`s with curvature c (read every step, so learnable curvatures are honoured):
   ``d = g + wd·p`` (Euclidean weight decay), Riemannian gradient ``r = d/λ_p² = ((1 − c‖p‖²)/2)²·d``,
   ``buf ← μ·buf + r``, ``p' ← project(expmap_p(−lr·buf), c)``, then ``buf ← buf · λ_p/λ_p'``: the
   buffer moves to p' keeping its Riemannian length ``λ‖buf‖`` (parallel transport up to the gyration
   rotation, which is dropped). Without the rescale a buffer heading for the boundary would gain a
   factor λ_p'/λ_p per step and run the point into the boundary.

Each group also keeps ``base_lr``/``base_momentum``: the HAKMEM Q-controller (`wubugaad.optim.qcontrol`), when
``q_learning_config`` is given, scales them once per macro-batch through `update_q_controller`:
``lr = base_lr · lr_scale``, ``momentum = min(base_momentum · momentum_scale, 0.999)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from wubugaad.geometry import poincare
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.optim.qcontrol import HAKMEMQController

CLIP_EPS = 1e-6
MAX_MOMENTUM = 0.999


def _check_hyper(lr: float, momentum: float, weight_decay: float) -> None:
    """ValueError naming the bad hyper-parameter and the allowed range."""
    if not lr >= 0.0:
        raise ValueError(f"RiemannianEnhancedSGD: lr must be >= 0, got {lr}; pass a non-negative lr")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"RiemannianEnhancedSGD: momentum must be in [0, 1), got {momentum}")
    if not weight_decay >= 0.0:
        raise ValueError(f"RiemannianEnhancedSGD: weight_decay must be >= 0, got {weight_decay}")


def _masked_copy_(targets: list[torch.Tensor], values: list[torch.Tensor], keep_new: torch.Tensor) -> None:
    """``t ← where(keep_new, v, t)`` for each pair: a skipped step leaves every target bit-identical."""
    for target, value in zip(targets, values, strict=True):
        target.copy_(torch.where(keep_new, value, target))


class RiemannianEnhancedSGD(torch.optim.Optimizer):
    """Momentum SGD; Riemannian updates for `ManifoldParameter`s; whole-step skip on non-finite grads.

    Args:
        params: parameters or param-group dicts (groups may override lr, momentum, weight_decay,
            max_grad_norm).
        lr: learning rate (>= 0); also each group's ``base_lr``.
        momentum: in [0, 1); also each group's ``base_momentum``.
        weight_decay: L2 coefficient added to the gradient (>= 0).
        max_grad_norm_risgd: per-parameter gradient-norm cap; <= 0 switches clipping off.
        q_learning_config: keyword arguments of `HAKMEMQController` (e.g. ``{"role": "disc", "seed": 1}``);
            None for no controller.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.01,
        max_grad_norm_risgd: float = 1.0,
        q_learning_config: Mapping | None = None,
    ):
        _check_hyper(lr, momentum, weight_decay)
        defaults = {
            "lr": lr, "momentum": momentum, "weight_decay": weight_decay, "max_grad_norm": max_grad_norm_risgd
        }
        super().__init__(params, defaults)
        self.q_controller = HAKMEMQController(**q_learning_config) if q_learning_config is not None else None
        device = self.param_groups[0]["params"][0].device
        self.skipped_steps = torch.zeros((), dtype=torch.int64, device=device)
        self.last_step_was_finite = torch.ones((), dtype=torch.bool, device=device)

    def add_param_group(self, param_group: dict) -> None:
        merged = {**self.defaults, **param_group}
        _check_hyper(merged["lr"], merged["momentum"], merged["weight_decay"])
        param_group.setdefault("base_lr", merged["lr"])
        param_group.setdefault("base_momentum", merged["momentum"])
        super().add_param_group(param_group)

    # ----- stepping ----------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        """One (possibly skipped) update of every parameter that has a gradient; returns closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = [(g, [p for p in g["params"] if p.grad is not None]) for g in self.param_groups]
        grads = [p.grad for _, params in groups for p in params]
        if not grads:
            return loss
        if any(g.is_sparse for g in grads):
            raise RuntimeError("RiemannianEnhancedSGD: sparse gradients are not supported; use dense ones")
        device = grads[0].device
        # (P,) float64 norms: overflow-free for float32/bf16 gradients, NaN/inf iff some entry is.
        norms = torch.stack([n.to(device) for n in torch._foreach_norm(grads, 2, dtype=torch.float64)])
        all_finite = torch.isfinite(norms).all()
        norms = torch.where(all_finite, norms, 0.0)
        offset = 0
        for group, params in groups:
            if params:
                count = len(params)
                safe = [torch.where(all_finite.to(p.device), p.grad, 0) for p in params]
                self._update_group(group, params, safe, norms[offset : offset + count], all_finite)
                offset += count
        if self.skipped_steps.device != device:
            self.skipped_steps = self.skipped_steps.to(device)
        self.skipped_steps.add_((~all_finite).to(torch.int64))
        self.last_step_was_finite = all_finite
        return loss

    def _update_group(
        self, group: dict, params: list, grads: list[torch.Tensor], norms: torch.Tensor, finite: torch.Tensor
    ) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        max_norm = group["max_grad_norm"]
        if max_norm > 0:
            coefs = (max_norm / (norms + CLIP_EPS)).clamp(max=1.0)
            coefs = [coef.to(g.dtype) for coef, g in zip(coefs, grads, strict=True)]
            grads = torch._foreach_mul(grads, coefs)
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
        bufs = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            bufs.append(state["momentum_buffer"])
        return bufs

    def _euclidean_update(self, params, grads, lr, momentum, wd, finite) -> None:
        direction = torch._foreach_add(grads, params, alpha=wd) if wd != 0 else grads
        if momentum != 0:
            bufs = self._buffers(params)
            new_bufs = torch._foreach_mul(bufs, momentum)
            torch._foreach_add_(new_bufs, direction)
            _masked_copy_(bufs, new_bufs, finite)
            direction = bufs
        _masked_copy_(params, torch._foreach_add(params, direction, alpha=-lr), finite)

    def _manifold_update(self, p: ManifoldParameter, grad, lr, momentum, wd, finite) -> None:
        c = p.curvature().detach()
        direction = poincare.egrad2rgrad(p, grad.add(p, alpha=wd) if wd != 0 else grad, c)
        if momentum == 0:
            _masked_copy_([p], [poincare.project(poincare.expmap(p, direction * -lr, c), c)], finite)
            return
        (buf,) = self._buffers([p])
        buf_new = buf * momentum + direction
        new_p = poincare.project(poincare.expmap(p, buf_new * -lr, c), c)
        # Carry the buffer to new_p keeping its Riemannian length λ‖buf‖ (transport up to the gyration):
        # re-used unscaled, a buffer heading for the boundary would grow by λ_new/λ_old every step.
        buf_new = buf_new * (poincare.lambda_x(p, c) / poincare.lambda_x(new_p, c))
        _masked_copy_([buf, p], [buf_new, new_p], finite)

    # ----- schedule and Q-controller -----------------------------------------------------------------
    def _lr_scale(self) -> float:
        return self.q_controller.current_lr_scale if self.q_controller is not None else 1.0

    def _momentum_scale(self) -> float:
        return self.q_controller.current_momentum_scale if self.q_controller is not None else 1.0

    def set_base_lr(self, lr: float) -> None:
        """Set every group's ``base_lr`` (e.g. on a phase resume); lr = base_lr × current Q scale."""
        _check_hyper(lr, 0.0, 0.0)
        for group in self.param_groups:
            group["base_lr"] = lr
            group["lr"] = lr * self._lr_scale()

    def set_base_momentum(self, momentum: float) -> None:
        """Set every group's ``base_momentum``; momentum = min(base × current Q scale, 0.999)."""
        _check_hyper(0.0, momentum, 0.0)
        for group in self.param_groups:
            group["base_momentum"] = momentum
            group["momentum"] = min(momentum * self._momentum_scale(), MAX_MOMENTUM)

    def update_q_controller(self, losses: Mapping[str, float]) -> dict[str, float] | None:
        """Feed one macro-batch of averaged losses (host floats) to the controller and apply its scales.

        Returns ``{"lr_scale", "momentum_scale"}`` as applied, or None when there is no controller.
        """
        if self.q_controller is None:
            return None
        lr_scale, momentum_scale = self.q_controller.observe(losses)
        for group in self.param_groups:
            group["lr"] = group["base_lr"] * lr_scale
            group["momentum"] = min(group["base_momentum"] * momentum_scale, MAX_MOMENTUM)
        return {"lr_scale": lr_scale, "momentum_scale": momentum_scale}

    # ----- persistence -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """torch's state plus ``skipped_steps`` (tensor) and ``q_controller`` (plain data or None)."""
        state = super().state_dict()
        state["skipped_steps"] = self.skipped_steps.detach().clone()
        state["q_controller"] = self.q_controller.state_dict() if self.q_controller is not None else None
        return state

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Inverse of `state_dict`. A saved controller state is ignored when this optimizer has none
        (the Q-controller was switched off for the resumed run)."""
        state_dict = dict(state_dict)
        skipped = state_dict.pop("skipped_steps", None)
        q_state = state_dict.pop("q_controller", None)
        super().load_state_dict(state_dict)
        if skipped is not None:
            self.skipped_steps = torch.as_tensor(skipped).to(self.skipped_steps.device, torch.int64).clone()
        if q_state is not None and self.q_controller is not None:
            self.q_controller.load_state_dict(q_state)
