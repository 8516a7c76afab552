"""The global video generator: `z` (+ context) → `(B, P, C, H, W)` with ConvTranspose3d blocks.

    z ⊕ h ─Linear→ (C0, P, h0, w0) ─[ConvT3d ×2 → GroupNorm → FiLM(cond) → SiLU] × n_up→ Conv3d → frames

- The initial grid keeps the frame's aspect ratio exactly: `h0 = H / 2^n_up`, `w0 = W / 2^n_up`, with
  `n_up` the largest count (≤ 5) of halvings that divide both sides and leave at least 2 pixels. Each block
  doubles both sides, so the output is exactly `H × W` with no pooling or resizing to fix sizes.
- FiLM condition per sample: `[z ; h ; a_last]` — the latent, the context code and the attention-pooled
  GAAD region features (box embeddings included) of the last context frame.
- Residual mode (context present, on by default): `x̂ = x_last + Conv3d(features) + U(Wz)`. The output
  conv is zero-initialised; `W` is a bias-free linear map from `z` to a coarse `(C, P, h0, w0)` residual and
  `U` its exact nearest-neighbour upsampling by `2^n_up`. Hence at init `z = 0` (the prior mean in
  prediction mode) predicts "copy the last frame" exactly, while reconstruction (`z = μ ≠ 0`) already
  depends on `z`, so the latent path receives gradient from the first step.
- Without context (unconditional VAE-GAN) or with the residual off: `x̂ = tanh(Conv3d(features))`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wubugaad.model.config import ModelConfig

MAX_UPSAMPLINGS = 5
WIDTH_CAP_FACTOR = 4  # widest block = gen_base_channels × this


def upsampling_plan(H: int, W: int) -> tuple[int, int, int]:
    """`(n_up, h0, w0)`: the most halvings (≤ 5) dividing both sides that keep the grid ≥ 2 pixels."""
    n_up = 0
    while (n_up < MAX_UPSAMPLINGS and H % 2 ** (n_up + 1) == 0 and W % 2 ** (n_up + 1) == 0
           and min(H, W) // 2 ** (n_up + 1) >= 2):
        n_up += 1
    return n_up, H // 2**n_up, W // 2**n_up


def generator_problems(cfg: ModelConfig) -> list[str]:
    """Settings the global generator cannot be built with, one line each (the parser reports the same)."""
    problems = []
    kt, ks = cfg.gen_temporal_kernel_size, cfg.gen_final_conv_kernel_spatial
    if kt < 1 or ks < 1 or kt % 2 == 0 or ks % 2 == 0:
        problems.append(f"--gen_temporal_kernel_size and --gen_final_conv_kernel_spatial must be odd (and "
                        f"positive; got {kt} and {ks}) so the generator keeps the clip's length and frame "
                        f"size")
    if cfg.gen_base_channels < 1:
        problems.append(f"--gen_base_channels must be >= 1 (got {cfg.gen_base_channels})")
    return problems


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class UpBlock(nn.Module):
    """ConvTranspose3d (×2 in H and W, time kept) → GroupNorm → FiLM → SiLU."""

    def __init__(self, c_in: int, c_out: int, kt: int, cond_dim: int):
        super().__init__()
        # no bias: GroupNorm removes each group's mean, so a bias would be cancelled exactly (a dead
        # parameter) whenever a group holds one channel; FiLM's β is the per-channel shift
        self.conv = nn.ConvTranspose3d(c_in, c_out, (kt, 4, 4), stride=(1, 2, 2), padding=(kt // 2, 1, 1),
                                       bias=False)
        self.norm = nn.GroupNorm(_groups(c_out), c_out, affine=False)
        self.film = nn.Linear(cond_dim, 2 * c_out)
        nn.init.zeros_(self.film.weight)  # FiLM starts as the identity (γ = 1, β = 0)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(cond).chunk(2, dim=-1)  # (B, C) each
        x = self.norm(self.conv(x))
        return F.silu((1 + gamma)[:, :, None, None, None] * x + beta[:, :, None, None, None])


class VideoGenerator(nn.Module):
    """`forward(z, context, appearance, last_frame)` → `(B, P, C, H, W)` (module docstring)."""

    def __init__(self, cfg: ModelConfig, context_dim: int, appearance_dim: int):
        super().__init__()
        problems = generator_problems(cfg)
        if problems:
            raise ValueError("; ".join(problems))
        self.P, self.C = cfg.num_predict_frames, cfg.num_channels
        self.n_up, self.h0, self.w0 = upsampling_plan(cfg.image_h, cfg.image_w)
        kt, ks = cfg.gen_temporal_kernel_size, cfg.gen_final_conv_kernel_spatial
        base = cfg.gen_base_channels
        # halve the width with every doubling of resolution (full-resolution blocks dominate the cost)
        widths = [max(min(base * 2 ** (self.n_up - k) // 2, base * WIDTH_CAP_FACTOR), max(base // 2, 4))
                  for k in range(self.n_up + 1)]
        latent_dim = cfg.latent_dim
        self.residual = context_dim > 0 and cfg.residual_generator
        cond_dim = latent_dim + context_dim + appearance_dim
        self.stem = nn.Linear(latent_dim + context_dim, widths[0] * self.P * self.h0 * self.w0)
        self.blocks = nn.ModuleList(UpBlock(widths[k], widths[k + 1], kt, cond_dim) for k in range(self.n_up))
        self.stem_norm = nn.GroupNorm(_groups(widths[0]), widths[0])
        self.out = nn.Conv3d(widths[-1], self.C, (1, ks, ks), padding=(0, ks // 2, ks // 2))
        self.latent_residual = None
        if self.residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            self.latent_residual = nn.Linear(latent_dim, self.C * self.P * self.h0 * self.w0, bias=False)
            nn.init.normal_(self.latent_residual.weight, std=0.02 / math.sqrt(latent_dim))
        self.widths = widths

    def forward(self, z: torch.Tensor, context: torch.Tensor | None, appearance: torch.Tensor | None,
                last_frame: torch.Tensor | None) -> torch.Tensor:
        B = z.shape[0]
        parts = [z] if context is None else [z, context]
        cond = torch.cat(parts if appearance is None else [*parts, appearance], dim=-1)
        # (B, C0·P·h0·w0) → (B, C0, P, h0, w0)
        x = self.stem(torch.cat(parts, dim=-1)).view(B, self.widths[0], self.P, self.h0, self.w0)
        x = F.silu(self.stem_norm(x))
        for block in self.blocks:
            x = block(x, cond)
        frames = self.out(x).permute(0, 2, 1, 3, 4)  # (B, C, P, H, W) → (B, P, C, H, W)
        if not self.residual:
            return torch.tanh(frames)
        factor = 2**self.n_up
        # (B, C·P·h0·w0) → (B, P, C, h0, w0) → exact nearest-neighbour upsampling to (H, W)
        coarse = self.latent_residual(z).view(B, self.P, self.C, self.h0, self.w0)
        coarse = coarse.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
        return last_frame.unsqueeze(1) + frames + coarse
