"""Mixed precision and backward/step helpers for the trainer.

AMP runs on CUDA only: ``--amp_dtype bf16`` autocasts without a scaler (bf16 has fp32's exponent range);
``fp16`` autocasts and scales each network's loss with its own ``torch.amp.GradScaler`` so small gradients
do not underflow (``scale(L).backward()``, ``unscale_`` before clipping, ``step``/``update`` after).
On CPU ``--use_amp`` is ignored (the trainer says so once) unless the environment sets
``WUBUGAAD_AMP_ON_CPU=1``: then the same code path runs under CPU autocast. That switch exists to rehearse
the CUDA path where no GPU is at hand (the bf16 tests); on the CPU it is slower than float32, not faster.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Iterable, Mapping

import torch

from wubugaad.train import grad_norms

__all__ = ["CPU_AMP_ENV", "amp_enabled", "autocast_factory", "make_scaler", "backward", "clip_and_step"]


CPU_AMP_ENV = "WUBUGAAD_AMP_ON_CPU"  # "1": --use_amp also autocasts on the CPU (rehearsal of the CUDA path)


def amp_enabled(args, device: torch.device) -> bool:
    """``--use_amp`` on CUDA; on the CPU only when ``CPU_AMP_ENV`` is "1"."""
    if not args.use_amp:
        return False
    return device.type == "cuda" or (device.type == "cpu" and os.environ.get(CPU_AMP_ENV) == "1")


def autocast_factory(args, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A zero-argument callable returning the autocast context to wrap forwards in."""
    if not amp_enabled(args, device):
        return contextlib.nullcontext
    dtype = torch.float16 if args.amp_dtype == "fp16" else torch.bfloat16
    return functools.partial(torch.autocast, device_type=device.type, dtype=dtype)


def make_scaler(args, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 AMP, else None."""
    if amp_enabled(args, device) and args.amp_dtype == "fp16":
        return torch.amp.GradScaler(device.type)
    return None


def backward(loss: torch.Tensor, scaler: torch.amp.GradScaler | None) -> None:
    """``loss.backward()``, through the scaler when there is one."""
    (scaler.scale(loss) if scaler is not None else loss).backward()


def clip_and_step(optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter],
                  scaler: torch.amp.GradScaler | None, max_norm: float, want_norm: bool,
                  measure: Mapping[str, list[torch.nn.Parameter]] | None = None,
                  ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """Global clipping ``g ← g · min(1, max_norm / ‖g‖₂)`` over ``params``, then the optimizer step.

    Returns the pre-clip total norm as a tensor (no host sync), or None when neither clipping nor the
    norm was asked for, and the pre-clip norms of the ``measure`` components (`grad_norms.norms`; empty
    without). Non-finite gradients pass through (the optimizer skips and counts such steps).
    """
    if scaler is not None:
        scaler.unscale_(optimizer)
    measured = grad_norms.norms(measure) if measure else {}
    norm = None
    grads = [p for p in params if p.grad is not None]
    if max_norm > 0 or want_norm:
        limit = max_norm if max_norm > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(grads, limit, foreach=True) if grads else None
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return norm, measured
