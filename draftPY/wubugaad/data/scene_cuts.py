"""Scene-cut detection on a decoded frame cache, stored beside it, and the windows that avoid the cuts.

Statistic: for each consecutive frame pair (t−1, t) the mean absolute difference ``d_t`` of small grey
thumbnails (block means of the cached frames, at most ``THUMB_SIDE`` cells on the long side), in grey
levels 0–255. A hard cut replaces every pixel at once, so ``d_t`` jumps far above its neighbours, whereas a
pan, zoom or fade changes ``d`` gradually. The test is relative: pair t is a cut when

    d_t > threshold · max(median of d over the pairs t−K … t+K except t, FLOOR)

The centred median (``K = MEDIAN_HALF_WINDOW``) follows the footage's own motion level, so a fast pan
that starts suddenly still has half its window inside the pan and is not a cut; ``FLOOR`` keeps sensor
noise in a static shot (median near 0) from turning a small flicker into a cut.

Only the threshold-free series ``d`` is stored (``<cache>.cuts-v<STAT_VERSION>.npy``, written atomically
like the cache), so changing ``--scene_cut_threshold`` needs neither a new decode nor a new series; a new
cache (a changed video or decode setting) has a new name and gets its own series; a change of the
statistic itself bumps ``STAT_VERSION``, which renames the file. Old caches get their series on first use
without being decoded again.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import numpy as np

STAT_VERSION = 1
THUMB_SIDE = 32
MEDIAN_HALF_WINDOW = 7
FLOOR = 2.0
DEFAULT_THRESHOLD = 3.0
# frames per chunk while reading a cache: bounds memory for long videos
CHUNK_FRAMES = 256
# ITU-R 601 luma weights (as cv2.COLOR_RGB2GRAY)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def thumbnails(frames: np.ndarray) -> np.ndarray:
    """uint8 frames (n, H, W, C) → float32 grey block means (n, H // k, W // k), k = ⌈max(H, W) / 32⌉."""
    n, H, W, C = frames.shape
    grey = frames.astype(np.float32) @ LUMA if C == 3 else frames[..., 0].astype(np.float32)  # (n, H, W)
    k = max(1, -(-max(H, W) // THUMB_SIDE))
    kh, kw = min(k, H), min(k, W)
    h, w = H // kh, W // kw
    # (n, h, kh, w, kw): block means over the cropped multiple of the cell size
    return grey[:, : h * kh, : w * kw].reshape(n, h, kh, w, kw).mean(axis=(2, 4))


def difference_series(video: np.ndarray) -> np.ndarray:
    """Mean absolute thumbnail difference of each consecutive pair of ``video`` (N, H, W, C) → (N−1,)."""
    n = video.shape[0]
    out = np.empty(max(n - 1, 0), np.float32)
    for lo in range(0, n - 1, CHUNK_FRAMES):
        # one frame of overlap, so the pair (lo−1, lo) is counted in exactly one chunk
        thumbs = thumbnails(np.asarray(video[lo : lo + CHUNK_FRAMES + 1]))
        out[lo : lo + thumbs.shape[0] - 1] = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))
    return out


def cut_starts(diffs: np.ndarray, threshold: float) -> np.ndarray:
    """Frames t (1 ≤ t < N) that start a new shot, i.e. pair (t−1, t) is a cut; none when threshold ≤ 0."""
    d = np.asarray(diffs, np.float64)
    if threshold <= 0 or d.size == 0:
        return np.zeros(0, np.int64)
    K = MEDIAN_HALF_WINDOW
    padded = np.concatenate([np.full(K, np.nan), d, np.full(K, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * K + 1).copy()  # (N−1, 2K+1)
    windows[:, K] = np.nan  # the pair itself is not part of its own reference level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: a one-pair video
        median = np.nanmedian(windows, axis=1)
    reference = np.maximum(np.where(np.isnan(median), 0.0, median), FLOOR)
    return np.flatnonzero(d > threshold * reference).astype(np.int64) + 1


def series_path(cache_file: str | os.PathLike) -> Path:
    cache_file = Path(cache_file)
    return cache_file.with_name(f"{cache_file.name}.cuts-v{STAT_VERSION}.npy")


def cached_difference_series(cache_file: str | os.PathLike, video: np.ndarray) -> np.ndarray:
    """The stored series of ``cache_file`` (whose frames ``video`` maps), computed and stored when missing.

    Written to a private temporary name and renamed into place, as the cache itself, so concurrent
    ranks and crashes never leave a partial series that a later run would trust. A folder it cannot be
    written to (a read-only shared cache) is not an error: the series is used unstored.
    """
    path = series_path(cache_file)
    expected = max(video.shape[0] - 1, 0)
    if path.is_file():
        try:
            stored = np.load(path, allow_pickle=False)
            if stored.shape == (expected,) and stored.dtype == np.float32:
                return stored
        except (OSError, ValueError):
            pass  # unreadable: recompute below and replace it
    series = difference_series(video)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, series, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only (shared) or full cache folder: use the series, computed again on the next run
    finally:
        if tmp.exists():
            tmp.unlink()
    return series


def window_starts(num_frames: int, span: int, cuts: np.ndarray) -> np.ndarray:
    """Starts s of every ``span``-frame window of one video that crosses no cut.

    Window s covers frames s … s+span−1; it crosses the cut starting frame t when s < t ≤ s+span−1, counted
    for all windows at once with a prefix sum over the cut positions.
    """
    starts = np.arange(max(num_frames - span + 1, 0), dtype=np.int64)
    if starts.size == 0 or len(cuts) == 0:
        return starts
    marks = np.zeros(num_frames + 1, np.int64)
    np.add.at(marks, np.asarray(cuts, np.int64), 1)
    before = np.concatenate([[0], np.cumsum(marks)])  # before[i] = number of cuts t < i
    crossing = before[starts + span] - before[starts + 1]
    return starts[crossing == 0]
