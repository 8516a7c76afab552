"""The spatial generator: a U-Net over the context frames that warps the last frame and, optionally, blends
in a synthesised correction.

    context frames ─2-D conv pyramid (shared per frame)─► F_t^k at strides 2^k, k = 0 … L−1
    skips S^k = fuse(F_0^k … F_{I−1}^k) + F_{I−1}^k                  (context frames only: causal)
    bottleneck = S^{L−1} + paint(GAAD region tokens of x_last) + tile(W_z z_t)
    decoder: up to each finer scale, concat S^k, conv → GroupNorm → FiLM([z_t ; h ; a_last]) → SiLU
    head (one zero-initialised conv, `out`) per target frame p: flow f_p (with synthesis: mask, r_p)
    x̂_p = warp(x_last, f_p)                              (default)
    x̂_p = warp(x_last, f_p) + σ(mask_p) · (r_p + U(W_r z_p))   (--gen_synthesis)

- The latent: z_t, one code per future frame with a learned prior. `--latent_layout vector`
  (`model/frame_latent.py`): a vector read in the FiLM condition, the bottleneck tile and the synthesis
  residual `W_r` (the joint pass reads all P codes flattened in the first two, each frame's own in `W_r`).
  `--latent_layout grid` (`model/grid_latent.py`): a code per cell of the coarsest grid, read in its cells
  of the bottleneck, as a flow offset and as an image correction. `--latent_dim 0`: the deterministic model.
- The body (pyramid, fusion, paint, decoder): `model/spatial_body.py`.
- Synthesis (`--gen_synthesis`, off by default: it fits the training video, bench/RESULTS.md); Moving
  Fashion-MNIST, whose bouncing objects' far frames must be invented, turns it on. Without the warp, always.
- Blend: `s_p = warp + r_p`, so `x̂ = (1 − m)·warp + m·s = warp + m·r`. The head conv starts at zero (but
  the mask logit's bias), so at init flow = 0, r = 0 and, at `z = 0` (the prior's mean at init), `x̂` is
  the last context frame exactly for any mask value. The latent's readers (bias-free, small random init)
  make the output depend on `z` from the first step.
- The mask logit starts at `--gen_mask_init_logit` (default `MASK_INIT_LOGIT`, σ ≈ 0.02): nearly shut,
  the synthesis opens where it pays (RESULTS); 0 where far frames must be synthesised (bouncing objects).
- Flow is in pixels, bounded by `max·tanh(raw/max)` (`--gen_max_flow_px`); with the motion branch on, the
  last context flow (pair `(I−2, I−1)`, in units of that bound) is an input of the head.
- Temporal extrapolation (`--gen_extrapolate`, on by default: +1.84 dB on the demo stream with the prior
  confidence, RESULTS): one more head channel `e_p` (0 at init) adds `e_p · k_p · (x_base − x_before)`,
  each pixel's last change continued in time, before the warp: changes that stay in place (drifting
  gratings, shading, fades), which a single flow cannot express; with `--gen_change_persistence` only the
  part the change before predicts (`model/persistence.py`).
- Flow prior (`--gen_flow_prior`, default `dis`): the classical flow of the last context pair (from the
  loader, or the motion branch's own) is an input of the head, and its constant-velocity extrapolation
  starts the warp: `raw_p ← raw_p + g_p · k_p · (−f_last)`, `k_p = p + 1` in the joint pass and 1 in the
  rollout (whose next input is the frame's own flow); `−f_last` is the sampling flow that carries the last
  frame one step further; `g_p = GAIN · γ_p`, `γ_p` learned and 0 at init (init identity), the gain lets
  Adam open the gate in tens of steps. Computed, not learned, it generalises to unseen shapes and paths.
- Prior confidence (`--gen_flow_confidence`): a head channel `u_p` (0 at init) scales the prior per pixel by
  `1 + tanh(u_p)` ∈ (0, 2): towards copying (0) where the classical flow is wrong, faster where it speeds up.
- Copy blend (`--gen_copy_blend`, on by default: +0.12 dB on Big Buck Bunny, +0.10 dB on the demo stream,
  RESULTS): a head channel `b_p` mixes the warp with the unwarped frame, `x̂ ← x̂ + σ(b_p)·(x_kept − x̂)`:
  where the motion is uncertain the frame with the least expected squared error lies between moving and
  staying, which neither one flow nor its scaling expresses. σ(0) = ½ at init; the init identity holds
  (at zero flow the warp is the unwarped frame).
- Several target frames (`--gen_rollout`, the default): one frame per decoder pass, each warped from the
  frame before it and fed back: the prediction is encoded by the same pyramid, the window of the last I
  frames' features slides by one, and the head's flow input becomes the negated previous flow. Context
  frames are encoded once; the loop over future frames is the one loop over frames in the step.
  `--no_gen_rollout` predicts all frames in one pass (one head per frame): better on Moving Fashion-MNIST,
  the rollout on held-out demo video (RESULTS).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wubugaad.data.flow import OPENCV_TYPES
from wubugaad.geometry.warp import warp
from wubugaad.model.flow_reads import flow_reads
from wubugaad.model.frame_latent import FrameLatent
from wubugaad.model.grid_latent import GridFrameLatent
from wubugaad.model.persistence import last_change
from wubugaad.model.spatial_body import SpatialBody

GENERATOR_TYPES = ("spatial", "global")
LATENT_LAYOUTS = ("vector", "grid")
FLOW_PRIORS = ("none", *OPENCV_TYPES)
FLOW_PRIOR_GATE_GAIN = 10.0  # Adam moves γ by ~lr a step: the gate g = GAIN·γ opens in tens of steps
LATENT_RESIDUAL_STD = 0.02
MASK_INIT_LOGIT = -4.0  # σ(−4) ≈ 0.018: +0.15 dB on held-out demo video against σ(0) = 0.5 (bench/RESULTS.md)


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
    if not math.isfinite(cfg.gen_mask_init_logit):
        problems.append(f"--gen_mask_init_logit must be a finite number (got {cfg.gen_mask_init_logit}; "
                        f"e.g. {MASK_INIT_LOGIT:g} or 0)")
    if cfg.gen_flow_prior not in FLOW_PRIORS:
        problems.append(f"--gen_flow_prior must be one of {', '.join(FLOW_PRIORS)} "
                        f"(got {cfg.gen_flow_prior!r})")
    return problems


class SpatialGenerator(nn.Module):
    """`forward(noise, context, appearance, frames, tokens, boxes, last_flow, targets, twice)` →
    `(prediction (B, P, C, H, W), (μ, log σ², μ_p, log σ_p²))`, the latent's statistics each `(B, P, d)`.

    `noise` `(B, P, d)` is the latent's ε (`model/frame_latent.py`); `targets` `(B, P, C, H, W)` the true
    future frames (the posterior reads them) or None (the prior); `frames` `(B, I, C, H, W)` the context;
    `tokens` `(B, N, D_s)` and `boxes` (`(N, 4)` or `(B, N, 4)`) the GAAD regions of the last one;
    `last_flow` `(B, 2, H, W)` (pixels) the flow into the last context frame when the motion branch or the
    flow prior is on (`use_flow_input`), else `None`. `twice`: a second copy of the batch runs at the noise's
    second half (the prior-mean pass), sharing the context frames' encoding.
    """

    def __init__(self, cfg, context_dim: int, appearance_dim: int, token_dim: int):
        super().__init__()
        problems = spatial_problems(cfg)
        if problems:
            raise ValueError("; ".join(problems))
        self.P, self.C = int(cfg.num_predict_frames), int(cfg.num_channels)
        self.rollout, self.use_warp = bool(cfg.gen_rollout), bool(cfg.gen_use_warp)
        two_frames = int(cfg.num_input_frames) >= 2
        reads = flow_reads(cfg)
        self.use_flow_prior, self.use_flow_input = reads.generator_prior, reads.generator_input
        self.max_flow = float(cfg.gen_max_flow_px)
        latent_dim = int(cfg.latent_dim)
        frames_per_pass = 1 if self.rollout else self.P
        self.grid_latent = cfg.latent_layout == "grid" and latent_dim > 0
        # the vector layout's joint pass reads all P codes, flattened, in the condition and the tile
        z_dim = 0 if self.grid_latent else frames_per_pass * latent_dim
        self.body = SpatialBody(cfg, z_dim + context_dim + appearance_dim, token_dim, z_dim)
        # without the warp the blended correction is the only thing the head can change
        self.use_synthesis = bool(cfg.gen_synthesis) or not self.use_warp
        # a code's size, flattened, and the codes of a clip (one per frame; the grid's: one per pass)
        self.frame_latent, self.latent_size, self.latent_codes = None, latent_dim, self.P
        if self.grid_latent:
            self.frame_latent = GridFrameLatent(self.body.widths[-1], self.body.sizes[-1],
                                                int(cfg.num_input_frames), context_dim, latent_dim,
                                                frames_per_pass, self.C, self.use_synthesis)
            self.latent_size, self.latent_codes = self.frame_latent.size, self.P // frames_per_pass
        elif latent_dim > 0:
            self.frame_latent = FrameLatent(self.body.widths[-1], int(cfg.num_input_frames), context_dim,
                                            latent_dim, frames_per_pass)
        c0 = self.body.widths[0]
        self.use_extrapolate = bool(cfg.gen_extrapolate) and two_frames
        self.persistence = bool(cfg.gen_change_persistence)
        self.use_confidence = bool(cfg.gen_flow_confidence) and self.use_flow_prior
        self.use_blend = bool(cfg.gen_copy_blend) and self.use_warp
        # per target frame: (flow x, flow y)?, extrapolation e?, prior confidence u?, copy blend b?,
        # (mask, r (C))?: the channel index of each optional one
        self.at_e = 2 if self.use_warp else 0
        self.at_u = self.at_e + (1 if self.use_extrapolate else 0)
        self.at_b = self.at_u + (1 if self.use_confidence else 0)
        self.per_frame = self.at_b + (1 if self.use_blend else 0) + (1 + self.C if self.use_synthesis else 0)
        ks = int(cfg.gen_final_conv_kernel_spatial)
        if ks % 2 == 0:
            raise ValueError(f"--gen_final_conv_kernel_spatial must be odd (got {ks}) so the output keeps "
                             "the frame size")
        # head input: decoder features and the flow input
        head_in = c0 + (2 if self.use_flow_input else 0)
        self.out = nn.Conv2d(head_in, frames_per_pass * self.per_frame, ks, padding=ks // 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        if self.use_synthesis:
            with torch.no_grad():  # by default the blend starts nearly closed: the warp leads
                mask_bias = self.out.bias.view(frames_per_pass, self.per_frame)[:, -self.C - 1]
                mask_bias.fill_(float(cfg.gen_mask_init_logit))
        # per frame of a pass: k_p, the multiple of the last flow the prior extrapolates to, and γ_p
        steps = torch.ones(1) if self.rollout else torch.arange(1, self.P + 1, dtype=torch.float32)
        self.register_buffer("prior_steps", steps, persistent=False)
        self.flow_prior_gate = nn.Parameter(torch.zeros(frames_per_pass)) if self.use_flow_prior else None
        h, w = self.body.sizes[-1]
        self.coarse_hw = (h, w)
        self.latent_residual = None
        if self.use_synthesis and latent_dim > 0 and not self.grid_latent:
            # one map for every frame: z_p carries what is particular to frame p
            self.latent_residual = nn.Linear(latent_dim, self.C * h * w, bias=False)
            nn.init.normal_(self.latent_residual.weight, std=LATENT_RESIDUAL_STD / math.sqrt(latent_dim))

    def forward(self, noise: torch.Tensor, context: torch.Tensor, appearance: torch.Tensor,
                frames: torch.Tensor, tokens: torch.Tensor, boxes: torch.Tensor,
                last_flow: torch.Tensor | None, targets: torch.Tensor | None = None, twice: bool = False,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        H, W = frames.shape[-2:]
        window = self.body.encode(frames)
        painted = self.body.painted(tokens, boxes)
        if twice:  # the prior-mean pass: the same clips, encoded once, stacked under themselves
            window = [torch.cat([f, f]) for f in window]
            painted, frames, context, appearance, last_flow = (
                None if x is None else torch.cat([x, x])
                for x in (painted, frames, context, appearance, last_flow))
        goal = None  # the true targets' summaries (B, P, S): the posterior's evidence
        if targets is not None and self.frame_latent is not None:
            goal = self.frame_latent.summary(self.body.encode(targets)[-1])  # one batched pass over P targets
        base, flow_in = frames[:, -1], last_flow
        change = last_change(frames, self.persistence) if self.use_extrapolate else None  # (B, C, H, W)
        if not self.rollout:
            z, stats = self._latent(window, context, goal, noise)
            head = self._pass(window, z, context, appearance, painted, flow_in)
            return self._compose(head, base, *self._latent_reads(z, H, W), flow_in, change)[0], stats
        predictions, parts = [], []
        for p in range(self.P):  # frame p + 1 is warped from frame p: sequential by nature
            # z_p's prior reads the window as it stands before frame p
            z, stats = self._latent(window, context, None if goal is None else goal[:, p : p + 1],
                                    noise[:, p : p + 1])
            head = self._pass(window, z, context, appearance, painted, flow_in)
            frame, flow = self._compose(head, base, *self._latent_reads(z, H, W), flow_in, change)
            predictions.append(frame)  # (B, 1, C, H, W)
            parts.append(stats)
            if p + 1 < self.P:
                if self.use_extrapolate:  # the last (up to three) frames in pixels, slid by one
                    frames = torch.cat([frames[:, 1:][:, -2:], frame], dim=1)
                    change = last_change(frames, self.persistence)
                base = frame[:, 0]
                window = [torch.cat([old[:, 1:], new], dim=1)
                          for old, new in zip(window, self.body.encode(frame), strict=True)]
                flow_in = None if flow is None else -flow[:, 0]
        return torch.cat(predictions, dim=1), tuple(torch.cat(s, dim=1) for s in zip(*parts, strict=True))

    def _latent(self, window: list[torch.Tensor], context: torch.Tensor, goal: torch.Tensor | None,
                noise: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The codes `(B, F, d)` of a pass's F frames and their statistics; without a latent (d = 0) the
        empty `noise` stands for all of them."""
        if self.frame_latent is None:
            return noise, (noise,) * 4
        return self.frame_latent(self.frame_latent.past(window[-1], context), goal, noise)

    def _pass(self, window: list[torch.Tensor], z: torch.Tensor, context: torch.Tensor,
              appearance: torch.Tensor, painted: torch.Tensor | None,
              flow_in: torch.Tensor | None) -> torch.Tensor:
        """One decoder pass for the codes `z` `(B, F, d)` of its frames → the head `(B, F, K, H, W)`."""
        flat = z.new_empty(z.shape[0], 0) if self.grid_latent else z.flatten(1)  # grid: not in the condition
        bottleneck = self.body.bottleneck_input(flat, painted)
        if self.grid_latent:  # the code enters where it is: its cells of the bottleneck
            grid = self.frame_latent.bottleneck(z)
            bottleneck = grid if bottleneck is None else grid + bottleneck
        return self._head(window, bottleneck, torch.cat([flat, context, appearance], dim=-1), flow_in)

    def _latent_reads(self, z: torch.Tensor, H: int, W: int) -> tuple[torch.Tensor | None, ...]:
        """Each frame's image correction `(B, F, C, H, W)` and flow offset `(B, F, 2, H, W)`, or None."""
        if self.grid_latent:
            offset = self.frame_latent.flow_offset(z, (H, W)) if self.use_warp else None
            return self.frame_latent.correction(z, (H, W)), offset
        if self.latent_residual is None:
            return None, None
        (B, Fr), (h, w) = z.shape[:2], self.coarse_hw  # (B, F, C·h·w) → (B·F, C, h, w) → bilinear
        coarse = self.latent_residual(z).view(B * Fr, self.C, h, w)
        up = F.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)
        return up.view(B, Fr, self.C, H, W), None

    def _head(self, window: list[torch.Tensor], bottleneck: torch.Tensor | None, cond: torch.Tensor,
              flow_in: torch.Tensor | None) -> torch.Tensor:
        """Decoder and output conv → `(B, F, K, H, W)`: K head channels for each of the F frames of a pass."""
        feats = self.body.decode(window, bottleneck, cond)
        if self.use_flow_input:
            feats = torch.cat([feats, flow_in.to(feats.dtype) / self.max_flow], dim=1)
        head = self.out(feats)  # (B, F·K, H, W) → (B, F, K, H, W)
        return head.view(head.shape[0], -1, self.per_frame, *head.shape[-2:])

    def _compose(self, head: torch.Tensor, base: torch.Tensor, latent: torch.Tensor | None,
                 offset: torch.Tensor | None, flow_in: torch.Tensor | None,
                 change: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`x̂ = warp(base, flow) + σ(mask)·(correction + latent)` for the F frames of `head` → `(x̂, flow)`,
        `x̂` `(B, F, C, H, W)`, `flow` `(B, F, 2, H, W)` in pixels (`None` without warping); without
        synthesis `x̂ = warp(base, flow)`; with the flow prior, the gated extrapolation of `flow_in` joins
        the head's raw flow; with temporal extrapolation, `e_p·k_p·change` (`change` `(B, C, H, W)`, the
        base's last change) is added to the base first; with the copy blend, the warp is mixed with that
        unwarped base by σ(b_p) before the synthesis is added."""
        B, Fr, _, H, W = head.shape
        C = self.C
        blended = 0.0
        if self.use_synthesis:
            mask = torch.sigmoid(head[:, :, -C - 1 : -C])  # (B, F, 1, H, W)
            correction = head[:, :, -C:]
            blended = mask * (correction if latent is None else correction + latent)
        steps = self.prior_steps.to(base.dtype)  # k_p, (F,)
        kept = base.unsqueeze(1).expand(B, Fr, C, H, W)
        if change is not None:
            e = head[:, :, self.at_e : self.at_e + 1]
            kept = kept + e * steps[:, None, None, None] * change.unsqueeze(1)
        if not self.use_warp:
            return kept + blended, None
        raw = head[:, :, :2] if offset is None else head[:, :, :2] + offset  # (B, F, 2, H, W) pixels
        if self.flow_prior_gate is not None:
            gain = FLOW_PRIOR_GATE_GAIN * self.flow_prior_gate.to(raw.dtype) * steps  # (F,)
            prior = gain[:, None, None, None] * flow_in.to(raw.dtype)[:, None]  # (B, F, 2, H, W)
            if self.use_confidence:
                # per pixel, how far the classical flow is trusted: 0 falls back to the head's own flow
                # (copy-last where it is 0), 2 doubles the velocity (acceleration); 1 at init
                prior = prior * (1.0 + torch.tanh(head[:, :, self.at_u : self.at_u + 1]))
            raw = raw - prior
        flow = self.max_flow * torch.tanh(raw / self.max_flow)
        warped = warp(kept.reshape(B * Fr, C, H, W), flow.reshape(B * Fr, 2, H, W)).view(B, Fr, C, H, W)
        if self.use_blend:  # towards the unwarped frame where moving is uncertain
            beta = torch.sigmoid(head[:, :, self.at_b : self.at_b + 1])
            warped = warped + beta * (kept - warped)
        return warped + blended, flow
