"""Moving-object sequences from idx image files (Moving MNIST / Moving Fashion-MNIST).

The field's recipe (Srivastava et al. 2015, as used by OpenSTL): ``num_objects`` 28 × 28 images from the
idx file are placed on a black canvas (64 × 64 by default). Each object starts at a uniform position
``(x, y) ∈ [0, 1)²`` of the free range ``side − 28`` and moves in a uniform direction θ with a step of
0.1 of that range per frame (3.6 px on 64 px). Position is advanced before each frame is drawn; an object
reaching a border is put on it and its velocity component is flipped, so it always stays inside. Pixel
offsets are ``int(range · position)``; objects are composited by per-pixel maximum.

``stochastic_moving_fmnist`` is the stochastic variant (Denton & Fergus 2018, SVG's stochastic Moving
MNIST): an object that reaches a border leaves it in a new random direction, uniform over the directions
pointing away from that border (away from both at a corner), at the same speed; its future is then not a
function of its past, so several different futures of one context are all right.

Every random number of sequence ``i`` is a hash of ``(stream, seed, epoch, i)`` (a counter-based
generator), so a sequence is a pure function of its key: training data is fresh every epoch, identical on
resume and independent of worker count or batch order; DDP ranks get different sequences because the
sampler gives them different indices. The fixed test set (seed 0) uses a stream of its own and the test
images of the idx folder (``t10k``), so its objects are never seen in training; a set of N sequences is
the prefix of any larger one. It is generated once, vectorised in chunks, and cached on disk (written to
a temporary file and renamed, so an interrupted run never leaves a partial cache).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import shutil
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wubugaad import tempfiles
from wubugaad.data.flow import opencv_flow
from wubugaad.data.video_cache import DataError

__all__ = ["MovingObjectsConfig", "MovingObjectsTrain", "MovingObjectsTest", "SOURCES", "build_datasets",
           "generate", "read_idx_images", "source_problem", "held_out_positions", "trajectories"]

log = logging.getLogger(__name__)

# dataset name → (default idx folder or None, Debian package providing it or None)
SOURCES = {
    "moving_fmnist": ("/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist"),
    "moving_mnist": (None, None),
    "stochastic_moving_fmnist": ("/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist"),
}
STOCHASTIC = frozenset({"stochastic_moving_fmnist"})  # new random direction at each bounce
IMAGE_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
IDX_IMAGE_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
STEP_LENGTH = 0.1             # of the free range per frame
TEST_SEED = 0
STREAM_TRAIN, STREAM_TEST = 1, 2
TEST_CHUNK = 256              # sequences rendered at once when building the test set
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class MovingObjectsConfig:
    """Everything the moving-object source needs; built from the command line by the trainer."""

    name: str = "moving_fmnist"
    path: str | None = None          # idx folder; None = the source's default
    height: int = 64
    width: int = 64
    channels: int = 1                # grey, replicated to this many channels
    frames: int = 20
    num_objects: int = 2
    train_sequences: int = 10_000    # per epoch
    test_sequences: int = 10_000
    seed: int = 42
    cache_dir: str = ".wubugaad_cache"
    flow: str | None = None          # OpenCV flow method the items carry (``model.flow_reads``)
    flow_pairs: tuple[int, ...] | None = None  # the pairs computed, None = all (``model.flow_reads``)

    @property
    def folder(self) -> str | None:
        return self.path or SOURCES[self.name][0]


def _find_file(folder: Path, split: str) -> Path | None:
    for name in (IMAGE_FILES[split] + ".gz", IMAGE_FILES[split]):
        if (folder / name).is_file():
            return folder / name
    return None


def source_problem(name: str, path: str | None) -> str | None:
    """One line saying what is missing for dataset ``name`` (and how to get it), or None when ready."""
    default, package = SOURCES[name]
    folder = path or default
    files = " and ".join(f"{IMAGE_FILES[s]}(.gz)" for s in ("train", "test"))
    if folder is None:
        return f"--dataset {name} needs --mnist_path DIR: a folder holding {files}"
    missing = [IMAGE_FILES[s] for s in ("train", "test") if _find_file(Path(folder), s) is None]
    if not missing:
        return None
    fix = f"install it with `apt-get install {package}` or set " if package and not path else "set "
    return (f"--dataset {name}: no {' / '.join(missing)}(.gz) in '{folder}' ({fix}--mnist_path to a "
            f"folder holding {files})")


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Images (N, rows, cols) uint8 from an idx3-ubyte file, gzip-compressed or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:  # zlib.error: damaged compressed data
        raise DataError(f"cannot read idx file {path}: {err} (replace it, or point --mnist_path elsewhere)") \
            from err
    header = np.frombuffer(raw[:16], dtype=">u4") if len(raw) >= 16 else np.zeros(0)
    if header.shape[0] != 4 or int(header[0]) != IDX_IMAGE_MAGIC:
        raise DataError(f"{path} is not an idx3-ubyte image file (bad header; point --mnist_path elsewhere)")
    n, rows, cols = (int(v) for v in header[1:])
    if len(raw) - 16 != n * rows * cols or n == 0:
        raise DataError(f"{path}: {len(raw) - 16} data bytes, header promises {n}×{rows}×{cols} "
                        f"(truncated file? reinstall it, or point --mnist_path elsewhere)")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (uint64 arrays wrap on overflow, which the hash relies on)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniforms(stream: int, seed: int, epoch: int, index: np.ndarray, count: int) -> np.ndarray:
    """(S, count) float64 in [0, 1): a hash of (stream, seed, epoch, index, j) — one row per sequence."""
    h = np.full(1, _GOLDEN, dtype=np.uint64)
    for part in (stream, seed, epoch):
        h = _mix(h ^ np.uint64(part % 2**64))
    h = _mix(h ^ np.asarray(index, dtype=np.int64).astype(np.uint64))[:, None]        # (S, 1)
    h = _mix(h + _GOLDEN * np.arange(1, count + 1, dtype=np.uint64)[None, :])            # (S, count)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def trajectories(start: np.ndarray, theta: np.ndarray, frames: int,
                 turns: np.ndarray | None = None) -> np.ndarray:
    """Positions (..., frames, 2) in [0, 1] (y, x) from starts (..., 2) and directions θ (...).

    Without ``turns`` a bounce flips the velocity component normal to the border. With ``turns`` (...,
    frames) uniforms, an object that hits a border at frame t takes the new direction θ' = 2π·turns[t]
    with the sign of each hit component set to point away from the border it hit (uniform over the
    directions leaving that border). Loops over frames only (a few), vectorised over sequences and objects.
    """
    pos = start.astype(np.float64).copy()
    vel = np.stack([np.sin(theta), np.cos(theta)], axis=-1)  # (..., 2)
    out = np.empty((*pos.shape[:-1], frames, 2), dtype=np.float64)
    for t in range(frames):
        pos += vel * STEP_LENGTH
        hit = (pos <= 0.0) | (pos >= 1.0)
        inward = np.where(pos <= 0.0, 1.0, -1.0)  # the sign that leaves the border hit
        pos = np.clip(pos, 0.0, 1.0)
        if turns is None:
            vel = np.where(hit, -vel, vel)
        else:
            angle = 2.0 * np.pi * turns[..., t]
            new = np.stack([np.sin(angle), np.cos(angle)], axis=-1)
            new = np.where(hit, np.abs(new) * inward, new)
            vel = np.where(hit.any(axis=-1, keepdims=True), new, vel)
        out[..., t, :] = pos
    return out


def render(images: np.ndarray, picks: np.ndarray, offsets: np.ndarray, height: int,
           width: int) -> np.ndarray:
    """Canvases (S, T, H, W) uint8: images[picks] (S, K) pasted at top-left ``offsets`` (S, K, T, 2)."""
    S, K, T = offsets.shape[:3]
    h, w = images.shape[1:]
    layers = np.zeros((S, K, T, height, width), dtype=np.uint8)  # one layer per object: no overlap inside
    s, k, t = np.ogrid[:S, :K, :T]
    rows = offsets[..., 0, None, None] + np.arange(h)[:, None]   # (S, K, T, h, 1)
    cols = offsets[..., 1, None, None] + np.arange(w)[None, :]   # (S, K, T, 1, w)
    layers[s[..., None, None], k[..., None, None], t[..., None, None], rows, cols] = \
        images[picks][:, :, None]                                # (S, K, 1, h, w) broadcast over T
    return layers.max(axis=1)


def _draws(cfg: MovingObjectsConfig, stream: int, seed: int, epoch: int, index: np.ndarray):
    """(S, K, 4) uniforms of the sequences' objects (image pick, start (y, x), direction) and, for a
    stochastic source, (S, K, T) uniforms of the directions taken at bounces, else None. The hash gives
    value j of a row independently of how many are drawn, so the first 4·K are the deterministic source's."""
    K, T = cfg.num_objects, cfg.frames
    stochastic = cfg.name in STOCHASTIC
    u = uniforms(stream, seed, epoch, index, 4 * K + (K * T if stochastic else 0))
    turns = u[:, 4 * K:].reshape(-1, K, T) if stochastic else None
    return u[:, : 4 * K].reshape(-1, K, 4), turns


