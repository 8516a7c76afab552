"""Parameter groups: weight decay only on weight matrices and kernels, a learning rate for the geometry.

Every trainable parameter of a module lands in exactly one group (in `named_parameters` order):

- ``geometry``: the scalars a module lists through a ``geometry_scalars()`` method (a WuBu level's
  softplus pre-activations of curvature, scale and spread). No decay — decay on them was the only force
  moving curvature — and the learning rate ``× geometry_lr_mult``.
- ``ball``: `ManifoldParameter`s (boundary points, descriptors). No decay toward the origin unless
  ``decay_ball`` asks for it.
- ``no_decay``: biases, every parameter of a normalisation layer, an embedding or a rotation, and any
  other parameter with fewer than two dimensions (scales, shifts, learned queries of one vector).
- ``decay``: the rest — weight matrices and convolution kernels.

Parameters are told apart by module type and by explicit registration (``geometry_scalars``), not by
their names. Empty groups are left out; each group carries its ``name``, so a saved optimizer state can be
checked against the layout it is loaded into.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.geometry.rotations import Rotation
from wubugaad.optim.base import OptimizerStateError

GROUP_NAMES = ("decay", "no_decay", "ball", "geometry")
# Modules whose own parameters are shifts, scales or lookup rows rather than weight matrices.
NO_DECAY_MODULES = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.modules.batchnorm._NormBase, nn.Embedding,
                    nn.EmbeddingBag, Rotation)


def geometry_scalars(module: nn.Module) -> list[nn.Parameter]:
    """Every parameter a submodule registers through ``geometry_scalars()`` (deduplicated, in order)."""
    found: dict[int, nn.Parameter] = {}
    for sub in module.modules():
        register = getattr(sub, "geometry_scalars", None)
        if callable(register):
            found.update((id(p), p) for p in register())
    return list(found.values())


def freeze_geometry(module: nn.Module) -> int:
    """Keep every geometry scalar at its current value (no gradient, so no optimizer group); returns how
    many were frozen."""
    scalars = geometry_scalars(module)
    for p in scalars:
        p.requires_grad_(False)
    return len(scalars)


def split_parameters(module: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The trainable parameters of ``module`` by group name (module docstring); every name is present."""
    geometry = {id(p) for p in geometry_scalars(module)}
    no_decay = set()
    for sub in module.modules():
        own = dict(sub.named_parameters(recurse=False))
        if isinstance(sub, NO_DECAY_MODULES):
            no_decay.update(id(p) for p in own.values())
        elif own.get("bias") is not None:
            no_decay.add(id(own["bias"]))
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in GROUP_NAMES}
    for p in module.parameters():
        if not p.requires_grad:
            continue
        if id(p) in geometry:
            groups["geometry"].append(p)
        elif isinstance(p, ManifoldParameter):
            groups["ball"].append(p)
        elif id(p) in no_decay or p.dim() < 2:
            groups["no_decay"].append(p)
        else:
            groups["decay"].append(p)
    return groups


def param_groups(module: nn.Module, weight_decay: float, geometry_lr_mult: float = 1.0,
                 decay_ball: bool = False) -> list[dict]:
    """Optimizer param-group dicts (``params``, ``name``, ``weight_decay``, ``lr_mult``), empty ones left
    out; the optimizer's own ``lr`` is each group's base learning rate."""
    decay = {"decay": weight_decay, "no_decay": 0.0, "ball": weight_decay if decay_ball else 0.0,
             "geometry": 0.0}
    mult = {"geometry": geometry_lr_mult}
    return [{"params": params, "name": name, "weight_decay": decay[name], "lr_mult": mult.get(name, 1.0)}
            for name, params in split_parameters(module).items() if params]


def layout(groups: Iterable[Mapping]) -> list[tuple[str | None, int]]:
    """(name, parameter count) per group: what a saved state must match to be loaded."""
    return [(g.get("name"), len(g["params"])) for g in groups]


def regroup_flat_state(state: Mapping, optimizer: torch.optim.Optimizer,
                       flat_params: list[torch.Tensor]) -> dict:
    """A state saved before there were groups (one unnamed group over ``flat_params``, the module's
    trainable parameters in order) rearranged into ``optimizer``'s groups; other states as they are.

    Raises `OptimizerStateError` when the flat state does not cover the same parameters.
    """
    saved = state["param_groups"]
    if len(saved) != 1 or "name" in saved[0] or layout(saved) == layout(optimizer.param_groups):
        return dict(state)
    grouped = [p for g in optimizer.param_groups for p in g["params"]]
    same = {id(p) for p in grouped} == {id(p) for p in flat_params}
    if len(saved[0]["params"]) != len(flat_params) or not same:
        raise OptimizerStateError(f"saved optimizer state covers {len(saved[0]['params'])} parameters, this "
                                  f"run trains {len(grouped)}")
    flat_index = {id(p): saved[0]["params"][i] for i, p in enumerate(flat_params)}
    old_state = state["state"]
    new_state, new_groups, index = {}, [], 0
    for group in optimizer.param_groups:
        ids = []
        for p in group["params"]:
            if flat_index[id(p)] in old_state:
                new_state[index] = old_state[flat_index[id(p)]]
            ids.append(index)
            index += 1
        new_groups.append({**{k: v for k, v in saved[0].items() if k != "params"}, "name": group["name"],
                           "params": ids})
    return {**state, "state": new_state, "param_groups": new_groups}
