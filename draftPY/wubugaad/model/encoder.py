"""The clip encoder: GAAD regions → WuBu-S → per-frame appearance `a_t`, optional motion `m_t` (GAAD-M +
WuBu-M), WuBu-T over `[a_t ; m_t]` with causal time mixing → `h_t` (steps 1–4 of docs/ARCHITECTURE.md,
"One training step").

Causality is structural: `a_t` reads frame `t` only, `m_t` reads the pair `(t−1, t)` only (frame 0 a
learned "no motion yet" code), and WuBu-T never lets position `t` attend to `t' > t`. So the context code
`h_{num_input−1}` cannot see a target frame.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from wubugaad.gaad.boxes import cached_boxes, motion_adaptive_boxes
from wubugaad.gaad.controls import golden_area_fraction, grid_boxes, random_boxes
from wubugaad.gaad.regions import AttentionPool, RegionTokenizer
from wubugaad.model.config import ModelConfig
from wubugaad.model.motion import MotionEncoder
from wubugaad.wubu.stack import build_stack

EVAL_BOX_SEED = 0  # random control boxes in eval mode: the same draws at every validation


class AppearanceEncoder(nn.Module):
    """Frames `(B, T, C, H, W)` → appearance codes `(B, T, D_s)` from GAAD region tokens.

    Static GAAD types use one cached box set for every frame. `motion_adaptive` (needs the motion
    branch) places frame `t`'s boxes by the flow energy of pair `(t−1, t)`; frame 0 has no incoming
    pair and uses the static hybrid set. The control layouts (`--gaad_box_layout`, `gaad/controls.py`)
    replace the golden set by a uniform grid (one set for every frame) or by random boxes drawn per clip
    (shared by its frames; in eval mode from a fixed seed, so validation neither varies nor moves the
    training random stream).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        kind = cfg.gaad_decomposition_type
        self.adaptive = kind == "motion_adaptive"
        self.num_regions = cfg.gaad_num_regions
        self.min_size = float(cfg.gaad_min_size_px)
        static_kind = "hybrid" if self.adaptive else kind
        self.layout, self.frame_wh = cfg.gaad_box_layout, (float(cfg.image_w), float(cfg.image_h))
        layout_boxes = grid_boxes if self.layout == "grid" else cached_boxes
        static = layout_boxes(cfg.image_w, cfg.image_h, self.num_regions, static_kind, self.min_size,
                              torch.device("cpu"))
        # every random box covers this share of the frame: together they cover as much as the golden set
        self.area_fraction = golden_area_fraction(*self.frame_wh, self.num_regions, static_kind,
                                                  self.min_size)
        # recomputed from the config, so not saved; moves with .to(device)
        self.register_buffer("boxes", static.float().clone(), persistent=False)
        dim = cfg.encoder_initial_tangent_dim
        self.tokenizer = RegionTokenizer(
            in_channels=cfg.num_channels,
            token_dim=dim,
            use_roi_align=cfg.encoder_use_roi_align,
            cnn_channels=cfg.encoder_shallow_cnn_channels,
            roi_output_hw=(cfg.encoder_roi_align_output_h, cfg.encoder_roi_align_output_w),
            patch_size=cfg.encoder_pixel_patch_size,
        )
        self.wubu_s = build_stack(cfg.stack("s", dim))
        self.pool = AttentionPool(self.wubu_s.output_dim)
        self.output_dim = self.wubu_s.output_dim

    def frame_boxes(self, B: int, T: int, flow: torch.Tensor | None) -> torch.Tensor:
        """`(N, 4)` shared boxes, or `(B·T, N, 4)` motion-adaptive or random boxes per frame."""
        if self.layout == "random":
            device = self.boxes.device
            generator = None if self.training else torch.Generator(device).manual_seed(EVAL_BOX_SEED)
            boxes = random_boxes(B, *self.frame_wh, self.num_regions, self.area_fraction, device, generator)
            return boxes.to(self.boxes.dtype).unsqueeze(1).expand(B, T, -1, -1).flatten(0, 1)  # (B·T, N, 4)
        if not self.adaptive:
            return self.boxes
        if flow is None:
            raise ValueError("--gaad_decomposition_type motion_adaptive needs flow: enable "
                             "--use_wubu_motion_branch or pick subdivide/spiral/hybrid")
        first = self.boxes.expand(B, 1, -1, -1)
        if T == 1:  # a one-frame clip (predict mode with one context frame) has no pair to place boxes by
            return first.flatten(0, 1)  # (B, N, 4)
        # (B, T−1, 2, H, W) → per-pair energy (B·(T−1), H, W)
        energy = flow.detach().float().pow(2).sum(dim=2).sqrt().flatten(0, 1)
        moving = motion_adaptive_boxes(energy, self.num_regions, self.min_size).view(B, T - 1, -1, 4)
        return torch.cat([first, moving.to(self.boxes.dtype)], dim=1).flatten(0, 1)  # (B·T, N, 4)

    def forward(self, frames: torch.Tensor, flow: torch.Tensor | None = None):
        """→ `(a (B, T, D_s), region tokens after WuBu-S (B, T, N, D_s), boxes (N, 4) or (B, T, N, 4))`."""
        B, T = frames.shape[:2]
        boxes = self.frame_boxes(B, T, flow)
        tokens = self.wubu_s(self.tokenizer(frames.flatten(0, 1), boxes))  # (B·T, N, D_s)
        pooled = self.pool(tokens)  # (B·T, D_s)
        if boxes.dim() == 3:
            boxes = boxes.view(B, T, *boxes.shape[1:])  # (B·T, N, 4) → (B, T, N, 4)
        return pooled.view(B, T, -1), tokens.view(B, T, *tokens.shape[1:]), boxes


class EncoderOutput(NamedTuple):
    h: torch.Tensor  # (B, T, D_h) WuBu-T codes
    a: torch.Tensor  # (B, T, D_s) pooled appearance codes
    tokens: torch.Tensor  # (B, T, N, D_s) GAAD region tokens after WuBu-S
    boxes: torch.Tensor  # (N, 4) shared, or (B, T, N, 4) motion-adaptive, pixel [x1, y1, x2, y2]


class ClipEncoder(nn.Module):
    """Clip (and flow) → `EncoderOutput`: `h` `(B, T, D_h)`, `a` `(B, T, D_s)` kept for conditioning, and
    the region tokens with their boxes (the spatial generator paints them back into space).

    `flow` is `(B, T−1, 2, H, W)` when the motion branch is on.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.appearance = AppearanceEncoder(cfg)
        in_dim = self.appearance.output_dim
        self.motion = None
        if cfg.use_wubu_motion_branch:
            motion_dim = cfg.encoder_initial_tangent_dim
            self.motion = MotionEncoder(cfg, motion_dim)
            in_dim += motion_dim
        self.wubu_t = build_stack(cfg.stack("t", in_dim))
        self.output_dim = self.wubu_t.output_dim
        self.appearance_dim = self.appearance.output_dim

    def forward(self, frames: torch.Tensor, flow: torch.Tensor | None = None) -> EncoderOutput:
        a, tokens, boxes = self.appearance(frames, flow)
        seq = a if self.motion is None else torch.cat([a, self.motion(flow)], dim=-1)  # (B, T, D_s [+ D_m])
        return EncoderOutput(self.wubu_t(seq), a, tokens, boxes)
