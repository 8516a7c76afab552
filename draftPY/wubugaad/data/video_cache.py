"""Video discovery, decoding into a memory-mapped uint8 cache, and the generated demo video.

Each source video is decoded with OpenCV exactly once per (file identity, target size, channels, resize mode)
into a raw uint8 file of shape (N, H, W, C) under the cache directory. Frames are streamed one at a time into
a temporary file, which is then renamed into place with ``os.replace`` (atomic on POSIX and Windows), so a
crash or several ranks decoding at once never leave a half-written cache that a later run would trust.
Readers open the file with ``np.memmap(mode="r")``: RAM use does not grow with the length of the video.

A file that stops decoding before the frame count its header announces is summarised in one line ("decoded
23 of 72 frames of X"); below ``min_fraction`` of that count it is refused (``DataError``), above it the
decoded frames are used (a ``.partial`` note beside the cache repeats the summary on later runs). FFmpeg's
and OpenCV's own console messages are silenced (unless ``OPENCV_FFMPEG_LOGLEVEL`` / ``OPENCV_LOG_LEVEL``
are set): a damaged file would print one warning per broken frame. Temporaries of killed decoders are
removed before decoding into the same folder (``wubugaad.tempfiles``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from wubugaad import tempfiles

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
CACHE_FORMAT_VERSION = 1
DEFAULT_MIN_DECODED_FRACTION = 0.9
PARTIAL_SUFFIX = ".partial"

log = logging.getLogger(__name__)
_cleaned: set[Path] = set()


def _quiet_decoder_logs() -> None:
    """FFmpeg reads its level once, at its first use in the process: set before any video is opened."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


_quiet_decoder_logs()


class DataError(Exception):
    """Bad data input (missing path, unreadable video, too short, wrong channels); message is one line."""


def find_videos(path: str | os.PathLike) -> list[Path]:
    """Video files at ``path``: the file itself, or every video below a folder (recursive, sorted)."""
    p = Path(path)
    if p.is_file():
        return [p]
    # hidden names are skipped: they are temporary files of a writer (or macOS "._" metadata)
    return sorted(f for f in p.rglob("*")
                  if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith("."))


def resize_frame(frame_bgr: np.ndarray, width: int, height: int, channels: int, mode: str) -> np.ndarray:
    """One decoded BGR frame (h, w, 3) → (height, width, channels) uint8 RGB or grayscale.

    ``mode="crop"`` keeps the aspect ratio: the largest centred window of aspect width/height is cut out
    first, then resized; ``"stretch"`` resizes the whole frame. INTER_AREA is the alias-free choice for
    downscaling, which is the common case for training resolutions.
    """
    h, w = frame_bgr.shape[:2]
    if mode == "crop":
        # crop width w' = h·W/H if the source is wider than the target, else height h' = w·H/W
        if w * height > h * width:
            cw = max(1, round(h * width / height))
            x0 = (w - cw) // 2
            frame_bgr = frame_bgr[:, x0 : x0 + cw]
        else:
            ch = max(1, round(w * height / width))
            y0 = (h - ch) // 2
            frame_bgr = frame_bgr[y0 : y0 + ch]
    elif mode != "stretch":
        raise ValueError(f"--resize_mode must be 'crop' or 'stretch', got {mode!r}")
    out = cv2.resize(frame_bgr, (width, height), interpolation=cv2.INTER_AREA)
    if channels == 1:
        return cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[:, :, None]
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def cache_path_for(video: Path, cache_dir: str | os.PathLike, width: int, height: int, channels: int,
                   mode: str) -> Path:
    """Cache file name keyed by the video's identity (absolute path, size, mtime, ctime) and the decode
    settings. The status-change time ``ctime`` is set by the system on every write or replacement, so a
    video replaced by one of the same size whose mtime was kept (``cp -p``, ``touch -r``, some sync tools)
    gets a cache of its own."""
    st = video.stat()
    settings = f"{width}x{height}x{channels}|{mode}|v{CACHE_FORMAT_VERSION}"
    key = f"{video.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{settings}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{video.stem}_{width}x{height}x{channels}_{mode}_{digest}.u8"


def frame_count(cache_file: Path, width: int, height: int, channels: int) -> int:
    """Frames in a raw cache file (its size divided by one frame's bytes)."""
    return cache_file.stat().st_size // (width * height * channels)


