"""Optical flow and the WuBu-M motion encoder (docs/ARCHITECTURE.md, "Motion").

Flow estimators (``--optical_flow_net_type``):

- ``raft_small`` / ``raft_large``: torchvision RAFT with pretrained weights read from
  ``--optical_flow_weights PATH`` or the torch hub cache; never re-initialised (``_is_pretrained_flow``),
  always in ``eval()``, run without gradients when frozen. All ``B·(T−1)`` pairs go through one call.
  ``--optical_flow_scale s < 1`` runs RAFT on frames resized by ``s`` (sides kept multiples of 8, ≥ 128)
  and resizes the flow back, its vectors multiplied by the side ratios: about ``s²`` of the cost.
- ``dis`` / ``farneback``: OpenCV on CPU, computed by the data-loader workers
  (`wubugaad.data.flow.opencv_flow`).

Flow is in pixels per frame, channel 0 = x (right), channel 1 = y (down); pair ``(t−1, t)`` is stored at
index ``t−1`` and describes the motion *into* frame ``t`` on frame ``t``'s grid (``x_t(p) ≈ x_{t−1}(p −
f(p))``): every estimator measures it from frame ``t`` back to ``t−1`` and negates it
(`wubugaad.data.flow`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights, raft_large, raft_small
from torchvision.ops import roi_align

from wubugaad.data.flow import OPENCV_TYPES
from wubugaad.gaad.boxes import DECOMPOSITION_TYPES, cached_boxes, motion_adaptive_boxes
from wubugaad.gaad.regions import AttentionPool, BoxEmbedding
from wubugaad.model.config import ModelConfig
from wubugaad.wubu.stack import build_stack

__all__ = ["FLOW_TYPES", "RAFT_TYPES", "OPENCV_TYPES", "STAT_COMPONENTS", "MissingWeightsError",
           "raft_weights_file", "raft_weights_path", "RaftFlow", "raft_input_size", "flow_problems",
           "motion_problems", "check_flow_config",
           "build_flow_estimator", "regional_flow_stats", "stats_dim", "MotionEncoder"]

RAFT_TYPES = ("raft_small", "raft_large")
FLOW_TYPES = (*RAFT_TYPES, *OPENCV_TYPES)
RAFT_MIN_SIDE, RAFT_SIDE_MULTIPLE = 128, 8  # RAFT's feature pyramid needs these frame sides
# feature width of each regional statistic (angle_mean is the mean unit vector: cos and sin)
STAT_COMPONENTS = {"mag_mean": 1, "angle_mean": 2, "mag_std": 1, "angle_std": 1}
# builder, weights enum, refinement iterations used here
_RAFT = {"raft_small": (raft_small, Raft_Small_Weights, 6),
         "raft_large": (raft_large, Raft_Large_Weights, 12)}
_EPS = 1e-12


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights (RAFT's, LPIPS's AlexNet) are not where we looked (the message says where and the
    ways out)."""


def raft_weights_file(kind: str) -> Path:
    """Where ``torch.hub`` keeps torchvision's default weights for ``kind`` (raft_small / raft_large)."""
    url = _RAFT[kind][1].DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def raft_weights_path(kind: str, weights_path: str | os.PathLike | None) -> Path:
    """The weights file RAFT ``kind`` loads (``weights_path`` or the torch hub cache), or
    ``MissingWeightsError`` naming it and where to get it."""
    path = Path(weights_path) if weights_path else raft_weights_file(kind)
    if not path.is_file():
        url = _RAFT[kind][1].DEFAULT.url
        raise MissingWeightsError(
            f"pretrained {kind} optical-flow weights not found: looked for {path}. Either put the file there "
            f"(torchvision's {os.path.basename(urlparse(url).path)}, from {url}) or pass "
            f"--optical_flow_weights PATH, or use --optical_flow_net_type dis (OpenCV, needs no weights).")
    return path


