"""Discriminators over aligned clips (docs/ARCHITECTURE.md, "Discriminator").

Both judge the whole aligned clip ``[context ; targets]`` (real) or ``[context ; predictions]`` (fake),
shape ``(B, T', C, H, W)`` in [-1, 1], and return one logit per clip ``(B,)``.

- ``spatio_temporal_cnn``: 3-D convolutions (temporal kernel ``disc_temporal_kernel_size``), stride 2 in
  each spatial dim while that dim is ≥ 8 (so the map ends near 4×4 for square and non-square frames),
  widths ``base·2^i`` capped at ``disc_max_disc_channels``, global mean pool, FC head.
- ``regional_cnn``: RoIAlign of the GAAD boxes of every judged frame in one call, a 2-D CNN over all
  ``B·T'·N`` regions at once, mean over regions and frames, FC head.

FiLM (``--disc_use_gaad_film_condition``): a per-sample condition ``c`` (B, cond_dim) gives per-block
``γ = 1 + W_γ c``, ``β = W_β c`` applied as ``γ ⊙ h + β`` after each conv. ``W`` is zero-initialised so the
discriminator starts exactly as the unconditioned network.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm
from torchvision.ops import roi_align

from wubugaad.gaad.boxes import DECOMPOSITION_TYPES, cached_boxes, motion_adaptive_boxes
from wubugaad.model.config import ModelConfig

__all__ = ["DISCRIMINATOR_TYPES", "discriminator_problems", "build_discriminator", "judging",
           "stem_stride", "SpatioTemporalDiscriminator", "RegionalDiscriminator"]

DISCRIMINATOR_TYPES = ("spatio_temporal_cnn", "regional_cnn")
MIN_PATCH_SIZE = 2  # a regional patch must survive the CNN's first stride-2 conv
HIGH_RES_SIDE = 128  # from this short side on, the automatic stem strides by 4
VERY_HIGH_RES_SIDE = 256  # and from this one by 8


def discriminator_problems(cfg: ModelConfig) -> list[str]:
    """Settings a discriminator cannot be built with, one line each (the parser reports the same).

    Both types' settings are checked whichever is selected, so a phase that switches type cannot fail late.
    """
    problems = []
    if cfg.discriminator_type not in DISCRIMINATOR_TYPES:
        problems.append(f"--discriminator_type {cfg.discriminator_type!r} unknown; use one of "
                        f"{', '.join(DISCRIMINATOR_TYPES)}")
    for flag in ("disc_base_disc_channels", "disc_max_disc_channels", "disc_temporal_kernel_size",
                 "disc_min_hidden_fc_dim", "disc_max_hidden_fc_dim", "disc_gaad_condition_dim_disc"):
        if getattr(cfg, flag) < 1:
            problems.append(f"--{flag} must be >= 1 (got {getattr(cfg, flag)})")
    if cfg.disc_base_disc_channels > cfg.disc_max_disc_channels:
        problems.append("--disc_base_disc_channels must not exceed --disc_max_disc_channels")
    if cfg.disc_min_hidden_fc_dim > cfg.disc_max_hidden_fc_dim:
        problems.append("--disc_min_hidden_fc_dim must not exceed --disc_max_hidden_fc_dim")
    if not cfg.disc_cnn_channels_2d or min(cfg.disc_cnn_channels_2d) < 1:
        problems.append(f"--disc_cnn_channels_2d must list positive widths "
                        f"(got {list(cfg.disc_cnn_channels_2d)})")
    if cfg.disc_patch_size < MIN_PATCH_SIZE:
        problems.append(f"--disc_patch_size must be >= {MIN_PATCH_SIZE} (got {cfg.disc_patch_size})")
    if cfg.gaad_decomposition_type not in DECOMPOSITION_TYPES:
        problems.append(f"--gaad_decomposition_type {cfg.gaad_decomposition_type!r} unknown; use one of "
                        f"{', '.join(DECOMPOSITION_TYPES)}")
    return problems


def _check(cfg: ModelConfig) -> None:
    problems = discriminator_problems(cfg)
    if problems:
        raise ValueError("; ".join(problems))


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


class FiLM(nn.Module):
    """Per-block ``(γ, β)`` from the condition: ``Linear(cond_dim → condition_dim) → SiLU`` (the
    discriminator's own view of the condition, ``--disc_gaad_condition_dim_disc``), then one
    zero-initialised projection to all ``(γ, β)`` (identity at init). D owns and trains both layers, so the
    generator cannot steer the conditioning."""

    def __init__(self, cond_dim: int, widths: list[int], condition_dim: int = 64):
        super().__init__()
        self.widths = list(widths)
        self.embed = nn.Sequential(nn.Linear(cond_dim, condition_dim), nn.SiLU())
        self.proj = nn.Linear(condition_dim, 2 * sum(self.widths))
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, cond: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # (B, 2·ΣC) -> per block (B, C) scale and shift
        chunks = self.proj(self.embed(cond)).split([w for w in self.widths for _ in (0, 1)], dim=1)
        return [(1.0 + chunks[2 * i], chunks[2 * i + 1]) for i in range(len(self.widths))]


def _check_film(cfg: ModelConfig, cond_dim: int) -> bool:
    use_film = cfg.disc_use_gaad_film_condition
    if use_film and cond_dim < 1:
        raise ValueError(f"--disc_use_gaad_film_condition needs a condition of size ≥ 1 (got cond_dim="
                         f"{cond_dim}); set --disc_gaad_condition_dim_disc ≥ 1 and --gaad_num_regions ≥ 1, "
                         "or drop --disc_use_gaad_film_condition")
    return use_film


class _FiLMMixin:
    film: FiLM | None

    def _film(self, cond: torch.Tensor | None) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        if self.film is None:
            return None
        if cond is None:
            raise ValueError("this discriminator was built with --disc_use_gaad_film_condition: pass the "
                             "per-sample condition (B, cond_dim) as `cond`")
        return self.film(cond)


def _fc_head(in_dim: int, cfg: ModelConfig, use_sn: bool) -> nn.Sequential:
    hidden = max(cfg.disc_min_hidden_fc_dim, min(in_dim, cfg.disc_max_hidden_fc_dim))
    return nn.Sequential(_sn(nn.Linear(in_dim, hidden), use_sn), nn.LeakyReLU(0.2),
                         _sn(nn.Linear(hidden, 1), use_sn))


def stem_stride(H: int, W: int, requested: int) -> int:
    """Spatial stride of the 3-D discriminator's first block: ``requested``, or with 0 (auto) 8 when the
    frame's short side is ≥ 256 px, 4 when it is ≥ 128 px and 2 below. A stride-s stem (s ≥ 4) is a
    per-frame s×s patch embedding; each doubling of s cuts every later block's cost by 4, where the
    high-resolution blocks dominate, and leaves D judging a grid of at least 32 patches a side."""
    if requested:
        return requested
    short = min(H, W)
    return 8 if short >= VERY_HIGH_RES_SIDE else 4 if short >= HIGH_RES_SIDE else 2


def _spatial_plan(H: int, W: int, stem: int = 2) -> list[tuple[int, int]]:
    """Per-block spatial strides. With a stride-4 stem, first one block striding 4 (a dim shorter than 8
    keeps its size); then halve a dim while it is ≥ 8, so the map ends in [4, 8); at least one block."""
    plan: list[tuple[int, int]] = []
    h, w = H, W
    if stem > 2:
        sh, sw = (stem if h >= 2 * stem else 1), (stem if w >= 2 * stem else 1)
        plan.append((sh, sw))
        h, w = h // sh, w // sw
    while h >= 8 or w >= 8 or not plan:
        sh, sw = (2 if h >= 8 else 1), (2 if w >= 8 else 1)
        plan.append((sh, sw))
        h, w = h // sh, w // sw
    return plan


def _block_kernel(kt: int, sh: int, sw: int, first: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(kernel, padding)`` of one block: a stride-4 stem is a per-frame patch embedding (kernel = stride);
    kernel 4 / pad 1 halves a dim exactly (floor); kernel 3 / pad 1 keeps it."""
    if first and max(sh, sw) > 2:
        return (1, sh, sw), (0, 0, 0)
    return (kt, 4 if sh == 2 else 3, 4 if sw == 2 else 3), (kt // 2, 1, 1)


class SpatioTemporalDiscriminator(_FiLMMixin, nn.Module):
    """3-D CNN discriminator; ``forward(clip (B, T', C, H, W), cond (B, cond_dim) | None)`` → ``(B,)``."""

    def __init__(self, cfg: ModelConfig, cond_dim: int = 0):
        super().__init__()
        _check(cfg)
        self.use_film = _check_film(cfg, cond_dim)
        use_sn = cfg.disc_apply_spectral_norm
        kt = cfg.disc_temporal_kernel_size
        in_ch = cfg.num_channels
        widths: list[int] = []
        self.convs = nn.ModuleList()
        stem = stem_stride(cfg.image_h, cfg.image_w, cfg.disc_stem_stride)
        for i, (sh, sw) in enumerate(_spatial_plan(cfg.image_h, cfg.image_w, stem)):
            out_ch = min(cfg.disc_base_disc_channels * 2 ** i, cfg.disc_max_disc_channels)
            kernel, padding = _block_kernel(kt, sh, sw, first=i == 0)
            conv = nn.Conv3d(in_ch, out_ch, kernel, stride=(1, sh, sw), padding=padding)
            self.convs.append(_sn(conv, use_sn))
            widths.append(out_ch)
            in_ch = out_ch
        self.film = FiLM(cond_dim, widths, cfg.disc_gaad_condition_dim_disc) if self.use_film else None
        self.head = _fc_head(in_ch, cfg, use_sn)

    def forward(self, clip: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        # (B, T', C, H, W) -> (B, C, T', H, W) for Conv3d
        h = clip.permute(0, 2, 1, 3, 4)
        mods = self._film(cond)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if mods is not None:
                gamma, beta = mods[i]
                h = gamma[:, :, None, None, None] * h + beta[:, :, None, None, None]
            h = F.leaky_relu(h, 0.2)
        return self.head(h.mean(dim=(2, 3, 4))).squeeze(1)


class RegionalDiscriminator(_FiLMMixin, nn.Module):
    """2-D CNN over RoIAligned GAAD regions of every judged frame, batched over ``B·T'·N`` regions.

    Boxes: the static GAAD set of ``--gaad_decomposition_type``; with ``motion_adaptive`` the boxes follow
    the clip's own temporal-difference energy ``mean_t,c |x_t − x_{t−1}|`` (one box set per clip, so real
    and fake are judged on the regions where they move).
    """

    def __init__(self, cfg: ModelConfig, cond_dim: int = 0):
        super().__init__()
        _check(cfg)
        widths = list(cfg.disc_cnn_channels_2d)
        kind = cfg.gaad_decomposition_type
        self.use_film = _check_film(cfg, cond_dim)
        use_sn = cfg.disc_apply_spectral_norm
        self.patch = cfg.disc_patch_size
        self.num_regions = cfg.gaad_num_regions
        self.min_size = float(cfg.gaad_min_size_px)
        self.adaptive = kind == "motion_adaptive"
        boxes = cached_boxes(cfg.image_w, cfg.image_h, self.num_regions,
                             "hybrid" if self.adaptive else kind, self.min_size, torch.device("cpu"))
        # static boxes move with .to(device); not saved (recomputed from the config)
        self.register_buffer("boxes", boxes.float().clone(), persistent=False)
        self.convs = nn.ModuleList()
        in_ch, size = cfg.num_channels, self.patch
        for out_ch in widths:
            stride = 2 if size >= 4 else 1
            self.convs.append(_sn(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), use_sn))
            # kernel 3 / pad 1: output side is ceil(size / stride)
            in_ch, size = out_ch, -(-size // stride)
        self.film = FiLM(cond_dim, widths, cfg.disc_gaad_condition_dim_disc) if self.use_film else None
        self.head = _fc_head(in_ch, cfg, use_sn)

    def _rois(self, clip: torch.Tensor) -> torch.Tensor:
        """RoIAlign input rows ``(B·T'·N, 5)`` = ``[frame index, x1, y1, x2, y2]``."""
        B, T = clip.shape[:2]
        N = self.num_regions
        if self.adaptive:
            # energy (B, H, W) from temporal differences; a 1-frame clip has none -> uniform energy
            if T > 1:
                energy = (clip[:, 1:] - clip[:, :-1]).abs().mean(dim=(1, 2))
            else:
                energy = clip.new_ones(B, *clip.shape[3:])
            # float32 under AMP too: box placement sums and ranks whole-frame energy
            boxes = motion_adaptive_boxes(energy.detach().float(), N, self.min_size).to(clip.dtype)
            # (B, N, 4) -> (B, T', N, 4): the same boxes for every frame of a clip
            boxes = boxes[:, None].expand(B, T, N, 4)
        else:
            boxes = self.boxes.to(clip.dtype).expand(B, T, N, 4)
        idx = torch.arange(B * T, device=clip.device, dtype=clip.dtype).repeat_interleave(N)
        return torch.cat([idx[:, None], boxes.reshape(B * T * N, 4)], dim=1)

    def forward(self, clip: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C, H, W = clip.shape
        N = self.num_regions
        # (B, T', C, H, W) -> (B·T', C, H, W); one RoIAlign over all B·T'·N regions
        regions = roi_align(clip.reshape(B * T, C, H, W), self._rois(clip), (self.patch, self.patch),
                            spatial_scale=1.0, sampling_ratio=2, aligned=True)
        h = regions
        mods = self._film(cond)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if mods is not None:
                gamma, beta = mods[i]
                # (B·T'·N, C, h, w) -> (B, T'·N, C, h, w) so each clip's γ, β hit its own regions
                hv = h.view(B, T * N, *h.shape[1:])
                h = (gamma[:, None, :, None, None] * hv + beta[:, None, :, None, None]).view_as(h)
            h = F.leaky_relu(h, 0.2)
        # (B·T'·N, C) -> (B, T'·N, C) -> mean over regions and frames
        feats = h.mean(dim=(2, 3)).view(B, T * N, -1).mean(dim=1)
        return self.head(feats).squeeze(1)


def build_discriminator(cfg: ModelConfig, cond_dim: int = 0) -> nn.Module:
    """The discriminator named by ``--discriminator_type``; ``cond_dim`` is the FiLM condition size."""
    _check(cfg)
    kind = {"spatio_temporal_cnn": SpatioTemporalDiscriminator, "regional_cnn": RegionalDiscriminator}
    return kind[cfg.discriminator_type](cfg, cond_dim)


@contextlib.contextmanager
def judging(disc: torch.nn.Module):
    """D as the generator's judge: no parameter gradients, and eval mode, so spectral normalisation reuses
    the power iteration D's own forward ran this step (the same u, v and weights give the same σ) instead
    of running a second one. D has no dropout or batch statistics, so eval mode changes nothing else."""
    was_training = disc.training
    disc.requires_grad_(False)
    disc.eval()
    try:
        yield disc
    finally:
        disc.train(was_training)
        disc.requires_grad_(True)