def _positions(draws, frames: int) -> np.ndarray:
    u, turns = draws
    return trajectories(u[..., 1:3], u[..., 3] * 2.0 * np.pi, frames, turns)  # (S, K, T, 2)


def held_out_positions(cfg: MovingObjectsConfig, index: np.ndarray) -> np.ndarray:
    """Object positions (S, K, T, 2) in [0, 1] of fixed-test-set sequences ``index``: a coordinate at 0 or
    1 is a bounce at that frame (the probes align with these known events)."""
    return _positions(_draws(cfg, STREAM_TEST, TEST_SEED, 0, index), cfg.frames)


def generate(images: np.ndarray, cfg: MovingObjectsConfig, stream: int, seed: int, epoch: int,
             index: np.ndarray) -> np.ndarray:
    """Sequences (S, T, H, W) uint8 for keys ``(stream, seed, epoch, index[s])``."""
    h, w = images.shape[1:]
    draws = _draws(cfg, stream, seed, epoch, index)
    u = draws[0]
    picks = np.minimum((u[..., 0] * images.shape[0]).astype(np.int64), images.shape[0] - 1)
    pos = _positions(draws, cfg.frames)
    free = np.array([cfg.height - h, cfg.width - w], dtype=np.float64)
    offsets = (pos * free).astype(np.int64)
    return render(images, picks, offsets, cfg.height, cfg.width)


