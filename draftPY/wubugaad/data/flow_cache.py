"""The classical flow of every frame pair of a cached video, computed once and memory-mapped.

Windows overlap (a pair belongs to up to T − 1 of them) and every epoch reads them again, so computing the
flow per window in the loader workers repeated each pair's work about (T − 1) × epochs times; on a 2-core
machine those workers share the cores with the training step. Here, next to the frame cache
(``video_cache``), one float16 file holds the flow of every pair ``(t, t + k)`` (``k`` = ``--frame_skip``)
as ``(N − k, 2, H, W)``: index ``t`` is the motion into frame ``t + k`` on its grid, the layout of
``flow.opencv_flow``. float16 keeps 0.03 px at 40 px; the file is 4/3 the size of the frame cache at
3 channels (8/3 at one).

The file name carries the method, ``k`` and ``flow.SETTINGS_VERSION``, so a change of the estimator's
settings computes a new file instead of reading a stale one. It is written under a temporary name and
renamed into place (concurrent ranks are safe, as for the frame cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wubugaad.data import flow
from wubugaad.data.video_cache import atomic_cache_file, frame_count, open_cache

__all__ = ["flow_cache_path", "ensure_flow_cached", "open_flow_cache"]

CHUNK_PAIRS = 256  # pairs computed and written at a time: bounds the memory of long videos


def flow_cache_path(frames_cache: str | os.PathLike, method: str, skip: int) -> Path:
    frames_cache = Path(frames_cache)
    return frames_cache.with_name(f"{frames_cache.stem}_flow-{method}-k{skip}-v{flow.SETTINGS_VERSION}.f16")


def ensure_flow_cached(frames_cache: str | os.PathLike, width: int, height: int, channels: int,
                       method: str, skip: int) -> Path:
    """Compute the flow file of ``frames_cache`` unless a complete one exists; returns its path."""
    out = flow_cache_path(frames_cache, method, skip)
    pairs = max(frame_count(Path(frames_cache), width, height, channels) - skip, 0)
    if out.is_file() and out.stat().st_size == pairs * 2 * height * width * 2:
        return out
    frames = open_cache(frames_cache, width, height, channels)  # (N, H, W, C)
    with atomic_cache_file(out, f"the flow cache '{out.name}'") as handle:
        for start in range(0, pairs, CHUNK_PAIRS):
            stop = min(start + CHUNK_PAIRS, pairs)
            handle.write(_chunk(frames, start, stop, skip, method).astype(np.float16).tobytes())
    return out


def _chunk(frames: np.ndarray, start: int, stop: int, skip: int, method: str) -> np.ndarray:
    """Flow of pairs ``(t, t + skip)`` for ``t`` in ``[start, stop)`` → ``(stop − start, 2, H, W)``."""
    out = np.empty((stop - start, 2, *frames.shape[1:3]), np.float32)
    for offset in range(min(skip, stop - start)):
        # frames start+offset, start+offset+skip, …: their consecutive pairs are every skip-th pair here
        firsts = np.arange(start + offset, stop, skip)
        sequence = np.asarray(frames[firsts[0] : firsts[-1] + skip + 1 : skip])
        out[offset::skip] = flow.opencv_flow(sequence, method)
    return out


def open_flow_cache(path: str | os.PathLike, height: int, width: int) -> np.memmap:
    """Read-only memory map ``(pairs, 2, H, W)`` float16 of a flow file."""
    pairs = Path(path).stat().st_size // (2 * height * width * 2)
    return np.memmap(path, dtype=np.float16, mode="r", shape=(pairs, 2, height, width))
