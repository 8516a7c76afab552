"""Is a loaded checkpoint payload the one that was written? A checksum of its contents, stored in it when it
is written and verified when it is read, and the types of the fields this program reads.

A checkpoint is a zip whose tensor data PyTorch reads back without checking: bytes flipped by a disk, a
copy or a transfer load silently as wrong weights. ``payload_checksum`` is the CRC-32 of every tensor's
bytes, dtype and shape and of every other value, each with its place in the payload, walked in a fixed
order; CRC-32 finds any burst of flipped bits up to 32 long and almost all others, at memory speed.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import torch

__all__ = ["CHECKSUM_KEY", "REQUIRED_FOR_RESUME", "payload_checksum", "odd_field"]

CHECKSUM_KEY = "checksum"  # payload key: {"crc32": int}; checkpoints written before it carry none


def _update(crc: int, where: str, value) -> int:
    crc = zlib.crc32(where.encode("utf-8"), crc)
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        crc = zlib.crc32(f"{t.dtype}{tuple(t.shape)}".encode(), crc)
        return zlib.crc32(t.reshape(-1).view(torch.uint8).numpy(), crc) if t.numel() else crc
    if isinstance(value, Mapping):
        for key in sorted(value, key=repr):
            crc = _update(crc, f"{where}[{key!r}]", value[key])
        return crc
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            crc = _update(crc, f"{where}[{i}]", item)
        return crc
    return zlib.crc32(repr(value).encode("utf-8"), crc)


def payload_checksum(payload: Mapping) -> dict[str, int]:
    """``{"crc32": value}`` over everything in ``payload`` except its own ``CHECKSUM_KEY``."""
    crc = 0
    for key in sorted((k for k in payload if k != CHECKSUM_KEY), key=repr):
        crc = _update(crc, repr(key), payload[key])
    return {"crc32": crc}


# the payload fields this program reads, by the types it reads them as (absent fields are allowed: the
# readers that need one say so); bool is excluded from the numbers, as JSON-minded editors produce it
_FIELD_TYPES = {"step": (int,), "epoch": (int,), "best_metric": (int, float, type(None)),
                "config": (Mapping, type(None)), "model": (Mapping, type(None)),
                "discriminator": (Mapping, type(None)), "ema": (Mapping, type(None)),
                "extra": (Mapping, type(None)), "opt_g": (Mapping, type(None)),
                "opt_d": (Mapping, type(None))}
REQUIRED_FOR_RESUME = ("step", "epoch")


def odd_field(payload: dict) -> str | None:
    """Words for the first field of ``payload`` whose type is not the one this program reads, or None."""
    for key, types in _FIELD_TYPES.items():
        if key in payload and (not isinstance(payload[key], types) or isinstance(payload[key], bool)):
            wanted = " or ".join("a mapping" if t is Mapping else "None" if t is type(None) else t.__name__
                                 for t in types)
            return f"has a '{key}' field of type {type(payload[key]).__name__} (expected {wanted})"
    return None
