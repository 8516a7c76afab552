"""Video discovery, decoding into a memory-mapped uint8 cache, and the generated demo video.

Each source video is decoded with OpenCV exactly once per (file identity, target size, channels, resize mode)
into a raw uint8 file of shape (N, H, W, C) under the cache directory. Frames are streamed one at a time into
a temporary file, which is then renamed into place with ``os.replace`` (atomic on POSIX and Windows), so a
crash or several ranks decoding at once never leave a half-written cache that a later run would trust.
Readers open the file with ``np.memmap(mode="r")``: RAM use does not grow with the length of the video.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import cv2
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
CACHE_FORMAT_VERSION = 1


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
    """Cache file name keyed by the video's identity (absolute path, size, mtime) and the decode settings."""
    st = video.stat()
    settings = f"{width}x{height}x{channels}|{mode}|v{CACHE_FORMAT_VERSION}"
    key = f"{video.resolve()}|{st.st_size}|{st.st_mtime_ns}|{settings}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{video.stem}_{width}x{height}x{channels}_{mode}_{digest}.u8"


def frame_count(cache_file: Path, width: int, height: int, channels: int) -> int:
    """Frames in a raw cache file (its size divided by one frame's bytes)."""
    return cache_file.stat().st_size // (width * height * channels)


def _decode_into(video: Path, tmp: Path, width: int, height: int, channels: int, mode: str) -> int:
    """Stream-decode ``video`` into the raw file ``tmp``; returns the number of frames written."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise DataError(f"cannot open video {video} (unreadable or not a video file)")
    n = 0
    try:
        with open(tmp, "wb") as fh:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                fh.write(np.ascontiguousarray(resize_frame(frame, width, height, channels, mode)).tobytes())
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        cap.release()
    return n


def ensure_cached(video: Path, cache_dir: str | os.PathLike, width: int, height: int, channels: int,
                  mode: str) -> tuple[Path, int]:
    """Decode ``video`` into the cache unless a complete cache file exists; returns (cache file, frames).

    Every caller writes to its own temporary name and renames it into place, so concurrent ranks are
    safe without a barrier (the files they produce are identical, the last rename wins).
    """
    out = cache_path_for(video, cache_dir, width, height, channels, mode)
    frame_bytes = width * height * channels
    if out.is_file() and out.stat().st_size > 0 and out.stat().st_size % frame_bytes == 0:
        return out, out.stat().st_size // frame_bytes
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        n = _decode_into(video, tmp, width, height, channels, mode)
        if n == 0:
            raise DataError(f"video {video} has no decodable frames (empty or corrupt file)")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out, n


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
    path.parent.mkdir(parents=True, exist_ok=True)
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
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")
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
