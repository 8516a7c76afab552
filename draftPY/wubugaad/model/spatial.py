"""The spatial generator: a U-Net over the context frames that warps the last frame and blends in a
synthesised correction.

    context frames ─2-D conv pyramid (shared per frame)─► F_t^k at strides 2^k, k = 0 … L−1
    skips S^k = fuse(F_0^k … F_{I−1}^k) + F_{I−1}^k                  (context frames only: causal)
    bottleneck = S^{L−1} + paint(GAAD region tokens of x_last) + tile(W_z z)
    decoder: up to each finer scale, concat S^k, conv → GroupNorm → FiLM([z ; h ; a_last]) → SiLU
    head (one zero-initialised conv, `out`) per target frame p: flow f_p, mask logit, correction r_p
    x̂_p = warp(x_last, f_p) + σ(mask_p) · (r_p + U(W_r z))

- Pyramid depth: one level per halving while the smaller side stays ≥ `MIN_COARSE` pixels (at most
  `MAX_LEVELS`); odd sides are handled by stride-2 convolutions (ceil) and by upsampling each decoder level
  to exactly its skip's size, so any frame size works.
- Fusion: the features of all context frames at one scale, concatenated on channels, through one conv
  (1×1 at full resolution, 3×3 coarser): frame differences there are the motion cue. One op for any
  number of context frames.
- Paint: each region token after WuBu-S, projected to the bottleneck width, is written into the
  bottleneck cells of its box, averaged by coverage (`gaad.regions.paint`; cached masks for static GAAD
  types, per-sample masks for motion-adaptive boxes).
- Blend: the synthesised image is `s_p = warp + r_p`, so `x̂ = (1 − m)·warp + m·s = warp + m·r`. The head
  conv is zero-initialised, hence at init flow = 0, r = 0 and, with `z = 0` (the prior mean), `x̂` equals
  the last context frame exactly (`warp` is exact at zero flow) for any mask value. `W_r` (bias-free, small
  random init) makes the output depend on `z` from the first step; everything before the head receives
  gradient from the second optimizer step on.
- Flow is in pixels, bounded by `max·tanh(raw/max)` (`--gen_max_flow_px`). With the motion branch on, the
  last context flow (pair `(I−2, I−1)`, in units of that bound) is an input of the head.
- Several target frames are predicted at once (all from the last context frame, each with its own flow,
  mask and correction): one decoder pass for any `num_predict_frames`, no loop over frames, and no
  train/test mismatch from feeding the model its own predictions. Measured against a one-frame model
  rolled out frame by frame (`bench/bench_rollout.py`), the rollout scores higher on held-out video at
  twice the cost for two frames; it is not built into the model yet.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wubugaad.gaad.boxes import box_masks, cached_box_masks
from wubugaad.gaad.regions import paint
from wubugaad.model.warp import warp

GENERATOR_TYPES = ("spatial", "global")
MIN_COARSE = 4  # smallest side of the coarsest grid, in cells
MAX_LEVELS = 6  # strides 1 … 32
WIDTH_CAP_FACTOR = 4  # widest level = gen_base_channels × this
MIN_WIDTH = 8
FINE_FUSE_LEVELS = 2  # fuse with 1×1 convs at the two finest levels (cheap), 3×3 coarser
LATENT_RESIDUAL_STD = 0.02


def spatial_problems(cfg) -> list[str]:
    """Generator-choice settings that cannot be built, one line each (the parser reports the same)."""
    problems = []
    if cfg.generator_type not in GENERATOR_TYPES:
        problems.append(f"--generator_type must be one of {', '.join(GENERATOR_TYPES)} (got "
                        f"{cfg.generator_type!r})")
    if cfg.generator_type == "spatial" and cfg.num_input_frames < 1:
        problems.append("--generator_type spatial needs context frames: use --num_input_frames >= 1 or "
                        "--generator_type global")
    if not (cfg.gen_max_flow_px > 0 and math.isfinite(cfg.gen_max_flow_px)):
        problems.append(f"--gen_max_flow_px must be a finite number > 0 (got {cfg.gen_max_flow_px}; e.g. 16)")
    return problems


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

    def __init__(self, cfg, cond_dim: int, token_dim: int):
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
        self.z_tile = nn.Linear(int(cfg.latent_dim), w[-1])
        self.use_paint = bool(cfg.gen_use_gaad_paint)
        self.paint_proj = nn.Linear(token_dim, w[-1]) if self.use_paint else None
        self.frame_hw = (int(cfg.image_h), int(cfg.image_w))
        if self.use_paint and cfg.gaad_decomposition_type != "motion_adaptive":
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
        if masks is None:  # motion-adaptive: boxes (B, N, 4) differ per sample
            h, w = self.sizes[-1]
            masks = box_masks(boxes.to(tokens.dtype), self.frame_hw[1], self.frame_hw[0], w, h)
        return paint(self.paint_proj(tokens), masks)

    def forward(self, context: torch.Tensor, z: torch.Tensor, cond: torch.Tensor,
                tokens: torch.Tensor | None, boxes: torch.Tensor | None) -> torch.Tensor:
        B = context.shape[0]
        x = context.flatten(0, 1)  # (B·I, C, H, W)
        skips = []
        for level, fuse in zip(self.pyramid, self.fuse, strict=True):
            x = level(x)
            per_frame = x.view(B, self.I, *x.shape[1:])  # (B, I, C_k, h_k, w_k)
            skips.append(fuse(per_frame.flatten(1, 2)) + per_frame[:, -1])
        y = skips[-1] + self.z_tile(z)[:, :, None, None]
        if self.use_paint:
            y = y + self._painted(tokens, boxes)
        for k in range(len(self.decoder) - 1, -1, -1):
            y = self.decoder[k](y, skips[k], cond)
        return y  # (B, C_0, H, W)


class SpatialGenerator(nn.Module):
    """`forward(z, context, appearance, frames, tokens, boxes, last_flow)` → `(B, P, C, H, W)`.

    `frames` `(B, I, C, H, W)` are the context frames; `tokens` `(B, N, D_s)` and `boxes` (`(N, 4)` or
    `(B, N, 4)`) the GAAD regions of the last one; `last_flow` `(B, 2, H, W)` (pixels) the flow into the last
    context frame when the motion branch is on, else `None`.
    """

    def __init__(self, cfg, context_dim: int, appearance_dim: int, token_dim: int):
        super().__init__()
        problems = spatial_problems(cfg)
        if problems:
            raise ValueError("; ".join(problems))
        self.P, self.C = int(cfg.num_predict_frames), int(cfg.num_channels)
        self.use_warp = bool(cfg.gen_use_warp)
        self.use_flow_input = bool(cfg.use_wubu_motion_branch) and self.use_warp
        self.max_flow = float(cfg.gen_max_flow_px)
        latent_dim = int(cfg.latent_dim)
        self.body = SpatialBody(cfg, latent_dim + context_dim + appearance_dim, token_dim)
        c0 = self.body.widths[0]
        # per target frame: (flow x, flow y)?, mask logit, correction (C)
        self.per_frame = (2 if self.use_warp else 0) + 1 + self.C
        ks = int(cfg.gen_final_conv_kernel_spatial)
        if ks % 2 == 0:
            raise ValueError(f"--gen_final_conv_kernel_spatial must be odd (got {ks}) so the output keeps "
                             "the frame size")
        self.out = nn.Conv2d(c0 + (2 if self.use_flow_input else 0), self.P * self.per_frame, ks,
                             padding=ks // 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        h, w = self.body.sizes[-1]
        self.coarse_hw = (h, w)
        self.latent_residual = nn.Linear(latent_dim, self.P * self.C * h * w, bias=False)
        nn.init.normal_(self.latent_residual.weight, std=LATENT_RESIDUAL_STD / math.sqrt(latent_dim))

    def forward(self, z: torch.Tensor, context: torch.Tensor, appearance: torch.Tensor, frames: torch.Tensor,
                tokens: torch.Tensor, boxes: torch.Tensor, last_flow: torch.Tensor | None) -> torch.Tensor:
        B, _, C, H, W = frames.shape
        P = self.P
        cond = torch.cat([z, context, appearance], dim=-1)
        feats = self.body(frames, z, cond, tokens, boxes)
        if self.use_flow_input:
            feats = torch.cat([feats, last_flow.to(feats.dtype) / self.max_flow], dim=1)
        head = self.out(feats).view(B, P, self.per_frame, H, W)  # (B, P·K, H, W) → (B, P, K, H, W)
        last = frames[:, -1]
        h, w = self.coarse_hw
        # (B, P·C·h·w) → (B·P, C, h, w) → bilinear to the frame
        coarse = self.latent_residual(z).view(B * P, C, h, w)
        correction = head[:, :, -C:] + F.interpolate(coarse, size=(H, W), mode="bilinear",
                                                     align_corners=False).view(B, P, C, H, W)
        mask = torch.sigmoid(head[:, :, -C - 1 : -C])  # (B, P, 1, H, W)
        if not self.use_warp:
            return last.unsqueeze(1) + mask * correction
        flow = self.max_flow * torch.tanh(head[:, :, :2] / self.max_flow)  # (B, P, 2, H, W) pixels
        base = last.unsqueeze(1).expand(B, P, C, H, W).reshape(B * P, C, H, W)
        warped = warp(base, flow.reshape(B * P, 2, H, W)).view(B, P, C, H, W)
        return warped + mask * correction