def _to_item(seq: np.ndarray, channels: int, index: int, flow: str | None,
             pairs: tuple[int, ...] | None) -> dict[str, Any]:
    frames = torch.from_numpy(np.ascontiguousarray(seq)).unsqueeze(1)  # (T, 1, H, W)
    item = {"frames": frames.expand(-1, channels, -1, -1).contiguous(), "index": index}
    if flow is not None:
        # (T−1, 2, H, W); pairs outside ``pairs`` are NaN (not computed: nothing reads them)
        item["flow"] = torch.from_numpy(opencv_flow(seq[..., None], flow, pairs))
    return item


def _load_images(cfg: MovingObjectsConfig, split: str) -> np.ndarray:
    problem = source_problem(cfg.name, cfg.path)
    if problem:
        raise DataError(problem)
    images = read_idx_images(_find_file(Path(cfg.folder), split))
    if images.shape[1] > cfg.height or images.shape[2] > cfg.width:
        raise DataError(f"objects of {images.shape[1]}×{images.shape[2]} px do not fit a "
                        f"{cfg.height}×{cfg.width} canvas (raise --image_h/--image_w)")
    return images


class MovingObjectsTrain(Dataset):
    """Fresh training sequences: key ``(epoch, i)`` (or ``i`` for epoch 0) → ``{"frames": uint8 (T, C, H,
    W), "index": i}``. A batch of keys is generated in one vectorised call (``__getitems__``).

    Pickles as its config; the images are read in the process that generates (a DataLoader worker).
    """

    fresh_each_epoch = True  # the sampler must hand out (epoch, index) keys

    def __init__(self, cfg: MovingObjectsConfig):
        self.cfg = cfg
        self._images: np.ndarray | None = None

    def __len__(self) -> int:
        return self.cfg.train_sequences

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg, "_images": None}

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = _load_images(self.cfg, "train")
        return self._images

    def __getitems__(self, keys: Sequence[Any]) -> list[dict[str, Any]]:
        pairs = np.array([k if isinstance(k, tuple | list) else (0, k) for k in keys], dtype=np.int64)
        out: list[dict[str, Any]] = [{} for _ in keys]
        cfg = self.cfg
        # one vectorised call per distinct epoch (a batch normally holds one)
        for epoch in np.unique(pairs[:, 0]):
            where = np.flatnonzero(pairs[:, 0] == epoch)
            seqs = generate(self.images, cfg, STREAM_TRAIN, cfg.seed, int(epoch), pairs[where, 1])
            for j, seq in zip(where, seqs, strict=True):
                out[j] = _to_item(seq, cfg.channels, int(pairs[j, 1]), cfg.flow, cfg.flow_pairs)
        return out

    def __getitem__(self, key: Any) -> dict[str, Any]:
        return self.__getitems__([key])[0]


def _test_cache_path(cfg: MovingObjectsConfig, source: Path) -> Path:
    stat = source.stat()
    ident = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{cfg.height}x{cfg.width}|{cfg.frames}|" \
            f"{cfg.num_objects}|{STEP_LENGTH}|{TEST_SEED}|{cfg.test_sequences}"
    digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
    return Path(cfg.cache_dir) / f"{cfg.name}_test_{cfg.test_sequences}_{digest}.npy"


