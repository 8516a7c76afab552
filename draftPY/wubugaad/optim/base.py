"""What the project's optimizers share: the guarded step, per-parameter clipping, scales, persistence.

Every optimizer here (`RiemannianEnhancedSGD`, `RiemannianAdam`) steps in the same frame:

1. Finiteness, decided on the device without a host sync: ``all_finite = isfinite(stack(‖g_i‖)).all()``
   over every gradient of every group (norms in float64 so that large finite float32 gradients do not
   overflow). When it is false the whole step is skipped: parameters and optimizer state keep their
   values (every write is ``torch.where(all_finite, new, old)``, see `masked_copy_`) and
   ``skipped_steps`` counts it. For the arithmetic the gradients are replaced by
   ``where(all_finite, g, 0)``; the result is discarded anyway.
2. Per-parameter clipping (group ``max_grad_norm > 0``): ``g ← g · min(1, max / (‖g‖ + 1e-6))``.
3. The subclass's update of each group (`_update_group`), Euclidean and `ManifoldParameter`s alike.

Scales: each group keeps ``base_lr``, ``lr_mult`` and ``base_momentum``; `set_scales(lr_scale,
momentum_scale)` sets ``lr = base_lr · lr_mult · lr_scale`` and the momentum (SGD's momentum, Adam's β₁)
to ``min(base_momentum · momentum_scale, 0.999)``. Whoever steers the optimizer (a learning-rate schedule,
the HAKMEM Q-controller, both owned by the trainer) does so through this one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

CLIP_EPS = 1e-6
MAX_MOMENTUM = 0.999


class OptimizerStateError(ValueError):
    """A saved optimizer state that does not fit this optimizer (other kind or other parameter layout)."""


def masked_copy_(targets: list[torch.Tensor], values: list[torch.Tensor], keep_new: torch.Tensor) -> None:
    """``t ← where(keep_new, v, t)`` for each pair: a skipped step leaves every target bit-identical."""
    for target, value in zip(targets, values, strict=True):
        target.copy_(torch.where(keep_new, value, target))


def clip_per_parameter(grads: list[torch.Tensor], norms: torch.Tensor, max_norm: float) -> list[torch.Tensor]:
    """``g_i · min(1, max_norm / (‖g_i‖ + 1e-6))`` with the precomputed ``norms`` (P,); as is when ≤ 0."""
    if max_norm <= 0:
        return grads
    coefs = (max_norm / (norms + CLIP_EPS)).clamp(max=1.0)
    return torch._foreach_mul(grads, [coef.to(g.dtype) for coef, g in zip(coefs, grads, strict=True)])


class RiemannianOptimizer(torch.optim.Optimizer):
    """Base of the project's optimizers (module docstring). Subclasses set ``KIND`` and implement
    `_check_group`, `_momentum`, `_set_momentum` and `_update_group`."""

    KIND = ""

    def __init__(self, params: Iterable, defaults: dict):
        self._lr_scale, self._momentum_scale = 1.0, 1.0
        super().__init__(params, defaults)
        first = next((p for g in self.param_groups for p in g["params"]), None)
        device = first.device if first is not None else torch.device("cpu")
        self.skipped_steps = torch.zeros((), dtype=torch.int64, device=device)
        self.last_step_was_finite = torch.ones((), dtype=torch.bool, device=device)

    # ----- hooks for subclasses ----------------------------------------------------------------------
    def _check_group(self, group: Mapping) -> None:
        raise NotImplementedError

    def _momentum(self, group: Mapping) -> float:
        raise NotImplementedError

    def _set_momentum(self, group: dict, value: float) -> None:
        raise NotImplementedError

    def _update_group(self, group: dict, params: list, grads: list[torch.Tensor],
                      finite: torch.Tensor) -> None:
        raise NotImplementedError

    # ----- groups and scales -------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        merged = {**self.defaults, **param_group}
        self._check_group(merged)
        lr_mult = float(param_group.setdefault("lr_mult", 1.0))
        if not lr_mult >= 0.0:
            raise ValueError(f"{type(self).__name__}: lr_mult must be >= 0, got {lr_mult}")
        param_group.setdefault("base_lr", merged["lr"])
        param_group.setdefault("base_momentum", self._momentum(merged))
        param_group["lr"] = param_group["base_lr"] * lr_mult * self._lr_scale
        super().add_param_group(param_group)

    def set_scales(self, lr_scale: float, momentum_scale: float = 1.0) -> None:
        """``lr = base_lr · lr_mult · lr_scale``; momentum ``min(base_momentum · momentum_scale, 0.999)``."""
        self._lr_scale, self._momentum_scale = float(lr_scale), float(momentum_scale)
        for group in self.param_groups:
            group["lr"] = group["base_lr"] * group["lr_mult"] * self._lr_scale
            self._set_momentum(group, min(group["base_momentum"] * self._momentum_scale, MAX_MOMENTUM))

    def current_lr(self) -> float:
        """The network's learning rate in use: the first group's ``base_lr`` times the current scale
        (groups with an ``lr_mult`` use that multiple of it)."""
        return self.param_groups[0]["base_lr"] * self._lr_scale

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
            raise RuntimeError(f"{type(self).__name__}: sparse gradients are not supported; use dense ones")
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
                safe = clip_per_parameter(safe, norms[offset : offset + count], group["max_grad_norm"])
                self._update_group(group, params, safe, all_finite)
                offset += count
        if self.skipped_steps.device != device:
            self.skipped_steps = self.skipped_steps.to(device)
        self.skipped_steps.add_((~all_finite).to(torch.int64))
        self.last_step_was_finite = all_finite
        return loss

    def _state_tensor(self, p: torch.Tensor, key: str, like: torch.Tensor) -> torch.Tensor:
        """``state[p][key]``, created as zeros shaped like ``like`` at first use."""
        state = self.state[p]
        if key not in state:
            state[key] = torch.zeros_like(like, memory_format=torch.preserve_format)
        return state[key]

    # ----- persistence -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """torch's state plus ``kind`` and ``skipped_steps`` (tensor)."""
        state = super().state_dict()
        state["kind"] = self.KIND
        state["skipped_steps"] = self.skipped_steps.detach().clone()
        return state

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Per-parameter state and the skip counter from `state_dict`; the hyper-parameters stay the ones
        this optimizer was built with (a resumed run or a new phase takes the command line's settings;
        learning rate and momentum are set from them, with the current scales, before each step).

        `OptimizerStateError` when the state is of another optimizer kind, carries none (states of
        checkpoints written before there were two optimizers get theirs from `train.upgrade`), or has other
        parameter groups (names and sizes; see `wubugaad.optim.groups.regroup_flat_state` for states saved
        before there were groups).
        """
        state_dict = dict(state_dict)
        kind = state_dict.pop("kind", None)
        if kind is None:
            raise OptimizerStateError("saved optimizer state names no optimizer kind (load checkpoints "
                                      "through wubugaad.train.checkpoint.load_checkpoint: it upgrades old "
                                      "ones)")
        if kind != self.KIND:
            raise OptimizerStateError(f"saved optimizer state is for '{kind}', this optimizer is "
                                      f"'{self.KIND}'")
        saved = [(g.get("name"), len(g["params"])) for g in state_dict["param_groups"]]
        own = [(g.get("name"), len(g["params"])) for g in self.param_groups]
        if saved != own:
            raise OptimizerStateError(f"saved parameter groups {saved} differ from this optimizer's {own}")
        skipped = state_dict.pop("skipped_steps", None)
        hyper = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        super().load_state_dict(state_dict)
        for group, own_hyper in zip(self.param_groups, hyper, strict=True):
            group.update(own_hyper)
        if skipped is not None:
            self.skipped_steps = torch.as_tensor(skipped).to(self.skipped_steps.device, torch.int64).clone()