class RaftFlow(nn.Module):
    """Frozen-able torchvision RAFT. ``forward(clip (B, T, C, H, W) in [-1, 1])`` → ``(B, T−1, 2, H, W)``.

    Weights live under ``self.net`` (one prefix, so a model can exclude ``<name>.net.`` from checkpoints).
    ``pretrained=False`` builds random weights (tests, benchmarks). The module never leaves eval mode.
    """

    _is_pretrained_flow = True

    def __init__(self, kind: str, weights_path: str | os.PathLike | None = None, pretrained: bool = True,
                 frozen: bool = True, scale: float = 1.0):
        super().__init__()
        if kind not in _RAFT:
            raise ValueError(f"RaftFlow: kind {kind!r} unknown; use one of {', '.join(RAFT_TYPES)}")
        builder, _, updates = _RAFT[kind]
        self.kind = kind
        self.net = builder(weights=None, progress=False)
        if pretrained:
            state = torch.load(raft_weights_path(kind, weights_path), map_location="cpu", weights_only=True)
            self.net.load_state_dict(state)
        # refinement iterations: fewer than RAFT's 12/32 default, enough for training-time motion cues
        self.num_flow_updates = updates
        self.frozen = bool(frozen)
        self.scale = float(scale)
        self.net.requires_grad_(not self.frozen)
        self.train(False)

    def train(self, mode: bool = True) -> RaftFlow:
        """Ignore ``mode``: RAFT's norm layers must keep their pretrained statistics."""
        return super().train(False)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        B, T, C, H, W = clip.shape
        if C == 1:
            clip = clip.expand(B, T, 3, H, W)
        # all pairs in one batch: (B, T-1, 3, H, W) -> (B·(T-1), 3, H, W)
        first = clip[:, :-1].reshape(B * (T - 1), 3, H, W)
        second = clip[:, 1:].reshape(B * (T - 1), 3, H, W)
        h, w = raft_input_size(H, W, self.scale)
        if (h, w) != (H, W):
            first, second = (F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False,
                                           antialias=True) for x in (first, second))
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            # measured from frame t back to t−1 and negated: the motion into t on t's grid
            flow = -self.net(second.float(), first.float(), num_flow_updates=self.num_flow_updates)[-1]
        if (h, w) != (H, W):
            # back to the frame's grid; a vector of the small grid is W/w (H/h) pixels of the frame
            ratio = flow.new_tensor([W / w, H / h]).view(1, 2, 1, 1)
            flow = F.interpolate(flow, size=(H, W), mode="bilinear", align_corners=False) * ratio
        # (B·(T-1), 2, H, W) -> (B, T-1, 2, H, W)
        return flow.view(B, T - 1, 2, H, W)


def raft_input_size(H: int, W: int, scale: float) -> tuple[int, int]:
    """The frame size RAFT runs at for ``--optical_flow_scale``: each side × ``scale`` rounded to a
    multiple of 8, at least 128 (RAFT's pyramid needs both) and at most the frame's side."""
    def side(n: int) -> int:
        scaled = RAFT_SIDE_MULTIPLE * round(n * scale / RAFT_SIDE_MULTIPLE)
        return min(n, max(RAFT_MIN_SIDE, scaled))
    return side(H), side(W)


def flow_problems(cfg: ModelConfig) -> list[str]:
    """An unknown flow type, and RAFT settings it cannot run with (when the motion branch is on)."""
    kind = cfg.optical_flow_net_type
    if kind not in FLOW_TYPES:
        return [f"--optical_flow_net_type {kind!r} unknown; use one of {', '.join(FLOW_TYPES)}"]
    if not cfg.use_wubu_motion_branch or kind not in RAFT_TYPES:
        return []
    problems = []
    H, W = cfg.image_h, cfg.image_w
    if min(H, W) < RAFT_MIN_SIDE or H % RAFT_SIDE_MULTIPLE or W % RAFT_SIDE_MULTIPLE:
        problems.append(f"--optical_flow_net_type {kind} needs --image_h/--image_w ≥ {RAFT_MIN_SIDE} and "
                        f"divisible by {RAFT_SIDE_MULTIPLE} (got {H}×{W}); change the frame size or use "
                        f"--optical_flow_net_type dis")
    if not 0 < cfg.optical_flow_scale <= 1:
        problems.append(f"--optical_flow_scale must be in (0, 1] (got {cfg.optical_flow_scale}; 1 runs RAFT "
                        "at the frame size, 0.5 at half of each side for about a quarter of the cost)")
    if cfg.num_channels not in (1, 3):
        problems.append(f"--optical_flow_net_type {kind} needs --num_channels 1 or 3 (got "
                        f"{cfg.num_channels}); use --optical_flow_net_type dis for other inputs")
    return problems


