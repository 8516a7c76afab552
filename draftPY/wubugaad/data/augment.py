"""Label-preserving augmentation of a training batch, on its device, per sample, without Python loops.

A batch is ``clip`` (B, T, C, H, W) and optionally the loader's OpenCV ``flow`` (B, T−1, 2, H, W) (pixels
per frame, channel 0 = x right, channel 1 = y down, index t−1 = motion from frame t−1 into frame t). Each
sample draws its own choices; applied in this order to the clip and, consistently, to its flow:

- transpose (square frames only; skipped otherwise): frame'(y, x) = frame(x, y), so the flow field is
  transposed and its x and y components swap;
- horizontal flip: x' = W−1−x, so the field is mirrored and its x component negated;
- vertical flip: the same for y;
- time reversal of the whole clip (context and targets together): pair j of the reversed clip is pair
  T−2−j of the original played backwards. The backward flow is approximated by the negated forward flow at
  the same pixel, −f(x) instead of −f(x − f(x)); exact for uniform motion, wrong by the flow's spatial change
  over one displacement near motion boundaries — small against the error of DIS itself;
- colour-channel permutation (RGB only): a random order of the channels per sample. The flow is kept; it was
  computed on luma, which a permutation changes slightly.

Each choice is ``torch.where`` between the transformed and the original batch with a (B,)-mask, and the
permutation is one ``gather``, so the work does not depend on B. The random numbers come from a private
``torch.Generator`` seeded from (seed, rank, optimizer step, micro-batch): the draws never touch the global
RNG and a resumed run sees exactly the augmentations the uninterrupted run saw. Every draw is made whether
or not its transform is on, so switching one transform off leaves the others' choices unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["AugmentConfig", "Choices", "draw_choices", "apply_choices", "augment_batch", "step_seed"]

FLIP_KINDS = ("transpose", "hflip", "vflip", "time_reverse")


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


def _where(mask: torch.Tensor, changed: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.reshape(-1, *([1] * (same.dim() - 1))), changed, same)


def _sign(x_sign: float, y_sign: float, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([x_sign, y_sign], dtype=like.dtype, device=like.device).view(2, 1, 1)


def _transform(kind: str, clip: torch.Tensor, flow: torch.Tensor | None):
    """``kind`` applied to every sample of clip (B, T, C, H, W) and flow (B, T−1, 2, H, W)."""
    if kind == "transpose":
        # flow channel dim is -3: flipping it swaps (x, y) -> (y, x)
        return clip.transpose(-1, -2), None if flow is None else flow.transpose(-1, -2).flip(-3)
    if kind == "hflip":
        return clip.flip(-1), None if flow is None else flow.flip(-1) * _sign(-1.0, 1.0, flow)
    if kind == "vflip":
        return clip.flip(-2), None if flow is None else flow.flip(-2) * _sign(1.0, -1.0, flow)
    # time reversal: frames reversed; pairs reversed and negated (see the module docstring)
    return clip.flip(1), None if flow is None else -flow.flip(1)


def apply_choices(clip: torch.Tensor, flow: torch.Tensor | None, choices: Choices):
    """The augmented (clip, flow); flow stays None when there is none."""
    for kind in FLIP_KINDS:
        mask = choices.masks.get(kind)
        if mask is None:
            continue
        new_clip, new_flow = _transform(kind, clip, flow)
        clip = _where(mask, new_clip, clip)
        flow = None if flow is None else _where(mask, new_flow, flow)
    if choices.perm is not None:
        B, T, C, H, W = clip.shape
        index = choices.perm.view(B, 1, C, 1, 1).expand(B, T, C, H, W)
        clip = clip.gather(2, index)
    return clip, flow


def augment_batch(clip: torch.Tensor, flow: torch.Tensor | None, cfg: AugmentConfig, seed: int):
    """Augment a training batch (see the module docstring); unchanged inputs when nothing is on."""
    if not cfg.any:
        return clip, flow
    square = clip.shape[-1] == clip.shape[-2]
    choices = draw_choices(clip.shape[0], clip.shape[2], square, cfg, seed, clip.device)
    return apply_choices(clip, flow, choices)
