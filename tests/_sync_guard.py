"""``no_host_sync()``: a test helper that fails on Python-level device→host reads of tensor values.

A host sync in a forward/backward shows up in Python as one of: ``.item()``, ``.tolist()``, ``.numpy()``,
``bool(t)`` (a tensor-valued ``if``/``while``/``and``), ``int(t)``, ``float(t)``, ``t.__index__()``
(a tensor used as a Python index/size). Inside the context manager these methods raise
``HostSyncError`` on every ``torch.Tensor`` (parameters included), so a test can run a module on CPU and
still prove that its CUDA run would not block on the host. Tensor ops implemented in C++ are unaffected.

Usage::

    from _sync_guard import no_host_sync
    with no_host_sync():
        out = module(x)
        out.sum().backward()
"""

from __future__ import annotations

import contextlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode

GUARDED_METHODS = ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__")


class HostSyncError(RuntimeError):
    """Raised when guarded code reads a tensor value on the host."""


def _raiser(name: str):
    def guarded(self, *args, **kwargs):
        raise HostSyncError(f"host sync: Tensor.{name}() called inside no_host_sync()")

    return guarded


@contextlib.contextmanager
def no_host_sync():
    """Make tensor→host value reads raise ``HostSyncError`` for the duration of the block."""
    saved = {name: torch.Tensor.__dict__.get(name) for name in GUARDED_METHODS}
    for name in GUARDED_METHODS:
        setattr(torch.Tensor, name, _raiser(name))
    try:
        yield
    finally:
        for name, original in saved.items():
            if original is None:
                delattr(torch.Tensor, name)  # fall back to the inherited C implementation
            else:
                setattr(torch.Tensor, name, original)


class OpCounter(TorchDispatchMode):
    """Counts every aten op dispatched (forward and backward): a loop over items shows as a count that
    grows with the batch."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))