def decoded_frames(video: str | os.PathLike, announced: list[int] | None = None) -> Iterator[np.ndarray]:
    """The BGR uint8 frames of ``video`` as OpenCV decodes them, one at a time, until the first frame that
    does not decode (the capture is released however the loop ends). ``announced``, when given, receives
    the frame count the header announces (0 when it does not say). ``DataError`` when it does not open."""
    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise DataError(f"cannot open video {video} (unreadable or not a video file)")
        if announced is not None:
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            announced.append(int(count) if count and count > 0 else 0)
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def _decode_into(video: Path, handle, width: int, height: int, channels: int, mode: str) -> tuple[int, int]:
    """Stream-decode ``video`` into the open raw file ``handle``; returns (frames written, frames the
    header announces, 0 when it does not say)."""
    announced: list[int] = []
    n = 0
    for frame in decoded_frames(video, announced):
        handle.write(np.ascontiguousarray(resize_frame(frame, width, height, channels, mode)).tobytes())
        n += 1
    handle.flush()
    os.fsync(handle.fileno())
    return n, announced[0]


def _announced_frames(video: Path) -> int:
    """The frame count the video's header announces (0 when it does not say or cannot be opened)."""
    cap = cv2.VideoCapture(str(video))
    try:
        announced = cap.get(cv2.CAP_PROP_FRAME_COUNT) if cap.isOpened() else 0
    finally:
        cap.release()
    return int(announced) if announced and announced > 0 else 0


def _judge_partial(video: Path, n: int, announced: int, min_fraction: float) -> None:
    """One line for a video that decoded fewer frames than announced; ``DataError`` below the share."""
    if not 0 < n < announced:
        return
    summary = f"decoded {n} of {announced} frames of {video}"
    if n < min_fraction * announced:
        share = f"{100 * n / announced:.0f}%"
        raise DataError(f"{summary} ({share}, below --min_decoded_fraction {min_fraction}): re-encode "
                        f"or replace the file, or lower --min_decoded_fraction (0 uses whatever decodes)")
    log.warning("%s (the rest does not decode); using the %d decoded frames", summary, n)


def _cache_folder(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"--cache_dir: cannot create '{out.parent}': {err.strerror} (a file is in the way or "
                        f"the folder is not writable; choose another folder)") from err
    if out.parent not in _cleaned:
        tempfiles.remove_stale(out.parent)
        _cleaned.add(out.parent)


def ensure_cached(video: Path, cache_dir: str | os.PathLike, width: int, height: int, channels: int,
                  mode: str, min_fraction: float = DEFAULT_MIN_DECODED_FRACTION) -> tuple[Path, int]:
    """Decode ``video`` into the cache unless a complete cache file exists; returns (cache file, frames).

    Every caller writes to its own temporary name and renames it into place, so concurrent ranks are
    safe without a barrier (the files they produce are identical, the last rename wins). A partly
    decodable video is judged by ``min_fraction`` (module docstring), on later runs from its note.
    """
    out = cache_path_for(video, cache_dir, width, height, channels, mode)
    note = out.with_name(out.name + PARTIAL_SUFFIX)
    frame_bytes = width * height * channels
    if out.is_file() and out.stat().st_size > 0 and out.stat().st_size % frame_bytes == 0:
        n = out.stat().st_size // frame_bytes
        if note.is_file():
            decoded, announced = (int(v) for v in note.read_text().split())
        else:
            decoded = announced = _announced_frames(video)
        if n >= decoded:
            if note.is_file():
                _judge_partial(video, n, announced, min_fraction)
            return out, n
        # cut to whole frames (a copy or a disk that lost its end): decode it again rather than train on
        # part of the video
        log.warning("the frame cache %s holds %d of the %d frames of %s: decoding it again", out, n, decoded,
                    video)
    _cache_folder(out)
    with atomic_cache_file(out, f"the frame cache of {video}") as handle:
        n, announced = _decode_into(video, handle, width, height, channels, mode)
        if n == 0:
            raise DataError(f"video {video} has no decodable frames (empty or corrupt file)")
        _judge_partial(video, n, announced, min_fraction)
        if n < announced:
            note.write_text(f"{n} {announced}\n")
    return out, n


