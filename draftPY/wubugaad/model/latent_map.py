"""The spatial latent of the spatial generator: a posterior that reads the targets pixel by pixel and a
prior that reads the last two context frames.

    q(z_map | x_last, targets − x_last)      = N(μ_q, σ_q²)
    p(z_map | x_last, x_last − x_before)     = N(μ_p, σ_p²)
per cell of the grid at stride 2^k (k = `map_level`, 2 when the pyramid has it: stride 4), with
`latent_map_channels` channels. `z_map` joins the generator's skip features of that level through a 1×1
conv (so it reaches every finer decoder block) and, nearest-upsampled, the output head's input (a linear
path from what the posterior saw to the output).

Why a map and not only the vector `z`: what the context cannot tell (where an object turns, what an
occlusion uncovers) is local, and a vector read from pooled region codes carried nothing the decoder used
(reconstruction equalled prediction to 0.00 dB). The posterior sees `[x_last ; targets]` through two
strided convs, so the map can say what changes where.

- **Learned prior** (as in SVG-LP): prediction decodes the prior's mean, which the KL(q ‖ p) trains to
  say what the context can tell about the code; measured with a fixed N(0, I) prior and prediction at
  z_map = 0, the map either went unused (recon = pred) or, without the KL and dropout, the decoder leaned
  on it and prediction fell.
- **Weight**: KL(q ‖ p) is summed over the map's cells and weighted by `--lambda_kl_map`, apart from
  `z`'s `--lambda_kl`: the reconstruction is a mean over pixels, so a summed KL weighted like `z`'s
  (0.1 a nat) is a β far above 1 per cell and the map would carry nothing.
- **Modes**: `train` samples q, `reconstruct` uses μ_q, `predict` μ_p, `generate` samples p.
- **Map dropout** (`--latent_map_dropout p`): in training, each sample's map is replaced by the prior's
  mean with probability p (one Bernoulli mask, no loop), so the decoder also learns from the code it gets
  when predicting.
"""

from __future__ import annotations

import torch
from torch import nn

MAP_LEVEL = 2  # stride 4, or the coarsest level of a shallower pyramid
# σ starts small (log σ² = −6): a map of noise at σ = 1 teaches the decoder to ignore it before μ says
# anything (measured: reconstruction stayed equal to prediction); the KL then raises σ where the map
# carries nothing worth its cost
INIT_LOGVAR = -6.0


def latent_map_problems(cfg) -> list[str]:
    """Spatial-latent settings that cannot be built, one line each (the parser reports the same)."""
    problems = []
    if cfg.latent_map_channels < 0:
        problems.append(f"--latent_map_channels must be ≥ 0 (got {cfg.latent_map_channels}; 0 turns the "
                        "spatial latent off)")
    if not 0 <= cfg.latent_map_dropout < 1:
        problems.append(f"--latent_map_dropout must be in [0, 1) (got {cfg.latent_map_dropout})")
    return problems


def map_level(num_levels: int) -> int:
    """Pyramid level of the map: stride 4, or the coarsest level of a shallower pyramid."""
    return min(MAP_LEVEL, num_levels - 1)


class LatentMapNet(nn.Module):
    """Frames `(B, F, C, H, W)` → `(μ, log σ²)`, each `(B, N, h, w)` on the map's grid: strided convs (each a
    ceil halving, like the generator's pyramid) and a 1×1 head. The posterior reads `F = 1 + P` frames, the
    prior 2."""

    def __init__(self, in_channels: int, width: int, map_channels: int, level: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for k in range(level):
            c_out = width * 2**k
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.SiLU()]
            c_in = c_out
        if not layers:
            layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.SiLU()]
            c_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, 2 * map_channels, 1)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[map_channels:] = INIT_LOGVAR

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.head(self.body(frames.flatten(1, 2)))  # (B, F·C, H, W) → (B, 2N, h, w)
        mu, logvar = x.chunk(2, dim=1)
        return mu, logvar


def sample_map(mu: torch.Tensor, logvar: torch.Tensor, mode: str, dropout: float,
               prior_mu: torch.Tensor) -> torch.Tensor:
    """`z_map` for `mode` (module docstring): `mu`/`logvar` are the posterior's in train/reconstruct and the
    prior's in predict/generate; in training a dropped sample takes the prior's mean `prior_mu`."""
    if mode == "reconstruct" or mode == "predict":
        return mu
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    if mode == "train" and dropout > 0:
        keep = torch.rand(mu.shape[0], 1, 1, 1, device=mu.device) >= dropout  # (B, 1, 1, 1)
        z = torch.where(keep, z, prior_mu)
    return z
