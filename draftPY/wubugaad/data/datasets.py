"""Clip datasets over memory-mapped video caches, the validation split and data loaders
(docs/ARCHITECTURE.md, "Data").

A clip is T = num_input_frames + num_predict_frames frames taken every ``frame_skip`` frames: the window
starting at frame s covers frames s, s+k, …, s+(T−1)k, i.e. a span of (T−1)k+1 source frames. Every start
with s + span ≤ N of the same video is a window, so windows never cross a video boundary. Likewise no
window crosses a scene cut (``scene_cuts``; ``--scene_cut_threshold``, 0 = off): each shot is treated
like a video of its own, and the number of windows this drops is reported in the dataset's ``notes``.

Without a validation video, windows (in video order) are grouped into blocks of ``val_block_size``; a
seeded choice of ⌈fraction · blocks⌉ blocks becomes validation. Training windows whose start lies closer
than one span to a validation window of the same video are dropped (the guard band), so no training window
shares a source frame with a validation window. The split depends only on the seed and the data, so every
DDP rank computes the same one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wubugaad.data import scene_cuts
from wubugaad.data.config import DataConfig
from wubugaad.data.flow_cache import ensure_flow_cached, open_flow_cache
from wubugaad.data.video_cache import (
    VIDEO_EXTENSIONS,
    DataError,
    ensure_cached,
    find_videos,
    make_demo_video,
    open_cache,
)

__all__ = [
    "DataConfig",
    "DataError",
    "VideoClipDataset",
    "build_dataloader",
    "build_datasets",
    "frames_to_model",
    "make_demo_video",
    "split_windows",
]

log = logging.getLogger(__name__)



def frames_to_model(x: torch.Tensor) -> torch.Tensor:
    """uint8 frames (any shape, e.g. a (B, T, C, H, W) batch) → float32 in [-1, 1]: x / 127.5 − 1."""
    return x.to(torch.float32) / 127.5 - 1.0


class VideoClipDataset(Dataset):
    """Clips read from raw uint8 caches. Pickles as cache paths plus two small index arrays.

    Item ``i`` is ``{"frames": uint8 (T, C, H, W), "index": i, "video": v}`` (``v`` indexes
    ``video_names``, which validation reports figures per video by) plus ``"flow"`` float32 (T−1, 2, H, W)
    when flow files are given (``flow_cache``: the classical flow of every pair of each video, computed
    once). Memory maps are opened lazily in the process that reads (a DataLoader worker) and are not
    pickled.
    """

    def __init__(self, cache_files: list[str], height: int, width: int, channels: int,
                 video_ids: np.ndarray, starts: np.ndarray, clip_len: int, frame_skip: int,
                 flow_files: list[str] | None = None, video_names: list[str] | None = None):
        self.cache_files = [str(f) for f in cache_files]
        # what the per-video figures are called: the source videos' paths (relative to the folder given)
        self.video_names = [Path(f).stem for f in cache_files] if video_names is None else list(video_names)
        self.flow_files = None if flow_files is None else [str(f) for f in flow_files]
        self.height, self.width, self.channels = height, width, channels
        self.video_ids = np.asarray(video_ids, dtype=np.int32)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.clip_len, self.frame_skip = clip_len, frame_skip
        # one-line reports about how the windows were built (scene cuts), for the console
        self.notes: list[str] = []
        self._maps: dict[int, np.memmap] = {}
        self._flow_maps: dict[int, np.memmap] = {}

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def describe(self) -> str:
        """``"3 videos, 412 windows"``: how much the windows draw from (videos with at least one window)."""
        videos = np.unique(self.video_ids).shape[0]
        return f"{videos} video{'s' * (videos != 1)}, {len(self)} windows"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"], state["_flow_maps"] = {}, {}
        return state

    def _video(self, vid: int) -> np.memmap:
        mm = self._maps.get(vid)
        if mm is None:
            mm = open_cache(self.cache_files[vid], self.width, self.height, self.channels)
            self._maps[vid] = mm
        return mm

    def _flow(self, vid: int) -> np.memmap:
        mm = self._flow_maps.get(vid)
        if mm is None:
            mm = open_flow_cache(self.flow_files[vid], self.height, self.width)
            self._flow_maps[vid] = mm
        return mm

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i < 0:
            i += len(self)
        s, vid = int(self.starts[i]), int(self.video_ids[i])
        span = (self.clip_len - 1) * self.frame_skip + 1
        frames = np.array(self._video(vid)[s : s + span : self.frame_skip])  # (T, H, W, C)
        item: dict[str, Any] = {
            "frames": torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(),  # (T, C, H, W)
            "index": i,
            "video": vid,
        }
        if self.flow_files is not None:
            # pair t of the flow file is (t, t + skip): the window's pairs start at s, every skip-th
            pairs = self._flow(vid)[s : s + span - 1 : self.frame_skip]  # (T−1, 2, H, W) float16
            item["flow"] = torch.from_numpy(np.asarray(pairs, dtype=np.float32))
        return item


def split_windows(video_ids: np.ndarray, starts: np.ndarray, span: int, fraction: float, block_size: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) over windows sorted by (video, start), per the module docstring.

    Guard: training window s is dropped if a validation window u of the same video has |s − u| < span,
    which covers every pair of windows whose frame ranges [s, s+span) intersect.
    """
    n = video_ids.shape[0]
    n_blocks = math.ceil(n / block_size)
    n_val_blocks = min(n_blocks, max(1, math.ceil(fraction * n_blocks - 1e-9)))
    chosen = np.random.default_rng(seed).permutation(n_blocks)[:n_val_blocks]
    block_is_val = np.zeros(n_blocks, dtype=bool)
    block_is_val[chosen] = True
    val = block_is_val[np.arange(n) // block_size]
    near_val = np.zeros(n, dtype=bool)
    for vid in np.unique(video_ids):
        idx = np.flatnonzero(video_ids == vid)
        s = starts[idx]
        # count of validation starts in [s − span + 1, s + span − 1] via a prefix sum over start positions
        hits = np.zeros(int(s.max()) + 1, dtype=np.int64)
        hits[s] = val[idx]
        prefix = np.concatenate([[0], np.cumsum(hits)])
        hi = np.minimum(s + span, hits.shape[0])
        lo = np.maximum(s - span + 1, 0)
        near_val[idx] = prefix[hi] - prefix[lo] > 0
    return ~near_val, val


def _resolve_sources(path_str: str, what: str, flag: str,
                     demo: tuple[int, int, int, int] | None) -> list[Path]:
    path = Path(path_str)
    # the demo video is written only where it can overwrite nothing of the user's: a missing path or an empty
    # folder (a folder of .mpg files was once filled with a synthetic video and trained on)
    if demo is not None and "demo_video_data" in path_str and (not path.exists() or _empty_folder(path)):
        num_frames, W, H, seed = demo
        target = path if path.suffix.lower() in VIDEO_EXTENSIONS else path / "demo_video.mp4"
        log.info("generating demo video %s (%d frames, %dx%d)", target, num_frames, W, H)
        make_demo_video(target, num_frames, W, H, seed)
    if not path.exists():
        raise DataError(f"{what} path does not exist: {path_str} (set {flag} to a video file or folder)")
    videos = find_videos(path)
    if not videos:
        others = sorted({f.suffix.lower() or f.name for f in path.rglob("*") if f.is_file()}) \
            if path.is_dir() else []
        held = f"; it holds other files ({', '.join(others[:5])}): convert them" if others else ""
        raise DataError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) found under {path_str} ({flag}"
                        f"{held})")
    return videos


