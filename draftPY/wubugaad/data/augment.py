"""Label-preserving augmentation of a training batch, on its device, per sample, without Python loops.

A batch is ``clip`` (B, T, C, H, W) and optionally the loader's OpenCV ``flow`` (B, T−1, 2, H, W) (pixels
per frame, channel 0 = x right, channel 1 = y down, index t−1 = motion from frame t−1 into frame t). Each
sample draws its own choices; applied in this order to the clip and, consistently, to its flow:

- transpose (square frames only; skipped otherwise): frame'(y, x) = frame(x, y), so the flow field is
  transposed and its x and y components swap;
- horizontal flip: x' = W−1−x, so the field is mirrored and its x component negated;
- vertical flip: the same for y;
- time reversal of the whole clip (context and targets together): pair j of the reversed clip is pair
  T−2−j of the original played backwards. Its flow g, the motion into the earlier frame on that frame's
  grid, solves g(q) = −f(q − g(q)) for the forward flow f; it is found by `REVERSE_ITERATIONS` fixed-point
  steps from g = −f, each one warp of f. The plain negation −f(q) is exact only for uniform motion: at the
  edge of a moving object it points one displacement off, exactly where prediction errors live. On the
  held-out demo video, warping by the negation scored 24.30 dB against 24.52 dB for DIS measured on the
  reversed frames, and 24.42 dB after one or two steps;
- colour-channel permutation (RGB only): a random order of the channels per sample. The flow is kept; it was
  computed on luma, which a permutation changes slightly.

The choices become per-sample index maps (``torch.where`` on small index grids), applied with at most two
``gather`` calls per tensor: the number of operations does not depend on B. The random numbers come from a
private ``torch.Generator`` seeded from (seed, rank, optimizer step, micro-batch): the draws never touch the
global RNG and a resumed run sees exactly the augmentations the uninterrupted run saw. Every draw is made
whether or not its transform is on, so switching one transform off leaves the others' choices unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wubugaad.geometry.warp import warp

__all__ = ["AugmentConfig", "Choices", "draw_choices", "apply_choices", "augment_batch", "step_seed"]

FLIP_KINDS = ("transpose", "hflip", "vflip", "time_reverse")
REVERSE_ITERATIONS = 2  # fixed-point steps of the reversed flow (the second moved the demo score by 0.003 dB)


@dataclass(frozen=True)
class AugmentConfig:
    """Which transforms may be applied (each with probability 1/2; the permutation uniformly)."""

    hflip: bool = True
    vflip: bool = True
    transpose: bool = True
    time_reverse: bool = True
    channel_permute: bool = True

    @property
    def any(self) -> bool:
        return self.hflip or self.vflip or self.transpose or self.time_reverse or self.channel_permute


@dataclass
class Choices:
    """Per-sample decisions: a (B,) bool mask per kind in ``FLIP_KINDS``; ``perm`` (B, C) channel order."""

    masks: dict[str, torch.Tensor]
    perm: torch.Tensor | None


def step_seed(seed: int, rank: int, step: int, micro: int) -> int:
    """A 63-bit seed for one micro-batch: distinct per (seed, rank, step, micro-batch), stable on resume."""
    words = [int(v) % 2**32 for v in (seed, rank, step, micro)]
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0] >> np.uint64(1))


def draw_choices(batch: int, channels: int, square: bool, cfg: AugmentConfig, seed: int,
                 device: torch.device) -> Choices:
    """Draw every sample's choices on ``device`` from a generator seeded with ``seed``."""
    gen = torch.Generator(device=device).manual_seed(seed)
    coins = torch.rand(batch, len(FLIP_KINDS), generator=gen, device=device) < 0.5  # (B, 4)
    keys = torch.rand(batch, channels, generator=gen, device=device)  # (B, C)
    enabled = {"transpose": cfg.transpose and square, "hflip": cfg.hflip, "vflip": cfg.vflip,
               "time_reverse": cfg.time_reverse}
    masks = {kind: coins[:, i] for i, kind in enumerate(FLIP_KINDS) if enabled[kind]}
    perm = keys.argsort(dim=1) if cfg.channel_permute and channels > 1 else None
    return Choices(masks, perm)


SPATIAL_KINDS = ("transpose", "hflip", "vflip")
# per spatial kind: the sign of the flow's (x, y) components after the move, and whether they swap
COMPONENT_SIGNS = {"transpose": (1.0, 1.0), "hflip": (-1.0, 1.0), "vflip": (1.0, -1.0)}


def _where(mask: torch.Tensor, changed: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.reshape(-1, *([1] * (same.dim() - 1))), changed, same)