def check_flow_config(cfg: ModelConfig) -> None:
    """``ValueError`` listing ``flow_problems``, if any."""
    _raise(flow_problems(cfg))


def build_flow_estimator(cfg: ModelConfig, pretrained: bool = True) -> RaftFlow | None:
    """``RaftFlow`` for RAFT types with the motion branch on; ``None`` otherwise (OpenCV flow comes from
    the data loader, and without the motion branch no flow is needed)."""
    check_flow_config(cfg)
    if not cfg.use_wubu_motion_branch or cfg.optical_flow_net_type not in RAFT_TYPES:
        return None
    return RaftFlow(cfg.optical_flow_net_type, weights_path=cfg.optical_flow_weights, pretrained=pretrained,
                    frozen=cfg.freeze_flow_net, scale=cfg.optical_flow_scale)


def _raise(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


def _stats_problems(components) -> list[str]:
    if not components or any(c not in STAT_COMPONENTS for c in components):
        return [f"--flow_stats_components {list(components)} invalid; choose one or more of "
                f"{', '.join(STAT_COMPONENTS)}"]
    return []


def stats_dim(components) -> int:
    """Feature count ``F`` of ``regional_flow_stats`` for the selected components (validated)."""
    _raise(_stats_problems(components))
    return sum(STAT_COMPONENTS[c] for c in components)


def motion_problems(cfg: ModelConfig) -> list[str]:
    """Settings the motion encoder cannot be built with (checked whether or not the branch is on)."""
    problems = _stats_problems(cfg.flow_stats_components)
    kind = cfg.gaad_motion_decomposition_type
    if kind not in DECOMPOSITION_TYPES:
        problems.append(f"--gaad_motion_decomposition_type {kind!r} unknown; use one of "
                        f"{', '.join(DECOMPOSITION_TYPES)}")
    if cfg.gaad_motion_num_regions < 1:
        problems.append(f"--gaad_motion_num_regions must be >= 1 (got {cfg.gaad_motion_num_regions})")
    return problems


def regional_flow_stats(flow: torch.Tensor, boxes: torch.Tensor, components) -> torch.Tensor:
    """Flow statistics of every box of every flow field, ``(M, 2, H, W)`` × boxes → ``(M, N, F)``.

    Region means ``E[·]`` of the per-pixel maps ``m = |f|``, ``cos θ``, ``sin θ``, ``m²`` come from one
    RoIAlign call (one bin per box, adaptive sampling ≈ one sample per pixel). Then, in the order given:

    - ``mag_mean = E[m]``; ``mag_std = sqrt(max(E[m²] − E[m]², 0))``;
    - ``angle_mean = (E[cos θ], E[sin θ])`` — the mean unit vector (zero-flow pixels add (0, 0));
    - ``angle_std = sqrt(−2 ln R)`` with ``R = |angle_mean|`` clamped to [1e-6, 1] (circular std; 0 for a
      single direction, ≈ 5.3 when directions cancel or nothing moves).
    ``boxes`` is ``(N, 4)`` (shared) or ``(M, N, 4)`` (per field), pixel ``[x1, y1, x2, y2]``.
    """
    stats_dim(components)
    M = flow.shape[0]
    N = boxes.shape[-2]
    u, v = flow[:, 0], flow[:, 1]
    mag2 = u * u + v * v
    mag = torch.sqrt(mag2 + _EPS)
    maps = torch.stack([mag, u / mag, v / mag, mag2], dim=1)  # (M, 4, H, W)
    boxes = boxes.to(maps.dtype).expand(M, N, 4)
    idx = torch.arange(M, device=flow.device, dtype=maps.dtype).repeat_interleave(N)
    rois = torch.cat([idx[:, None], boxes.reshape(M * N, 4)], dim=1)
    # (M·N, 4, 1, 1) -> (M, N, 4): region means of [m, cos, sin, m²]
    means = roi_align(maps, rois, (1, 1), spatial_scale=1.0, sampling_ratio=-1, aligned=True).view(M, N, 4)
    e_m, e_cos, e_sin, e_m2 = means.unbind(-1)
    resultant = torch.sqrt(e_cos * e_cos + e_sin * e_sin + _EPS).clamp(1e-6, 1.0)
    feats = {
        "mag_mean": e_m[..., None],
        "mag_std": torch.sqrt((e_m2 - e_m * e_m).clamp_min(_EPS))[..., None],
        "angle_mean": torch.stack([e_cos, e_sin], dim=-1),
        "angle_std": torch.sqrt((-2.0 * torch.log(resultant)).clamp_min(_EPS))[..., None],
    }
    return torch.cat([feats[c] for c in components], dim=-1)


class MotionEncoder(nn.Module):
    """Regional flow statistics → WuBu-M → per-frame motion code; ``(B, T−1, 2, H, W)`` → ``(B, T, out)``.

    Flow is divided by ``max(H, W)`` (motion as a fraction of the frame, independent of resolution) before
    the statistics. Boxes: static GAAD (``--gaad_motion_decomposition_type`` subdivide/spiral/hybrid) or
    ``motion_adaptive`` boxes from each pair's flow magnitude. Region tokens = ``Linear(stats)`` +
    ``BoxEmbedding``; WuBu-M over them; attention pooling; a linear head. Frame 0 has no incoming pair and
    gets a learned no-motion embedding.
    """

    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        _raise(motion_problems(cfg))
        self.components = list(cfg.flow_stats_components)
        n_feat = stats_dim(self.components)
        kind = cfg.gaad_motion_decomposition_type
        self.adaptive = kind == "motion_adaptive"
        self.num_regions = cfg.gaad_motion_num_regions
        self.min_size = float(cfg.gaad_min_size_px)
        if not self.adaptive:
            boxes = cached_boxes(cfg.image_w, cfg.image_h, self.num_regions, kind, self.min_size,
                                 torch.device("cpu"))
            # moves with .to(device); recomputed from the config, so not saved
            self.register_buffer("boxes", boxes.float().clone(), persistent=False)
        dim = cfg.encoder_initial_tangent_dim
        self.stat_proj = nn.Linear(n_feat, dim)
        self.box_embed = BoxEmbedding(dim)
        self.wubu_m = build_stack(cfg.stack("m", dim))
        self.pool = AttentionPool(self.wubu_m.output_dim)
        self.head = nn.Linear(self.wubu_m.output_dim, out_dim)
        self.no_motion = nn.Parameter(torch.randn(out_dim) / math.sqrt(out_dim))

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        B, P, _, H, W = flow.shape
        start = self.no_motion.to(flow.dtype).expand(B, 1, -1)
        if P == 0:
            return start
        # (B, T-1, 2, H, W) -> (B·(T-1), 2, H, W), in frame fractions
        f = flow.reshape(B * P, 2, H, W) / max(H, W)
        if self.adaptive:
            energy = f.detach().float().pow(2).sum(dim=1).sqrt()  # (B·(T-1), H, W)
            boxes = motion_adaptive_boxes(energy, self.num_regions, self.min_size).to(f.dtype)
        else:
            boxes = self.boxes.to(f.dtype)
        stats = regional_flow_stats(f, boxes, self.components)  # (B·(T-1), N, F)
        tokens = self.stat_proj(stats) + self.box_embed(boxes, W, H)
        pooled = self.pool(self.wubu_m(tokens))  # (B·(T-1), D_m)
        # (B·(T-1), out) -> (B, T-1, out), then frame 0 first
        motion = self.head(pooled).view(B, P, -1)
        return torch.cat([start, motion], dim=1)
