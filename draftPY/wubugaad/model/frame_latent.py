"""The spatial generator's per-frame latent with a learned prior (the SVG-LP structure, Denton & Fergus 2018).

For every future frame t, a code z_t ∈ R^d (d = `--latent_dim`):

    a_t = [ GAP(coarsest features of the window before t) ; h_ctx ]      what is known before frame t
    p(z_t | frames < t)  = N(μ_p, σ_p²) = prior(a_t)                       predict / generate
    q(z_t | frames ≤ t)  = N(μ_q, σ_q²) = posterior([a_t ; GAP(E(x_t))])  train / reconstruct
    KL_t = KL(q ‖ p), analytic (diagonal Gaussians)

`GAP` is the global average over the coarsest grid of the generator's own per-frame pyramid `E`
(`SpatialBody.encode`), h_ctx the WuBu-T context code. The window is the one the rollout slides: the last I
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
from torch import nn

LOGVAR_RANGE = (-12.0, 8.0)  # keeps σ = exp(logvar/2) in a float32-safe range
POSTERIOR_INIT_GAIN = 0.01  # shrinks PyTorch's default init of the posterior's output layer
MIN_HIDDEN = 32  # the heads' hidden width is max(4·d, this)


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
        past = window * feat_dim + context_dim
        hidden = max(4 * self.d, MIN_HIDDEN)
        self.prior = _head(past, hidden, frames_per_pass * 2 * self.d)
        nn.init.zeros_(self.prior[-1].weight)
        nn.init.zeros_(self.prior[-1].bias)
        self.posterior = _head(past + feat_dim, hidden, 2 * self.d)
        with torch.no_grad():
            self.posterior[-1].weight.mul_(POSTERIOR_INIT_GAIN)
        nn.init.zeros_(self.posterior[-1].bias)

    @staticmethod
    def pooled(coarse: torch.Tensor) -> torch.Tensor:
        """Coarsest features `(B, T, C_L, h, w)` → `(B, T, C_L)`: the global average of each frame."""
        return coarse.mean(dim=(-2, -1))

    def past(self, window_coarse: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """`a_t` `(B, I·C_L + D_h)` from the window's coarsest features `(B, I, C_L, h, w)` and the context
        code `(B, D_h)`."""
        return torch.cat([self.pooled(window_coarse).flatten(1), context.to(window_coarse.dtype)], dim=-1)

    def forward(self, past: torch.Tensor, target: torch.Tensor | None, noise: torch.Tensor,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """`z` `(B, F, d)` for the F frames of a pass and `(μ, log σ², μ_p, log σ_p²)`, each `(B, F, d)`: the
        posterior's (and the prior's) when `target` (pooled target features `(B, F, C_L)`) is given, else
        the prior's twice. `z = μ + σ·noise` (`noise` `(B, F, d)`: ε, or zeros for the mean)."""
        prior_mu, prior_logvar = _stats(self.prior(past), self.d)  # (B, F, d)
        mu, logvar = prior_mu, prior_logvar
        if target is not None:
            both = torch.cat([past[:, None].expand(-1, target.shape[1], -1), target], dim=-1)
            mu, logvar = _stats(self.posterior(both), self.d)  # shared over the (B·F) targets
            mu, logvar = mu.squeeze(-2), logvar.squeeze(-2)
        z = mu + (0.5 * logvar).exp() * noise.to(mu.dtype)
        return z, (mu, logvar, prior_mu, prior_logvar)
