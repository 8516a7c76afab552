"""The spatial generator's per-frame latent with a learned prior (the SVG-LP structure, Denton & Fergus 2018).

For every future frame t, a code z_t ∈ R^d (d = `--latent_dim`):

    a_t = [ S(coarsest features of the window before t) ; h_ctx ]      what is known before frame t
    p(z_t | frames < t)  = N(μ_p, σ_p²) = prior(a_t)                     predict / generate
    q(z_t | frames ≤ t)  = N(μ_q, σ_q²) = posterior([a_t ; S(E(x_t))])  train / reconstruct
    KL_t = KL(q ‖ p), analytic (diagonal Gaussians)

`E` is the generator's own per-frame pyramid (`SpatialBody.encode`), h_ctx the WuBu-T context code and `S`
a frame's summary: a 1×1 conv to `SUMMARY_CHANNELS` channels, average-pooled to a `SUMMARY_GRID`² grid
and flattened. Why a grid and not a global average: the average of convolutional features barely changes
when an object moves, so a posterior reading it could not tell "left" from "right" (measured on the
two-futures test: samples all took one future). The window is the one the rollout slides: the last I
frames (context, then predictions). In the joint pass (`--no_gen_rollout`) all P frames share the context
window: the prior head emits the P frames' statistics at once and the posterior is one head shared over
the (B·P) targets.

- **Modes** (`sample`): `train` z = μ_q + σ_q·ε, `reconstruct` μ_q, `predict` μ_p + σ_p·ε with ε = 0 unless
  given, `generate` μ_p + σ_p·ε with ε ~ N(0, I) unless given. The model draws ε `(B, P, d)` once, before
  the rollout, so a seed fixes every frame's sample and a given ε (fixed-noise grids) stays fixed while the
  prior moves during training.
- **Init**: the prior's output layer is zero, so it starts at N(0, I) and `predict` (μ_p = 0) keeps the
  generator's init identity; the posterior's output layer starts small (`POSTERIOR_INIT_GAIN`), so KL ≈ 0
  at init rather than dominating the first steps, while μ_q already reads the target.
- **Why learned**: a fixed N(0, I) prior makes generated samples codes the decoder never saw next to this
  context (the noise `--latent_map_channels` decodes into); a prior that reads the past proposes the codes
  the posterior used for similar pasts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOGVAR_RANGE = (-12.0, 8.0)  # keeps σ = exp(logvar/2) in a float32-safe range
POSTERIOR_INIT_GAIN = 0.01  # shrinks PyTorch's default init of the posterior's output layer
MIN_HIDDEN = 32  # the heads' hidden width is max(4·d, this)
SUMMARY_CHANNELS = 8  # a frame's summary: 8 channels on a 4 × 4 grid, 128 numbers whatever the frame size
SUMMARY_GRID = 4


def _head(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(c_in, hidden), nn.SiLU(), nn.Linear(hidden, c_out))


def _stats(x: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(…, F·2d)` → `(μ, log σ²)`, each `(…, F, d)`."""
    x = x.view(*x.shape[:-1], -1, 2 * d)
    mu, logvar = x.chunk(2, dim=-1)
    return mu, logvar.clamp(*LOGVAR_RANGE)


class FrameLatent(nn.Module):
    """Prior and posterior heads of the per-frame latent (module docstring).

    `feat_dim` is the coarsest pyramid width, `window` the frames of the window (I), `frames_per_pass` F the
    frames whose prior one window gives (1 in the rollout, P in the joint pass)."""

    def __init__(self, feat_dim: int, window: int, context_dim: int, latent_dim: int, frames_per_pass: int):
        super().__init__()
        self.d = int(latent_dim)
        summary = SUMMARY_CHANNELS * SUMMARY_GRID**2
        self.reduce = nn.Conv2d(feat_dim, SUMMARY_CHANNELS, 1)
        past = window * summary + context_dim
        hidden = max(4 * self.d, MIN_HIDDEN)
        self.prior = _head(past, hidden, frames_per_pass * 2 * self.d)
        nn.init.zeros_(self.prior[-1].weight)
        nn.init.zeros_(self.prior[-1].bias)
        self.posterior = _head(past + summary, hidden, 2 * self.d)
        with torch.no_grad():
            self.posterior[-1].weight.mul_(POSTERIOR_INIT_GAIN)
        nn.init.zeros_(self.posterior[-1].bias)

    def summary(self, coarse: torch.Tensor) -> torch.Tensor:
        """Coarsest features `(B, T, C_L, h, w)` → `(B, T, S)`: each frame's summary `S` (module docstring),
        all frames in one batched call."""
        B, T = coarse.shape[:2]
        x = F.adaptive_avg_pool2d(self.reduce(coarse.flatten(0, 1)), SUMMARY_GRID)
        return x.reshape(B, T, -1)  # the pooled map may come back channels-last

    def past(self, window_coarse: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """`a_t` `(B, I·S + D_h)` from the window's coarsest features `(B, I, C_L, h, w)` and the context
        code `(B, D_h)`."""
        return torch.cat([self.summary(window_coarse).flatten(1), context.to(window_coarse.dtype)], dim=-1)

    def forward(self, past: torch.Tensor, target: torch.Tensor | None, noise: torch.Tensor,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """`z` `(B, F, d)` for the F frames of a pass and `(μ, log σ², μ_p, log σ_p²)`, each `(n, F, d)`: the
        posterior's and the prior's when `target` is given, else the prior's twice (n = B).
        `z = μ + σ·noise` (`noise` `(B, F, d)`: ε, or zeros for the mean). `target` is `summary` of the
        targets' coarsest features `(n, F, S)` for the first n ≤ B rows; rows past n (the prior-mean pass of
        `--lambda_recon_prior`) take the prior."""
        prior_mu, prior_logvar = _stats(self.prior(past), self.d)  # (B, F, d)
        if target is None:
            z = prior_mu + (0.5 * prior_logvar).exp() * noise.to(prior_mu.dtype)
            return z, (prior_mu, prior_logvar, prior_mu, prior_logvar)
        n = target.shape[0]  # < B: the rows past n take the prior (the prior-mean pass riding along)
        both = torch.cat([past[:n, None].expand(-1, target.shape[1], -1), target], dim=-1)
        mu, logvar = _stats(self.posterior(both), self.d)  # shared over the (n·F) targets
        mu, logvar = mu.squeeze(-2), logvar.squeeze(-2)
        z = mu + (0.5 * logvar).exp() * noise[:n].to(mu.dtype)
        if n < past.shape[0]:
            rest = prior_mu[n:] + (0.5 * prior_logvar[n:]).exp() * noise[n:].to(mu.dtype)
            z = torch.cat([z, rest])
        return z, (mu, logvar, prior_mu[:n], prior_logvar[:n])