def _move(kind: str, x: torch.Tensor) -> torch.Tensor:
    """The pixel move of a spatial ``kind`` on the last two dims (H, W)."""
    if kind == "transpose":
        return x.transpose(-1, -2)
    return x.flip(-1) if kind == "hflip" else x.flip(-2)


def _spatial_plan(masks: dict[str, torch.Tensor], B: int, H: int, W: int, device: torch.device):
    """Per sample: the source pixel of every output pixel, (B, H·W), and the 2×2 flow component map.

    The source grids are moved exactly like an image: composing moves m₁ then m₂ gives
    out(p) = in(src₁(src₂(p))), which is what moving the grid of src₁ by m₂ yields. Each component map
    is a signed permutation, applied after the earlier ones (left-multiplied).
    """
    ys = torch.arange(H, device=device).view(1, H, 1).expand(B, H, W)
    xs = torch.arange(W, device=device).view(1, 1, W).expand(B, H, W)
    comp = torch.eye(2, device=device).expand(B, 2, 2)  # (B, 2, 2): f' = comp · f
    for kind in SPATIAL_KINDS:
        mask = masks.get(kind)
        if mask is None:
            continue
        ys, xs = _where(mask, _move(kind, ys), ys), _where(mask, _move(kind, xs), xs)
        moved = comp.flip(1) if kind == "transpose" else comp  # swap the rows: x' = y, y' = x
        sign = torch.tensor(COMPONENT_SIGNS[kind], device=device).view(1, 2, 1)
        comp = _where(mask, moved * sign, comp)
    return (ys * W + xs).reshape(B, H * W), comp


def _gather(x: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """``x`` (B, N, M) gathered along ``dim`` (1 or 2) by a per-sample index (B, N) or (B, M)."""
    index = index[:, :, None] if dim == 1 else index[:, None, :]
    return x.gather(dim, index.expand_as(x))


def apply_choices(clip: torch.Tensor, flow: torch.Tensor | None, choices: Choices):
    """The augmented (clip, flow); flow stays None when there is none.

    At most two gathers per tensor, whatever the batch size: one over the pixels (the three spatial
    moves composed) and one over the (frame, channel) slots (time reversal and the channel order).
    """
    B, T, C, H, W = clip.shape
    device = clip.device
    masks = choices.masks
    spatial = any(k in masks for k in SPATIAL_KINDS)
    reverse = masks.get("time_reverse")
    pixels, comp = _spatial_plan(masks, B, H, W, device)
    out = clip.reshape(B, T * C, H * W)
    if reverse is not None or choices.perm is not None:
        frames = torch.arange(T, device=device).expand(B, T)
        if reverse is not None:
            frames = _where(reverse, frames.flip(1), frames)
        chans = torch.arange(C, device=device).expand(B, C) if choices.perm is None else choices.perm
        slots = frames[:, :, None] * C + chans[:, None, :]  # (B, T, C) source slot of each output slot
        out = _gather(out, 1, slots.reshape(B, T * C))
    if spatial:
        out = _gather(out, 2, pixels)
    out = out.reshape(B, T, C, H, W)
    if flow is None:
        return out, None
    P = flow.shape[1]
    f = flow.reshape(B, P * 2, H * W)
    if spatial:
        f = _gather(f, 2, pixels)
    f = f.reshape(B, P, 2, H * W)
    if reverse is not None:
        # pair j of the reversed clip is pair P−1−j played backwards
        pairs = _where(reverse, torch.arange(P - 1, -1, -1, device=device).expand(B, P),
                       torch.arange(P, device=device).expand(B, P))
        f = f.gather(1, pairs[:, :, None, None].expand_as(f))
    f = torch.einsum("bij,bpjn->bpin", comp.to(f.dtype), f).reshape(B, P, 2, H, W)
    if reverse is not None:
        f = _where(reverse, reversed_flow(f), f)
    return out, f


def reversed_flow(flow: torch.Tensor) -> torch.Tensor:
    """The flow of each pair played backwards, `(B, P, 2, H, W)` → same: g(q) = −f(q − g(q)) (module
    docstring), by `REVERSE_ITERATIONS` fixed-point steps from −f, every pair in one warp per step."""
    f = flow.flatten(0, 1)  # (B·P, 2, H, W)
    g = -f
    for _ in range(REVERSE_ITERATIONS):  # a fixed number of refinement steps, not a loop over data
        g = -warp(f, -g)
    return g.view_as(flow)


def augment_batch(clip: torch.Tensor, flow: torch.Tensor | None, cfg: AugmentConfig, seed: int):
    """Augment a training batch (see the module docstring); unchanged inputs when nothing is on."""
    if not cfg.any:
        return clip, flow
    square = clip.shape[-1] == clip.shape[-2]
    choices = draw_choices(clip.shape[0], clip.shape[2], square, cfg, seed, clip.device)
    return apply_choices(clip, flow, choices)