def _empty_folder(path: Path) -> bool:
    """A folder without any entry but hidden ones (a writer's temporaries, macOS metadata)."""
    return path.is_dir() and not any(not entry.name.startswith(".") for entry in path.iterdir())


def _windows(counts: list[int], span: int, cuts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(video_ids, starts) of every window of ``span`` frames crossing no cut, in video order."""
    starts = [scene_cuts.window_starts(n, span, c) for n, c in zip(counts, cuts, strict=True)]
    vids = [np.full(s.shape[0], v, dtype=np.int32) for v, s in enumerate(starts)]
    return np.concatenate(vids), np.concatenate(starts)


def _scene_cuts(cached: list[tuple[Path, int]], cfg: DataConfig) -> tuple[list[np.ndarray], float]:
    """Cut positions per cached video (empty lists when detection is off) and the threshold used."""
    threshold = float(cfg.scene_cut_threshold)
    if threshold <= 0:
        return [np.zeros(0, np.int64) for _ in cached], threshold
    W, H, C = cfg.image_w, cfg.image_h, cfg.num_channels
    series = [scene_cuts.cached_difference_series(p, open_cache(p, W, H, C)) for p, _ in cached]
    return [scene_cuts.cut_starts(d, threshold) for d in series], threshold


def _cut_note(what: str, cuts: list[np.ndarray], counts: list[int], span: int, kept: int,
              threshold: float) -> str | None:
    if threshold <= 0:
        return None
    total = sum(max(n - span + 1, 0) for n in counts)
    shots = sum(1 for c in cuts if len(c))
    return (f"scene cuts in {what} data (--scene_cut_threshold {threshold:g}): {sum(map(len, cuts))} found "
            f"in {shots} of {len(cuts)} videos; {total - kept} of {total} windows dropped")


def _dataset_for(path_str: str, what: str, flag: str, cfg: DataConfig, span: int, clip_len: int,
                 flow: str | None, demo: tuple[int, int, int, int] | None,
                 prepare: Callable[[], None]) -> tuple[VideoClipDataset, np.ndarray, np.ndarray]:
    W, H, C = cfg.image_w, cfg.image_h, cfg.num_channels
    prepare()
    videos = _resolve_sources(path_str, what, flag, demo)
    cached = [ensure_cached(v, cfg.cache_dir, W, H, C, cfg.resize_mode, cfg.min_decoded_fraction)
              for v in videos]
    counts = [n for _, n in cached]
    for v, n in zip(videos, counts, strict=True):
        if n < span:
            log.warning("skipping %s: %d frames, a clip needs %d", v, n, span)
    flow_files = None
    if flow is not None:
        flow_files = [ensure_flow_cached(p, W, H, C, flow, cfg.frame_skip) for p, _ in cached]
    cuts, threshold = _scene_cuts(cached, cfg)
    vids, starts = _windows(counts, span, cuts)
    if vids.shape[0] == 0 and max(counts) >= span:
        raise DataError(
            f"every {what} clip window crosses a scene cut ({sum(map(len, cuts))} cuts found; raise "
            f"--scene_cut_threshold, or set it to 0 to keep windows across cuts)")
    if vids.shape[0] == 0:
        raise DataError(
            f"{what} video too short: {videos[0]} has {counts[0]} frames but one clip needs {span} "
            f"(num_input_frames + num_predict_frames = {clip_len}, frame_skip = {cfg.frame_skip})")
    root = Path(path_str)
    names = [v.name if v == root else v.relative_to(root).as_posix() for v in videos]
    ds = VideoClipDataset([str(p) for p, _ in cached], H, W, C, vids, starts, clip_len, cfg.frame_skip,
                          flow_files, names)
    note = _cut_note(what, cuts, counts, span, vids.shape[0], threshold)
    ds.notes = [note] if note else []
    return ds, vids, starts


def _train_and_val(cfg: DataConfig, clip_len: int, span: int, flow: str | None,
                   prepare: Callable[[], None]) -> tuple[VideoClipDataset, VideoClipDataset | None]:
    val_path = cfg.validation_video_path
    fraction = cfg.validation_split_fraction
    # enough demo frames for ~20 validation windows plus the guard band and a training set 4x that size
    demo_frames = max(120, 8 * span + (0 if val_path else 2 * cfg.val_block_size))
    demo = (demo_frames, cfg.image_w + cfg.image_w % 2, cfg.image_h + cfg.image_h % 2, cfg.seed)
    train, vids, starts = _dataset_for(cfg.video_data_path, "training", "--video_data_path", cfg, span,
                                       clip_len, flow, demo, prepare)
    if val_path:
        val, _, _ = _dataset_for(val_path, "validation", "--validation_video_path", cfg, span, clip_len,
                                 flow, None, lambda: None)
        return train, val
    if fraction <= 0:
        return train, None
    train_mask, val_mask = split_windows(vids, starts, span, fraction, cfg.val_block_size, cfg.seed)
    if not train_mask.any():
        raise DataError(
            f"only {len(vids)} clip windows: too few to hold out validation blocks of "
            f"{cfg.val_block_size} (lower --validation_split_fraction/--val_block_size, set it to 0, "
            f"or give --validation_video_path)")
    geometry = (train.cache_files, train.height, train.width, train.channels)
    notes, flows, names = train.notes, train.flow_files, train.video_names
    val = VideoClipDataset(*geometry, vids[val_mask], starts[val_mask], clip_len, cfg.frame_skip, flows,
                           names)
    train = VideoClipDataset(*geometry, vids[train_mask], starts[train_mask], clip_len, cfg.frame_skip, flows,
                             names)
    train.notes = notes
    return train, val


def build_datasets(
    settings: Any, rank: int = 0, world_size: int = 1, barrier: Callable[[], None] | None = None,
    flow: str | None = None,
) -> tuple[VideoClipDataset, VideoClipDataset | None]:
    """(train dataset, validation dataset or None) from a ``DataConfig`` or anything carrying its fields
    (the parser's namespace). ``flow``: the OpenCV method whose flow the items carry (None: none), as the
    model's settings decide it (``model.flow_reads``).

    Caches are safe to build concurrently without ``barrier``. When one is given and ``world_size > 1``,
    rank 0 generates/decodes first while the other ranks wait at the barrier, then they find everything
    ready. Rank 0 reaches the barrier even when it fails, so the other ranks hit the same ``DataError``
    instead of hanging.
    """
    cfg = DataConfig.from_args(settings)
    if cfg.num_channels not in (1, 3):
        raise DataError(f"--num_channels must be 3 (RGB) or 1 (grayscale), got {cfg.num_channels}")
    clip_len = cfg.num_input_frames + cfg.num_predict_frames
    if clip_len < 1 or cfg.frame_skip < 1:
        raise DataError(f"a clip needs ≥ 1 frame and --frame_skip ≥ 1 (got {clip_len} frames, "
                        f"frame_skip {cfg.frame_skip})")
    span = (clip_len - 1) * cfg.frame_skip + 1
    use_barrier = barrier is not None and world_size > 1

    def prepare() -> None:
        if use_barrier and rank != 0:
            barrier()

    try:
        return _train_and_val(cfg, clip_len, span, flow, prepare)
    finally:
        if use_barrier and rank == 0:
            barrier()


def build_dataloader(ds: Dataset, settings: Any, shuffle: bool, sampler: Any = None,
                     drop_last: bool = False) -> DataLoader:
    """DataLoader with persistent workers (when any) and pinned memory only when CUDA is present;
    ``settings`` is a ``DataConfig`` or anything carrying its fields."""
    cfg = DataConfig.from_args(settings)
    workers = cfg.num_workers
    generator = None
    if shuffle and sampler is None:
        generator = torch.Generator().manual_seed(cfg.seed)
    return DataLoader(
        ds,
        batch_size=cfg.batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        generator=generator,
        prefetch_factor=2 if workers > 0 else None,
    )

