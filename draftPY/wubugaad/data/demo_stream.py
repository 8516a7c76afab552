"""Procedural demo scenes made fresh every epoch (``--dataset demo_stream``).

The scenes of the demo video (``video_cache.make_demo_video``: textured discs and boxes bouncing over a
drifting colour grating) with their variety opened up, so that training sees a new scene in every item:

- 1 to ``MAX_SHAPES`` shapes (discs, boxes) of random sizes, colours and striped textures (frequency and
  orientation), drawn in depth order, so they occlude one another and disocclude the background;
- paths with bounces (a triangle-wave reflection at the borders, as in the demo) and, for half of the
  shapes, a constant acceleration (curved paths, speeding up or slowing down);
- a background grating that drifts in place (change that is not motion);
- for some scenes a camera pan (everything moves), a zoom (divergent motion) and a fade (the brightness
  ramps over the clip).

Every random number of scene ``i`` is a hash of ``(stream, seed, epoch, i)`` (``moving_objects.uniforms``),
so a scene is a pure function of its key: fresh every epoch, identical on resume, independent of worker
count and batch order. The fixed validation set uses a stream of its own and seed 0 (scene ``i`` of it
is the same for every run and every ``--seed``); training never draws from that stream. A batch of keys
is rendered in one vectorised numpy computation over (scene, shape, frame, row, column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wubugaad.data.flow import opencv_flow
from wubugaad.data.moving_objects import uniforms
from wubugaad.data.video_cache import DataError

__all__ = ["DemoStreamConfig", "DemoStreamTrain", "DemoStreamTest", "Scenes", "build_datasets", "draw_scenes",
           "render", "shape_centres", "generate"]

NAME = "demo_stream"
MAX_SHAPES = 4
STREAM_TRAIN, STREAM_TEST = 3, 4  # of the counter-based generator; the moving-object sources use 1 and 2
TEST_SEED = 0
# how often a scene gets each kind of global change, and how often a shape accelerates
P_PAN, P_ZOOM, P_FADE, P_ACCEL = 0.5, 0.3, 0.3, 0.5
# per-frame magnitudes, in units of the frame side (0.03 ≈ 2 px at 64 px, the demo video's fastest shape)
MAX_SPEED, MAX_ACCEL, MAX_PAN, MAX_ZOOM_RATE = 0.05, 0.006, 0.03, 0.03
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as cv2.COLOR_RGB2GRAY


@dataclass(frozen=True)
class DemoStreamConfig:
    """Everything the demo stream needs; built from the command line by the trainer."""

    height: int = 64
    width: int = 64
    channels: int = 3                # RGB, or its luma
    frames: int = 8
    train_scenes: int = 2000         # per epoch
    test_scenes: int = 64
    seed: int = 42
    flow: str | None = None          # OpenCV flow method the items carry (``model.flow_reads``)
    flow_pairs: tuple[int, ...] | None = None  # the pairs computed, None = all (``model.flow_reads``)


@dataclass(frozen=True)
class Scenes:
    """The parameters of S scenes (K = ``MAX_SHAPES`` shape slots, unused ones ``shape_on`` False)."""

    grating_freq: np.ndarray   # (S, 3, 2) cycles per frame side along x, y, per colour channel
    grating_omega: np.ndarray  # (S, 3) phase drift per frame (radians)
    grating_phase: np.ndarray  # (S, 3)
    grating_amp: np.ndarray    # (S,)
    pan: np.ndarray            # (S, 2) camera velocity (x, y), frame sides per frame
    zoom_rate: np.ndarray      # (S,) log zoom per frame (> 0 zooms in)
    fade: np.ndarray           # (S, 2) brightness gain at the first and the last frame
    shape_on: np.ndarray       # (S, K) bool
    disc: np.ndarray           # (S, K) bool: disc, else box
    radius: np.ndarray         # (S, K) half size, frame sides
    colour: np.ndarray         # (S, K, 3) in [0, 1]
    stripe_freq: np.ndarray    # (S, K) cycles per frame side
    stripe_angle: np.ndarray   # (S, K)
    start: np.ndarray          # (S, K, 2) (x, y)
    velocity: np.ndarray       # (S, K, 2)
    accel: np.ndarray          # (S, K, 2)


def _columns(u: np.ndarray):
    """Consume the per-scene uniforms ``u`` (S, N) left to right: ``take(n)`` → (S, n) float32."""
    at = 0

    def take(n: int) -> np.ndarray:
        nonlocal at
        at += n
        return u[:, at - n:at].astype(np.float32)

    return take


N_UNIFORMS = 1 + 13 + 3 + 2 + 3 + MAX_SHAPES * 14


def draw_scenes(stream: int, seed: int, epoch: int, index: np.ndarray) -> Scenes:
    """The scenes of keys ``(stream, seed, epoch, index[s])``."""
    u = uniforms(stream, seed, epoch, np.asarray(index), N_UNIFORMS)
    take, K = _columns(u), MAX_SHAPES

    def polar(magnitude: np.ndarray, turn: np.ndarray) -> np.ndarray:
        """(…, 2) vectors (x, y) of ``magnitude`` at angle 2π·``turn``."""
        return magnitude[..., None] * np.stack([np.cos(2 * np.pi * turn), np.sin(2 * np.pi * turn)], -1)

    count = 1 + np.minimum((take(1)[:, 0] * K).astype(np.int64), K - 1)  # 1 … K shapes
    f = 2.0 * take(6).reshape(-1, 3, 2) - 1.0
    grating_freq = np.sign(f) * (1.0 + 2.0 * np.abs(f))  # 1 to 3 cycles, either way along each axis
    grating_omega = 0.05 + 0.25 * take(3)
    grating_phase = 2 * np.pi * take(3)
    grating_amp = 0.1 + 0.2 * take(1)[:, 0]
    on, speed, turn = take(3).T
    pan = (on < P_PAN)[:, None] * polar(MAX_PAN * speed, turn)
    on, rate = take(2).T
    zoom_rate = np.where(on < P_ZOOM, MAX_ZOOM_RATE * (2 * rate - 1), 0.0)
    on, g0, g1 = take(3).T
    fade = np.where((on < P_FADE)[:, None], 0.3 + 0.7 * np.stack([g0, g1], 1), 1.0)
    shapes = take(K * 14).reshape(-1, K, 14)
    accelerates = shapes[..., 11] < P_ACCEL
    return Scenes(
        grating_freq=grating_freq, grating_omega=grating_omega, grating_phase=grating_phase,
        grating_amp=grating_amp, pan=pan.astype(np.float32), zoom_rate=zoom_rate.astype(np.float32),
        fade=fade.astype(np.float32), shape_on=np.arange(K)[None] < count[:, None],
        disc=shapes[..., 0] < 0.5, radius=0.06 + 0.16 * shapes[..., 1], colour=0.1 + 0.9 * shapes[..., 2:5],
        stripe_freq=4.0 + 16.0 * shapes[..., 5], stripe_angle=np.pi * shapes[..., 6],
        start=shapes[..., 7:9], velocity=polar(0.005 + (MAX_SPEED - 0.005) * shapes[..., 9], shapes[..., 10]),
        accel=np.where(accelerates[..., None], polar(MAX_ACCEL * shapes[..., 12], shapes[..., 13]), 0.0))


def shape_centres(scenes: Scenes, frames: int) -> np.ndarray:
    """Shape centres (S, K, T, 2) in world coordinates: p0 + v t + a t²/2, reflected into [0, 1] by the
    demo video's triangle wave ``1 − |(p mod 2) − 1|`` (a bounce at each border)."""
    t = np.arange(frames, dtype=np.float32)[None, None, :, None]
    free = scenes.start[:, :, None] + scenes.velocity[:, :, None] * t + 0.5 * scenes.accel[:, :, None] * t * t
    return 1.0 - np.abs(np.mod(free, 2.0) - 1.0)


