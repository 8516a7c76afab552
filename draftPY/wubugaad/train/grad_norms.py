"""Gradient norms per component at log steps: which parts of the networks receive gradient.

Keys (``grad_norm/…``, the global 2-norm of the component's gradients before clipping, 0 when none
reached it):

- ``wubu_s``, ``wubu_t``, ``wubu_m``: every parameter of that WuBu stack (found by type and named by the
  stack's configuration);
- ``geometry``: every geometry scalar (curvature, scale and spread pre-activations of all levels);
- ``encoder``, ``generator``: the model's ``encoder`` / ``generator`` submodules, when it has them;
- ``discriminator``: every discriminator parameter.

Components may overlap (a stack is part of the encoder; geometry scalars are part of their stacks).
The norms are device tensors computed with one ``torch._foreach_norm`` per component; the trainer reads
them in its single host sync of a log step, and computes them only at log steps.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from wubugaad.optim.groups import geometry_scalars
from wubugaad.wubu.stack import WuBuStack

PREFIX = "grad_norm/"
COMPONENTS = ("wubu_s", "wubu_t", "wubu_m", "geometry", "encoder", "generator", "discriminator")
KEYS = tuple(PREFIX + name for name in COMPONENTS)


def _trainable(params) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]


def components(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Key → trainable parameters of the model's components (module docstring); empty ones left out."""
    stacks = [m for m in model.modules() if isinstance(m, WuBuStack)]
    parts = {PREFIX + m.cfg.name: _trainable(m.parameters()) for m in stacks}
    parts[PREFIX + "geometry"] = _trainable(geometry_scalars(model))
    for name in ("encoder", "generator"):
        sub = getattr(model, name, None)
        if isinstance(sub, nn.Module):
            parts[PREFIX + name] = _trainable(sub.parameters())
    return {key: params for key, params in parts.items() if key in KEYS and params}


def discriminator_components(disc: nn.Module) -> dict[str, list[nn.Parameter]]:
    params = _trainable(disc.parameters())
    return {PREFIX + "discriminator": params} if params else {}


def norms(parts: Mapping[str, list[nn.Parameter]]) -> dict[str, torch.Tensor]:
    """Key → 0-dim norm of the gradients present (no host sync)."""
    out = {}
    for key, params in parts.items():
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            out[key] = params[0].new_zeros((), dtype=torch.float32)
            continue
        device = grads[0].device
        per_param = [n.to(device) for n in torch._foreach_norm(grads, 2, dtype=torch.float32)]
        out[key] = torch.linalg.vector_norm(torch.stack(per_param))
    return out
