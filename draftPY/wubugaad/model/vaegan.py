"""WuBuGAADHybridGen, the video VAE-GAN network, and `build(settings)` (docs/ARCHITECTURE.md, "The model").

`model(clip, mode, z=None, flow=None)` with `clip` `(B, T, C, H, W)` in [-1, 1]:

- `"train"`: read the whole clip, `z = μ + σ·ε` from the posterior;
- `"reconstruct"`: the same with `z = μ`;
- `"predict"`: read only the first `num_input_frames` frames; `z` = the prior's mean;
- `"generate"`: like predict, with `z` sampled from the prior (no context needed when
  `num_input_frames = 0`: pass a clip of length 0 or any clip; it is not read).

Spatial generator (the default): one code per future frame, `z_t ∈ R^d`, with the posterior
`q(z_t | frames ≤ t)` and the learned prior `p(z_t | frames < t)` (`model/frame_latent.py`); `mu`, `logvar`,
`prior_mu`, `prior_logvar` are `(B, P, d)` (the posterior's in train/reconstruct, the prior's in
predict/generate; `(B, K, size)` with `--latent_layout grid`, `model/grid_latent.py`). A given `z` is the
standard-normal ε of that shape (`noise_shape`) in every mode:
`z_t = μ + σ·ε_t`, so a fixed ε gives fixed samples while the prior learns. `--latent_dim 0`: no latent.

Global generator: one clip-level `z` `(B, d)` whose posterior reads `h_{T−1}`; the prior is `N(0, I)`
(`--prior fixed`) or a diagonal Gaussian from the context code (`--prior learned`, zero-initialised so it
starts at `N(0, I)`); a given `z` is used as the code itself. The context code is `h_{num_input−1}`.

With `--latent_map_channels N` (spatial generator, off by default: its N(0, I) samples decode into noise)
a spatial latent corrects the generator's forecast (`model/latent_map.py`): its posterior reads the
forecast and its error on the targets, its prior is N(0, I), and `predict` returns the forecast itself.
The model holds no loss or optimizer logic;
`aligned_clips(clip, prediction, num_input)` builds the discriminator's time-aligned real/fake pair.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from wubugaad.gaad.regions import GROUPNORM_GROUPS
from wubugaad.model.config import STACK_KEYS, ModelConfig
from wubugaad.model.discriminator import build_discriminator, discriminator_problems
from wubugaad.model.encoder import ClipEncoder
from wubugaad.model.frame_latent import LOGVAR_RANGE, POSTERIOR_INIT_GAIN
from wubugaad.model.generator import VideoGenerator, generator_problems
from wubugaad.model.latent_map import (
    LatentCorrection,
    LatentMapNet,
    latent_map_problems,
    map_level,
    sample_map,
)
from wubugaad.model.motion import build_flow_estimator, flow_problems, motion_problems
from wubugaad.model.spatial import GENERATOR_TYPES, SpatialGenerator, spatial_problems

__all__ = ["MODES", "GENERATOR_TYPES", "ModelOutput", "WuBuGAADHybridGen", "aligned_clips", "build",
           "model_problems"]

MODES = ("train", "reconstruct", "predict", "generate")
# the spatial latent's decoder outputs P·C channels: the 8 channels of a small generator are thin for it
CORRECTION_MIN_WIDTH = 16


class ModelOutput(NamedTuple):
    prediction: torch.Tensor  # (B, P, C, H, W)
    mu: torch.Tensor  # (B, P, latent) spatial generator, (B, latent) global
    logvar: torch.Tensor  # like mu
    context: torch.Tensor | None  # (B, D_h) context code, None without context frames
    prior_mu: torch.Tensor  # like mu
    prior_logvar: torch.Tensor  # like mu
    condition: torch.Tensor | None  # (B, disc_condition_dim), detached, for the discriminator's FiLM
    map_mu: torch.Tensor | None = None  # (B, N, h, w) spatial latent's posterior; zeros (N(0, I)) in predict
    map_logvar: torch.Tensor | None = None
    # (B, P, C, H, W) the generator's output before the spatial latent's correction, with its own gradient
    # (train and reconstruct with the map on; `prediction` reads it detached); None otherwise
    forecast: torch.Tensor | None = None
    # (B, P, C, H, W) the spatial generator's prediction at the prior's mean (what predict returns), run in
    # the same batched call as `prediction` in train mode when `--lambda_recon_prior` > 0; None otherwise
    prior_prediction: torch.Tensor | None = None


def aligned_clips(clip: torch.Tensor, prediction: torch.Tensor, num_input: int,
                  context_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """D's aligned pair: real `[context ; targets]`, fake `[context ; predictions]`.

    `clip` `(B, I + P, C, H, W)`, `prediction` `(B, P, C, H, W)` → two `(B, K + P, C, H, W)` clips whose
    frame `k` shows the same time index in both, so D compares the same moments. They hold the last
    `K = min(context_frames, I)` context frames (all `I` when `context_frames` is None): D judges whether
    the future follows from the recent past, and each context frame left out saves a frame of 3-D
    convolution. The fake keeps the gradient path into `prediction`; detach it for D's own step.
    """
    I, P = int(num_input), prediction.shape[1]
    if clip.shape[1] != I + P or clip.shape[2:] != prediction.shape[2:]:
        raise ValueError(f"aligned_clips needs clip (B, num_input_frames + P, C, H, W) = (B, {I + P}, "
                         f"{', '.join(map(str, prediction.shape[2:]))}) for a prediction of shape "
                         f"{tuple(prediction.shape)} and num_input_frames={I}; got clip {tuple(clip.shape)}")
    K = I if context_frames is None else max(0, min(int(context_frames), I))
    real = clip[:, I - K:]  # (B, K + P, C, H, W)
    fake = torch.cat([clip[:, I - K:I], prediction.to(clip.dtype)], dim=1)
    return real, fake


class WuBuGAADHybridGen(nn.Module):
    def __init__(self, cfg: ModelConfig, flow_estimator: nn.Module | None = None):
        super().__init__()
        self.num_input = cfg.num_input_frames
        self.num_predict = cfg.num_predict_frames
        self.latent_dim = cfg.latent_dim
        # the prior-mean pass rides along in train mode (spatial generator with a latent)
        self.prior_pass = (cfg.lambda_recon_prior > 0 and cfg.latent_dim > 0
                           and cfg.generator_type == "spatial")
        self.spatial = cfg.generator_type == "spatial"
        # the clip-level z's prior (global generator); the spatial generator's per-frame prior is learned
        self.learned_prior = cfg.prior == "learned" and self.num_input > 0 and not self.spatial
        self.encoder = ClipEncoder(cfg)
        self.flow_estimator = flow_estimator
        frozen = flow_estimator is not None and not any(p.requires_grad for p in flow_estimator.parameters())
        # frozen pretrained flow weights are not ours to save (docs/ARCHITECTURE.md, "Checkpoints")
        self.excluded_state_prefixes = ("flow_estimator.",) if frozen else ()
        h_dim, a_dim = self.encoder.output_dim, self.encoder.appearance_dim
        self.posterior = self.prior_head = None
        if not self.spatial:
            self.posterior = nn.Linear(h_dim, 2 * self.latent_dim)
            # start near q(z | clip) = N(0, I) (KL ≈ 0 instead of dominating the first hundreds of steps)
            # while μ and logσ² still read the clip
            with torch.no_grad():
                self.posterior.weight.mul_(POSTERIOR_INIT_GAIN)
            nn.init.zeros_(self.posterior.bias)
        if self.learned_prior:
            self.prior_head = nn.Linear(h_dim, 2 * self.latent_dim)
            nn.init.zeros_(self.prior_head.weight)
            nn.init.zeros_(self.prior_head.bias)
        context_dim = h_dim if self.num_input > 0 else 0
        appearance_dim = a_dim if self.num_input > 0 else 0
        self.latent_map = self.correction = None
        if self.spatial:
            self.generator = SpatialGenerator(cfg, context_dim, appearance_dim, a_dim)
            body, N = self.generator.body, int(cfg.latent_map_channels)
            if N > 0:
                C, P, width = cfg.num_channels, self.num_predict, body.widths[0]
                level = map_level(len(body.sizes))
                self.map_channels, self.map_hw = N, body.sizes[level]
                self.latent_map = LatentMapNet(2 * P * C, width, N, level)
                self.correction = LatentCorrection(N, C, P, max(width, CORRECTION_MIN_WIDTH))
        else:
            self.generator = VideoGenerator(cfg, context_dim, appearance_dim)
        self.disc_condition_dim = context_dim + appearance_dim
        # whether forward reads flow: the motion branch, motion-adaptive boxes or the generator's flow input
        self.reads_flow = (self.encoder.motion is not None or self.encoder.appearance.adaptive
                           or (self.spatial and self.generator.use_flow_input))

    def noise_shape(self, batch: int) -> tuple[int, ...]:
        """Shape of the `z` that `forward` takes for `batch` clips: ε `(B, K, size)` (spatial: K codes of a
        clip, P or the grid's one per joint pass, each `d` or the grid's `d·h·w` numbers), z `(B, d)`."""
        if self.spatial:
            return (batch, self.generator.latent_codes, self.generator.latent_size)
        return (batch, self.latent_dim)

    def prior(self, context: torch.Tensor | None, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior `(μ_p, logvar_p)`, each `(B, latent)`; `like` supplies batch size, dtype and device."""
        if self.prior_head is None or context is None:
            zeros = like.new_zeros(like.shape[0], self.latent_dim)
            return zeros, zeros
        mu, logvar = self.prior_head(context).chunk(2, dim=-1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def _flow(self, frames: torch.Tensor, flow: torch.Tensor | None) -> torch.Tensor | None:
        """Flow of the consecutive pairs of `frames`: given (OpenCV, from the data loader) or estimated;
        None when nothing reads it (no motion branch, no motion-adaptive boxes, no generator flow input)."""
        if not self.reads_flow:
            return None
        B, T, _, H, W = frames.shape
        if flow is not None:
            if flow.dim() != 5 or flow.shape[0] != B or flow.shape[1] < T - 1 or flow.shape[2:] != (2, H, W):
                raise ValueError(f"flow must be (B, T-1, 2, H, W) = ({B}, {max(T - 1, 0)}, 2, {H}, {W}) for "
                                 f"the {T} frames read (pair (t-1, t) at index t-1); got {tuple(flow.shape)}")
            return flow[:, : max(T - 1, 0)]
        if T < 2:
            return frames.new_zeros(B, 0, 2, H, W)
        if self.flow_estimator is None:
            raise ValueError("the motion branch and the generator's flow prior need flow: pass flow=(B, T-1, "
                             "2, H, W) (OpenCV flow from the data loader, see wubugaad.data.flow), build the "
                             "model with a RAFT --optical_flow_net_type, or use --gen_flow_prior none")
        return self.flow_estimator(frames)

    def forward(self, clip: torch.Tensor, mode: str = "train", z: torch.Tensor | None = None,
                flow: torch.Tensor | None = None) -> ModelOutput:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        I = self.num_input
        conditional = mode in ("predict", "generate")
        if not conditional and clip.shape[1] != I + self.num_predict:
            raise ValueError(f"mode {mode!r} needs clips of num_input_frames + num_predict_frames = "
                             f"{I + self.num_predict} frames, got {clip.shape[1]}")
        if z is not None and tuple(z.shape) != self.noise_shape(clip.shape[0]):
            raise ValueError(f"z must be {self.noise_shape(clip.shape[0])} for {clip.shape[0]} clips, got "
                             f"{tuple(z.shape)}")
        # the spatial generator's posterior reads the targets through its own pyramid: the encoder reads
        # the context frames only, in every mode
        frames = clip[:, :I] if conditional or self.spatial else clip
        context = appearance = enc = pairs = None
        h = None
        if frames.shape[1] > 0:
            pairs = self._flow(frames, flow)
            enc = self.encoder(frames, pairs)
            h = enc.h
            if I > 0:
                context, appearance = h[:, I - 1], enc.a[:, I - 1]
        if self.spatial:
            if z is None:
                draw = torch.randn if mode in ("train", "generate") else torch.zeros
                z = draw(self.noise_shape(clip.shape[0]), dtype=clip.dtype, device=clip.device)
            twice = self.prior_pass and mode == "train"
            prediction, stats = self._spatial_prediction(z, context, appearance, frames, enc, pairs,
                                                         None if conditional else clip[:, I:], twice)
            prior_prediction = None
            if twice:
                prediction, prior_prediction = prediction.chunk(2)
            return self._output(clip, prediction, mode, stats, context, appearance)._replace(
                prior_prediction=prior_prediction)
        prior_mu, prior_logvar = self.prior(context, clip.new_empty(clip.shape[0], 1))
        if conditional:
            mu, logvar = prior_mu, prior_logvar
            if z is None:
                noise = torch.randn_like(mu) if mode == "generate" else torch.zeros_like(mu)
                z = mu + (0.5 * logvar).exp() * noise
        else:
            mu, logvar = self.posterior(h[:, -1]).chunk(2, dim=-1)
            logvar = logvar.clamp(*LOGVAR_RANGE)
            if z is None:
                z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if mode == "train" else mu
        prediction = self.generator(z, context, appearance, frames[:, I - 1] if I > 0 else None)
        return self._output(clip, prediction, mode, (mu, logvar, prior_mu, prior_logvar), context, appearance)

    def _output(self, clip, prediction, mode, stats, context, appearance) -> ModelOutput:
        """The output with the spatial latent's correction applied and D's condition."""
        map_mu = map_logvar = forecast = None
        if self.latent_map is not None:
            map_mu, map_logvar, prediction, forecast = self._corrected(clip, prediction, mode)
        condition = None
        if context is not None:
            condition = torch.cat([context, appearance], dim=-1).detach()
        mu, logvar, prior_mu, prior_logvar = stats
        return ModelOutput(prediction, mu, logvar, context, prior_mu, prior_logvar, condition, map_mu,
                           map_logvar, forecast)

    def _corrected(self, clip: torch.Tensor, forecast: torch.Tensor, mode: str) -> tuple[torch.Tensor, ...]:
        """The spatial latent's `(μ, log σ², prediction, forecast)` (`model/latent_map.py`): `prediction` is
        the forecast, corrected by the code in every mode but predict; `forecast` is returned where a loss
        reads it (train, reconstruct), else None."""
        I, seen = self.num_input, forecast.detach()  # (B, P, C, H, W): the code says what the forecast missed
        if mode in ("predict", "generate"):
            mu = forecast.new_zeros(forecast.shape[0], self.map_channels, *self.map_hw)  # N(0, I)
            logvar = torch.zeros_like(mu)
        else:
            mu, logvar = self.latent_map(torch.cat([seen, clip[:, I:] - seen], dim=1))
            logvar = logvar.clamp(*LOGVAR_RANGE)
        if mode == "predict":
            return mu, logvar, forecast, None
        prediction = seen + self.correction(sample_map(mu, logvar, mode), seen, clip[:, I - 1])
        return mu, logvar, prediction, (None if mode == "generate" else forecast)

    def _spatial_prediction(self, noise, context, appearance, frames, enc, pairs, targets, twice):
        """The spatial generator on the context frames, the last one's GAAD regions and its inflow →
        `(prediction, latent statistics)`; the posterior reads `targets` (None: the prior). `twice`: the
        batch runs twice in one call, the second copy at the prior's mean (prediction `(2B, …)`)."""
        I = self.num_input
        boxes = enc.boxes if enc.boxes.dim() == 2 else enc.boxes[:, I - 1]  # (N, 4) or (B, N, 4)
        last_flow = None
        if self.generator.use_flow_input:
            B, _, _, H, W = frames.shape
            # pair (I−2, I−1) moves into the last context frame; one context frame has no pair yet
            last_flow = pairs[:, I - 2] if I >= 2 else frames.new_zeros(B, 2, H, W)
        if twice:
            noise = torch.cat([noise, torch.zeros_like(noise)])
        return self.generator(noise, context, appearance, frames[:, :I], enc.tokens[:, I - 1], boxes,
                              last_flow, targets, twice)

    def geometry_stats(self) -> dict[str, torch.Tensor]:
        """Per-stack geometry scalars keyed `wubu_{s,m,t}/…` (see `WuBuStack.geometry_stats`)."""
        stacks = {"wubu_s": self.encoder.appearance.wubu_s, "wubu_t": self.encoder.wubu_t}
        if self.encoder.motion is not None:
            stacks["wubu_m"] = self.encoder.motion.wubu_m
        return {f"{name}/{key}": value for name, stack in stacks.items()
                for key, value in stack.geometry_stats().items()}


def _wiring_problems(cfg: ModelConfig) -> list[str]:
    """Settings that only fail in combination (each module checks its own in isolation)."""
    problems = []
    if cfg.latent_dim < (0 if cfg.generator_type == "spatial" else 1):
        problems.append(f"--latent_dim must be ≥ 0 with the spatial generator (0: no latent, the "
                        f"deterministic model) and ≥ 1 with the global one (got {cfg.latent_dim})")
    if cfg.disc_use_gaad_film_condition and cfg.num_input_frames < 1:
        problems.append("--disc_use_gaad_film_condition conditions D on the context code and GAAD features "
                        "of the context frames: use --num_input_frames >= 1 or drop the flag")
    if cfg.gaad_decomposition_type == "motion_adaptive" and not cfg.use_wubu_motion_branch:
        problems.append("--gaad_decomposition_type motion_adaptive needs --use_wubu_motion_branch "
                        "(or choose subdivide, spiral or hybrid)")
    if cfg.gaad_box_layout != "golden" and cfg.gaad_decomposition_type == "motion_adaptive":
        problems.append(f"--gaad_box_layout {cfg.gaad_box_layout} replaces a static golden set and is "
                        "matched to its coverage: use --gaad_decomposition_type subdivide, spiral or hybrid "
                        "with it")
    if cfg.gaad_min_size_px > min(cfg.image_h, cfg.image_w):
        problems.append(f"--gaad_min_size_px ({cfg.gaad_min_size_px}) must not exceed the smaller frame "
                        f"side ({min(cfg.image_h, cfg.image_w)})")
    if cfg.encoder_shallow_cnn_channels % GROUPNORM_GROUPS:
        problems.append(f"--encoder_shallow_cnn_channels must be divisible by {GROUPNORM_GROUPS} for "
                        f"GroupNorm (got {cfg.encoder_shallow_cnn_channels}; e.g. 32)")
    return problems


def model_problems(cfg: ModelConfig) -> list[str]:
    """Every problem of a configuration, one line each naming its flag (empty when `build` would succeed
    as far as settings go). The command-line parser reports exactly these, so library use and the command
    line share one definition of every limit."""
    problems = _wiring_problems(cfg) + flow_problems(cfg) + motion_problems(cfg) + generator_problems(cfg)
    problems += spatial_problems(cfg) + latent_map_problems(cfg)
    problems += discriminator_problems(cfg)
    for key in STACK_KEYS:
        problems += cfg.stack_problems(key)
    return list(dict.fromkeys(problems))  # the shared --wubu_dropout is reported once


def build(settings, pretrained_flow: bool = True) -> tuple[WuBuGAADHybridGen, nn.Module]:
    """`(model, discriminator)` from a `ModelConfig` or anything carrying its fields (the parser's
    namespace); `ValueError` listing every `model_problems` line. `pretrained_flow=False` gives RAFT random
    weights (tests, benchmarks); otherwise missing RAFT weights raise `MissingWeightsError` with both ways
    out."""
    cfg = ModelConfig.from_args(settings)
    problems = model_problems(cfg)
    if problems:
        raise ValueError("; ".join(problems))
    flow_estimator = build_flow_estimator(cfg, pretrained=pretrained_flow)
    model = WuBuGAADHybridGen(cfg, flow_estimator)
    discriminator = build_discriminator(cfg, model.disc_condition_dim)
    return model, discriminator