def render(scenes: Scenes, frames: int, height: int, width: int,
           with_masks: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Frames (S, T, H, W, 3) uint8 of ``scenes``; with ``with_masks`` also each shape's extent (S, K, T, H,
    W) bool, occluded parts included (a pixel in two masks is an occlusion).

    The camera maps pixel centres to world coordinates, ``w = ½ + (x − ½)/zoom(t) + pan·t``; background
    and shapes are evaluated there, so a pan moves everything and a zoom scales it.
    """
    t = np.arange(frames, dtype=np.float32)
    zoom = np.exp(scenes.zoom_rate[:, None] * t)[..., None, None]                           # (S, T, 1, 1)
    xn = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, None, None, :]
    yn = ((np.arange(height, dtype=np.float32) + 0.5) / height)[None, None, :, None]
    wx = 0.5 + (xn - 0.5) / zoom + (scenes.pan[:, 0, None] * t)[..., None, None]            # (S, T, 1, W)
    wy = 0.5 + (yn - 0.5) / zoom + (scenes.pan[:, 1, None] * t)[..., None, None]            # (S, T, H, 1)
    # background: one drifting grating per colour channel → (S, T, H, W, 3)
    fx, fy = scenes.grating_freq[..., 0], scenes.grating_freq[..., 1]                        # (S, 3)
    drift = scenes.grating_omega[:, None] * t[None, :, None] + scenes.grating_phase[:, None]  # (S, T, 3)
    phase = (2 * np.pi * (fx[:, None, None, None] * wx[..., None] + fy[:, None, None, None] * wy[..., None])
             + drift[:, :, None, None])
    image = 0.5 + scenes.grating_amp[:, None, None, None, None] * np.sin(phase)
    # shapes, each in its own layer (S, K, T, H, W); later slots are in front
    centre = shape_centres(scenes, frames)
    dx = wx[:, None] - centre[..., 0, None, None]
    dy = wy[:, None] - centre[..., 1, None, None]
    r = scenes.radius[:, :, None, None, None]
    disc = scenes.disc[:, :, None, None, None]
    inside = ((disc & (dx * dx + dy * dy < r * r)) | (~disc & (np.abs(dx) < r) & (np.abs(dy) < r))) \
        & scenes.shape_on[:, :, None, None, None]
    S, K = inside.shape[:2]
    # the front shape at each pixel (−1: background). Masks and blends are arithmetic, not np.where, whose
    # per-element branch is ~10× slower on masks like these
    depth = np.arange(1, K + 1, dtype=np.int8)[None, :, None, None, None]
    top = (inside * depth).max(axis=1).astype(np.int64) - 1                                 # (S, T, H, W)
    # the front shape's parameters at each pixel, gathered from the small per-shape arrays
    s, k = np.arange(S)[:, None, None, None], np.clip(top, 0, K - 1)
    ct = centre[s, k, np.arange(frames)[None, :, None, None]]                               # (S, T, H, W, 2)
    angle, freq = scenes.stripe_angle[s, k], scenes.stripe_freq[s, k]
    along = np.cos(angle) * (wx - ct[..., 0]) + np.sin(angle) * (wy - ct[..., 1])
    shade = 0.75 + 0.25 * np.sin(2 * np.pi * freq * along)  # stripes fixed to the shape: they move with it
    front = (top >= 0)[..., None].astype(np.float32)
    image = image + front * (scenes.colour[s, k] * shade[..., None] - image)
    gain = scenes.fade[:, 0, None] + (scenes.fade[:, 1] - scenes.fade[:, 0])[:, None] * t / max(frames - 1, 1)
    image = np.clip(image * gain[:, :, None, None, None], 0.0, 1.0)
    out = (image * 255.0 + 0.5).astype(np.uint8)
    if not with_masks:
        return out
    return out, inside


def generate(cfg: DemoStreamConfig, stream: int, seed: int, epoch: int, index: np.ndarray) -> np.ndarray:
    """Clips (S, T, H, W, C) uint8 for keys ``(stream, seed, epoch, index[s])``; C = 1 is the luma."""
    rgb = render(draw_scenes(stream, seed, epoch, index), cfg.frames, cfg.height, cfg.width)
    if cfg.channels == 3:
        return rgb
    return np.rint(rgb.astype(np.float32) @ LUMA).clip(0, 255).astype(np.uint8)[..., None]


def _to_item(clip: np.ndarray, index: int, cfg: DemoStreamConfig) -> dict[str, Any]:
    item = {"frames": torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2))), "index": index}
    if cfg.flow is not None:
        # (T−1, 2, H, W); pairs outside ``flow_pairs`` are NaN (not computed: nothing reads them)
        item["flow"] = torch.from_numpy(opencv_flow(clip, cfg.flow, cfg.flow_pairs))
    return item


class DemoStreamTrain(Dataset):
    """Fresh training scenes: key ``(epoch, i)`` (or ``i`` for epoch 0) → ``{"frames": uint8 (T, C, H, W),
    "index": i}`` (+ ``"flow"``). A batch of keys is rendered in one vectorised call (``__getitems__``)."""

    fresh_each_epoch = True  # the sampler must hand out (epoch, index) keys

    def __init__(self, cfg: DemoStreamConfig):
        self.cfg = cfg

    def __len__(self) -> int:
        return self.cfg.train_scenes

    def describe(self) -> str:
        return f"{len(self)} fresh demo scenes per epoch"

    def __getitems__(self, keys: Sequence[Any]) -> list[dict[str, Any]]:
        pairs = np.array([k if isinstance(k, tuple | list) else (0, k) for k in keys], dtype=np.int64)
        out: list[dict[str, Any]] = [{} for _ in keys]
        for epoch in np.unique(pairs[:, 0]):  # one vectorised call per distinct epoch (normally one)
            where = np.flatnonzero(pairs[:, 0] == epoch)
            clips = generate(self.cfg, STREAM_TRAIN, self.cfg.seed, int(epoch), pairs[where, 1])
            for j, clip in zip(where, clips, strict=True):
                out[j] = _to_item(clip, int(pairs[j, 1]), self.cfg)
        return out

    def __getitem__(self, key: Any) -> dict[str, Any]:
        return self.__getitems__([key])[0]


class DemoStreamTest(Dataset):
    """The fixed validation scenes 0 … ``test_scenes`` − 1 of the test stream (seed 0), rendered on demand
    (a pure function of the index, so nothing is cached)."""

    def __init__(self, cfg: DemoStreamConfig):
        self.cfg = cfg

    def __len__(self) -> int:
        return self.cfg.test_scenes

    def describe(self) -> str:
        return f"{len(self)} fixed held-out demo scenes"

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        index = np.array([int(i) + (len(self) if int(i) < 0 else 0) for i in indices], dtype=np.int64)
        clips = generate(self.cfg, STREAM_TEST, TEST_SEED, 0, index)
        return [_to_item(clip, int(i), self.cfg) for clip, i in zip(clips, index, strict=True)]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.__getitems__([i])[0]


def build_datasets(cfg: DemoStreamConfig) -> tuple[DemoStreamTrain, DemoStreamTest]:
    """(training stream, fixed validation scenes)."""
    if cfg.channels not in (1, 3):
        raise DataError(f"--num_channels must be 3 (RGB) or 1 (luma) for --dataset {NAME}, got "
                        f"{cfg.channels}")
    return DemoStreamTrain(cfg), DemoStreamTest(cfg)