@contextlib.contextmanager
def atomic_cache_file(out: Path, what: str):
    """A binary handle to a temporary file beside ``out``, renamed over ``out`` when the block ends
    without error and removed otherwise; an OS error (disk full, permissions) becomes one ``DataError``
    naming ``what`` and the fix. Every caller writes its own temporary name, so concurrent ranks are safe
    (the last rename wins, with identical content)."""
    tmp = None
    try:
        handle, tmp = tempfiles.open_temp(out)
        with handle:
            yield handle
        os.replace(tmp, out)
    except OSError as err:
        raise DataError(f"cannot write {what} into --cache_dir '{out.parent}': {err.strerror} (free space "
                        f"or choose another --cache_dir)") from err
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def open_cache(cache_file: str | os.PathLike, width: int, height: int, channels: int) -> np.memmap:
    """Read-only memory map (N, H, W, C) uint8 of a cache file."""
    n = frame_count(Path(cache_file), width, height, channels)
    return np.memmap(cache_file, dtype=np.uint8, mode="r", shape=(n, height, width, channels))


def make_demo_video(path: str | os.PathLike, num_frames: int, W: int, H: int, seed: int = 0) -> Path:
    """Write a synthetic test video: textured coloured shapes moving over a drifting background.

    Background: b(x, y, t) = 0.5 + 0.25·sin(2π(f_x x + f_y y) + ω t) per colour channel (a moving grating).
    Each of K shapes (discs and boxes) moves on a bouncing path p(t) = |((p0 + v t) mod 2L) − L| style
    triangle wave inside the frame and is filled with its colour times a striped texture, so the video has
    both global and local motion for flow and prediction tests. Every frame is computed with whole-array
    numpy operations over (K, H, W); only the write loop is per frame.
    """
    rng = np.random.default_rng(seed)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the demo video folder '{path.parent}': {err.strerror} "
                        f"(choose another --video_data_path)") from err
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xn, yn = xx / max(W, 1), yy / max(H, 1)
    K = 5
    freq = rng.uniform(1.0, 3.0, size=(3, 2)).astype(np.float32)
    omega = rng.uniform(0.05, 0.2, size=3).astype(np.float32)
    centre0 = rng.uniform(0.0, 1.0, size=(K, 2)).astype(np.float32)
    vel = rng.uniform(-0.03, 0.03, size=(K, 2)).astype(np.float32)
    radius = rng.uniform(0.08, 0.2, size=K).astype(np.float32)
    is_disc = rng.random(K) < 0.5
    colour = rng.uniform(0.1, 1.0, size=(K, 3)).astype(np.float32)
    stripe = rng.uniform(8.0, 20.0, size=K).astype(np.float32)
    # written under a hidden temporary name (same extension: OpenCV picks the container from it) and
    # renamed, so a concurrent reader never sees a half-written demo video
    tempfiles.remove_stale(path.parent)
    tmp = tempfiles.temp_path(path, ext=path.suffix)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (W, H))
    if not writer.isOpened():
        raise DataError(f"cannot write demo video {path} (OpenCV mp4v writer unavailable)")
    try:
        for t in range(num_frames):
            wave = freq[:, 0, None, None] * xn + freq[:, 1, None, None] * yn  # (3, H, W)
            img = 0.5 + 0.25 * np.sin(2 * np.pi * wave + omega[:, None, None] * t)
            # triangle wave keeps centres in [0, 1]: c = 1 − |((c0 + v t) mod 2) − 1|
            c = 1.0 - np.abs(np.mod(centre0 + vel * t, 2.0) - 1.0)  # (K, 2)
            dx = xn[None] - c[:, 0, None, None]
            dy = yn[None] - c[:, 1, None, None]  # (K, H, W)
            r = radius[:, None, None]
            inside = np.where(is_disc[:, None, None], dx**2 + dy**2 < r**2,
                              (np.abs(dx) < r) & (np.abs(dy) < r))
            texture = 0.75 + 0.25 * np.sin(stripe[:, None, None] * 2 * np.pi * (dx + dy))  # (K, H, W)
            for_shape = colour[:, :, None, None] * texture[:, None]  # (K, 3, H, W)
            # later shapes are drawn on top: the topmost covering shape index per pixel
            top = np.where(inside.any(0), K - 1 - np.argmax(inside[::-1], axis=0), -1)  # (H, W)
            picked = np.take_along_axis(for_shape, np.clip(top, 0, K - 1)[None, None].repeat(3, 1), 0)[0]
            img = np.where(top[None] >= 0, picked, img)
            rgb = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(tmp, path)
    finally:
        writer.release()
        if tmp.exists():
            tmp.unlink()
    return path