def ensure_test_set(cfg: MovingObjectsConfig) -> Path:
    """Path of the cached fixed test set (N, T, H, W) uint8, generating it first when absent or damaged.

    Like the video caches: temporaries of dead writers are removed first (``wubugaad.tempfiles``), the free
    space is checked before generating (one ``DataError`` naming the size), the file is written with plain
    writes (a memory map on a full disk ends the process with SIGBUS instead of an error), an unwritable
    folder is one ``DataError`` naming ``--cache_dir``, and a cached file that does not hold the expected
    array is named and generated again.
    """
    problem = source_problem(cfg.name, cfg.path)
    if problem:
        raise DataError(problem)
    source = _find_file(Path(cfg.folder), "test")
    path = _test_cache_path(cfg, source)
    shape = (cfg.test_sequences, cfg.frames, cfg.height, cfg.width)
    if path.is_file():
        if _holds(path, shape):
            return path
        log.warning("the cached test set %s is damaged (not a %s uint8 array): generating it again", path,
                    "×".join(map(str, shape)))
    images = _load_images(cfg, "test")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfiles.remove_stale(path.parent)
        free = shutil.disk_usage(path.parent).free
    except OSError as err:
        raise DataError(f"--cache_dir: cannot use '{path.parent}' for the {cfg.name} test set: "
                        f"{err.strerror} (choose another --cache_dir)") from err
    needed = math.prod(shape) + 4096  # data and the .npy header
    if free < needed:
        raise DataError(f"--cache_dir: the {cfg.name} test set needs {needed / 1e6:.0f} MB in "
                        f"'{path.parent}', which has {free / 1e6:.0f} MB free (free space, choose another "
                        f"--cache_dir or lower --moving_test_sequences)")
    log.info("generating the fixed %s test set: %d sequences → %s", cfg.name, cfg.test_sequences, path)
    tmp = tempfiles.temp_path(path, ext=".npy")
    try:
        with open(tmp, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for lo in range(0, cfg.test_sequences, TEST_CHUNK):
                index = np.arange(lo, min(lo + TEST_CHUNK, cfg.test_sequences))
                chunk = generate(images, cfg, STREAM_TEST, TEST_SEED, 0, index)
                fh.write(np.ascontiguousarray(chunk).tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise DataError(f"--cache_dir: cannot write the {cfg.name} test set into '{path.parent}': "
                        f"{err.strerror} (free space or choose another --cache_dir)") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _holds(path: Path, shape: tuple[int, ...]) -> bool:
    """Whether the ``.npy`` file at ``path`` is a complete uint8 array of ``shape`` (read without pickles)."""
    try:
        held = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return held.shape == shape and held.dtype == np.uint8


class MovingObjectsTest(Dataset):
    """The fixed test set, memory-mapped from its cache; pickles as the cache path."""

    def __init__(self, path: str | os.PathLike, channels: int, flow: str | None = None,
                 flow_pairs: tuple[int, ...] | None = None):
        self.path, self.channels, self.flow, self.flow_pairs = str(path), channels, flow, flow_pairs
        self._data: np.ndarray | None = None
        self._len = int(np.load(self.path, mmap_mode="r").shape[0])

    def __len__(self) -> int:
        return self._len

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_data": None}

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self._data is None:
            self._data = np.load(self.path, mmap_mode="r")
        i = int(i) + (len(self) if i < 0 else 0)
        return _to_item(np.array(self._data[i]), self.channels, i, self.flow, self.flow_pairs)


def build_datasets(cfg: MovingObjectsConfig, rank: int = 0, world_size: int = 1,
                   barrier: Callable[[], None] | None = None) -> tuple[MovingObjectsTrain, MovingObjectsTest]:
    """(training source, fixed test set). With a barrier and several ranks, rank 0 builds the test cache
    while the others wait; rank 0 reaches the barrier even when it fails, so no rank hangs."""
    if cfg.channels not in (1, 3):
        raise DataError(f"--num_channels must be 3 (grey replicated) or 1, got {cfg.channels}")
    use_barrier = barrier is not None and world_size > 1
    if use_barrier and rank != 0:
        barrier()
    try:
        train = MovingObjectsTrain(cfg)
        train._images = _load_images(cfg, "train")  # fail here, before training, on a missing or bad file
        test = MovingObjectsTest(ensure_test_set(cfg), cfg.channels, cfg.flow, cfg.flow_pairs)
    finally:
        if use_barrier and rank == 0:
            barrier()
    return train, test
