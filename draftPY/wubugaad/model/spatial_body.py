"""The spatial generator's body: everything before its output head (pyramid, fusion, paint, decoder).

- Pyramid depth: one level per halving while the smaller side stays ≥ `MIN_COARSE` pixels (at most
  `MAX_LEVELS`); odd sides: stride-2 convolutions (ceil), each decoder level upsampled to its skip's size.
- Fusion: the features of all context frames at one scale, concatenated on channels, through one conv
  (1×1 at full resolution, 3×3 coarser), one op for any number of them: frame differences are the cue.
- Paint: each region token after WuBu-S, projected to the bottleneck width, is written into the
  bottleneck cells of its box, averaged by coverage (`gaad.regions.paint`; cached masks for static GAAD
  types, per-sample masks for motion-adaptive boxes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wubugaad.gaad.boxes import box_masks, cached_box_masks
from wubugaad.gaad.regions import paint

MIN_COARSE = 4  # smallest side of the coarsest grid, in cells
MAX_LEVELS = 6  # strides 1 … 32
WIDTH_CAP_FACTOR = 4  # widest level = gen_base_channels × this
MIN_WIDTH = 8
FINE_FUSE_LEVELS = 2  # fuse with 1×1 convs at the two finest levels (cheap), 3×3 coarser


def pyramid_sizes(H: int, W: int) -> list[tuple[int, int]]:
    """Grid `(h, w)` of every level: the frame, then ceil-halvings while the smaller side stays ≥ 4."""
    sizes = [(H, W)]
    while len(sizes) < MAX_LEVELS and min(sizes[-1]) // 2 >= MIN_COARSE:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


def _conv_norm(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    # no conv bias: the GroupNorm right after removes it
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
                         nn.GroupNorm(_groups(c_out), c_out), nn.SiLU())


class DecoderBlock(nn.Module):
    """Upsample to the skip's size, concat the skip, conv → GroupNorm → FiLM(cond) → SiLU."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, cond_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in + c_skip, c_out, 3, padding=1, bias=False)
        self.norm = nn.GroupNorm(_groups(c_out), c_out, affine=False)
        self.film = nn.Linear(cond_dim, 2 * c_out)
        nn.init.zeros_(self.film.weight)  # FiLM starts as the identity (γ = 1, β = 0)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        x = self.norm(self.conv(torch.cat([x, skip], dim=1)))
        gamma, beta = self.film(cond).chunk(2, dim=-1)  # (B, C) each
        return F.silu((1 + gamma)[:, :, None, None] * x + beta[:, :, None, None])


class SpatialBody(nn.Module):
    """Everything before the output head: pyramid, fusion, paint, decoder → full-resolution features."""

    def __init__(self, cfg, cond_dim: int, token_dim: int, z_dim: int):
        super().__init__()
        self.I, C = int(cfg.num_input_frames), int(cfg.num_channels)
        self.sizes = pyramid_sizes(int(cfg.image_h), int(cfg.image_w))
        base = int(cfg.gen_base_channels)
        L = len(self.sizes)
        self.widths = [max(min(base * 2**k // 4, base * WIDTH_CAP_FACTOR), MIN_WIDTH) for k in range(L)]
        w = self.widths
        self.pyramid = nn.ModuleList(
            _conv_norm(C if k == 0 else w[k - 1], w[k], 3, stride=1 if k == 0 else 2) for k in range(L))
        kernels = [1 if k < FINE_FUSE_LEVELS else 3 for k in range(L)]
        self.fuse = nn.ModuleList(nn.Conv2d(self.I * w[k], w[k], kernels[k], padding=kernels[k] // 2)
                                  for k in range(L))
        self.decoder = nn.ModuleList(DecoderBlock(w[k + 1], w[k], w[k], cond_dim) for k in range(L - 1))
        self.z_tile = nn.Linear(z_dim, w[-1]) if z_dim > 0 else None
        self.use_paint = bool(cfg.gen_use_gaad_paint)
        self.paint_proj = nn.Linear(token_dim, w[-1]) if self.use_paint else None
        self.frame_hw = (int(cfg.image_h), int(cfg.image_w))
        static = cfg.gaad_decomposition_type != "motion_adaptive" and cfg.gaad_box_layout == "golden"
        if self.use_paint and static:
            h, w_ = self.sizes[-1]
            masks = cached_box_masks(cfg.image_w, cfg.image_h, int(cfg.gaad_num_regions),
                                     cfg.gaad_decomposition_type, float(cfg.gaad_min_size_px), w_, h)
            # recomputed from the config, so not saved; moves with .to(device)
            self.register_buffer("masks", masks.clone(), persistent=False)
        else:
            self.masks = None

    def _painted(self, tokens: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Region tokens `(B, N, D)` of the last context frame → `(B, C_L, h_L, w_L)`."""
        masks = self.masks
        if masks is None:  # per-sample boxes (motion-adaptive, random: (B, N, 4)) or the grid control
            h, w = self.sizes[-1]
            masks = box_masks(boxes.to(tokens.dtype), self.frame_hw[1], self.frame_hw[0], w, h)
        return paint(self.paint_proj(tokens), masks)

    def encode(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """`(B, T, C, H, W)` → per level `(B, T, C_k, h_k, w_k)`: every frame through the shared pyramid."""
        B, T = frames.shape[:2]
        x = frames.flatten(0, 1)  # (B·T, C, H, W)
        feats = []
        for level in self.pyramid:
            x = level(x)
            feats.append(x.view(B, T, *x.shape[1:]))
        return feats

    def painted(self, tokens: torch.Tensor | None, boxes: torch.Tensor | None) -> torch.Tensor | None:
        """The painted regions of the bottleneck (the same for every pass), None without paint."""
        return self._painted(tokens, boxes) if self.use_paint else None

    def bottleneck_input(self, z: torch.Tensor, painted: torch.Tensor | None) -> torch.Tensor | None:
        """What enters the coarsest grid besides the fused frames: the tiled `z` `(B, z_dim)` and the painted
        regions; None when there is neither."""
        if self.z_tile is None:
            return painted
        y = self.z_tile(z)[:, :, None, None]
        return y if painted is None else y + painted

    def decode(self, window: list[torch.Tensor], bottleneck: torch.Tensor | None,
               cond: torch.Tensor) -> torch.Tensor:
        """Features of the last I frames per level (`encode`'s layout) → `(B, C_0, H, W)` at full size."""
        skips = [fuse(f.flatten(1, 2)) + f[:, -1] for fuse, f in zip(self.fuse, window, strict=True)]
        y = skips[-1] if bottleneck is None else skips[-1] + bottleneck
        for k in range(len(self.decoder) - 1, -1, -1):
            y = self.decoder[k](y, skips[k], cond)
        return y
