"""The spatial latent of the spatial generator: a code per cell that says what the forecast missed, and
the correction it decodes to.

    forecast  x̃ = G(context, z)                                  what `predict` returns, no target seen
    q(z_map | x̃, targets − x̃) = N(μ_q, σ_q²)                    posterior: reads the forecast's error
    p(z_map) = N(0, I)
    x̂ = sg(x̃) + D(z_map, sg(x̃), x_last)                           D(0, ·) = 0

per cell of the grid at stride 2^k (k = `map_level`, 2 when the pyramid has it: stride 4), with
`latent_map_channels` channels; `sg` stops the gradient.

- **Why a correction on top of the forecast.** Measured first (bench/RESULTS.md, fifth round) with the map
  fed into the generator's skips: the more the decoder leaned on the posterior's code, the more
  prediction fell (reconstruction − prediction +0.49 dB at −0.8 dB of prediction, with a prior learned
  from the context), because the decoder then learns to expect a code that prediction does not have.
  Here the forecast never sees the map: it is trained by its own loss (`loss_g_forecast`, the same
  reconstruction term), and the correction, trained by the loss on `x̂`, reads the forecast with its
  gradient stopped. The latent can therefore carry as
  much of the future as its KL allows without costing prediction anything: the design of the residual
  models of stochastic video prediction (a deterministic predictor plus a stochastic residual).
- **Exact zero at the prior's mean.** `D` (`LatentCorrection`) vanishes at `z = 0` whatever its
  weights, so `predict` (z_map = 0) returns the forecast exactly and skips D, while `generate` samples
  `p` and adds a correction drawn from it.
- **Fixed prior.** What the context can tell about the future, the forecast learns; the code is left
  with what it cannot tell, which is what N(0, I) stands for.
- **Weight**: KL(q ‖ p) is summed over the map's cells and weighted by `--lambda_kl_map`, apart from
  `z`'s `--lambda_kl`: the reconstruction is a mean over pixels, so a summed KL weighted like `z`'s
  (0.1 a nat) is a β far above 1 per cell and the map would carry nothing.
- **Modes**: `train` samples q, `reconstruct` uses μ_q, `predict` 0 (no correction), `generate` samples p.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MAP_LEVEL = 2  # stride 4, or the coarsest level of a shallower pyramid
# σ starts small (log σ² = −6): a map of noise at σ = 1 teaches the decoder to ignore it before μ says
# anything; the KL then raises σ where the map carries nothing worth its cost
INIT_LOGVAR = -6.0


def latent_map_problems(cfg) -> list[str]:
    """Spatial-latent settings that cannot be built, one line each (the parser reports the same)."""
    if cfg.latent_map_channels < 0:
        return [f"--latent_map_channels must be ≥ 0 (got {cfg.latent_map_channels}; 0 turns the spatial "
                "latent off)"]
    return []


def map_level(num_levels: int) -> int:
    """Pyramid level of the map: stride 4, or the coarsest level of a shallower pyramid."""
    return min(MAP_LEVEL, num_levels - 1)


class LatentMapNet(nn.Module):
    """Frames `(B, F, C, H, W)` → `(μ, log σ²)`, each `(B, N, h, w)` on the map's grid: strided convs (each a
    ceil halving, like the generator's pyramid) and a 1×1 head; the posterior reads `F = 2P` frames (the
    forecast and its error)."""

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


class LatentCorrection(nn.Module):
    """`D(z, x̃, x_last)` → `(B, P, C, H, W)`, exactly 0 where the code is 0, for any weights.

        a = frames([x̃ ; x_last]),   D = out(SiLU(mid(SiLU(a + U(code(z))) − SiLU(a))))

    `z` `(B, N, h, w)` is the map, `x̃` `(B, P, C, H, W)` the forecast, `x_last` `(B, C, H, W)` the last
    context frame; `frames`, `mid` and `out` are 3×3 convs at full resolution, `code` a 1×1 conv on the
    map's grid and `U` nearest upsampling (which commutes with a 1×1 conv, so it runs on the small grid).
    The first layer is the change the code makes to the frames' activations, the same two SiLUs of the
    same numbers when the code is 0, so exactly 0 there; `mid` and `out` have no bias and SiLU(0) = 0, so
    the zero carries through. One pass, where `D(z) − D(0)` would take two. `out` starts at zero (no
    correction at init).
    """

    def __init__(self, map_channels: int, frame_channels: int, num_predict: int, width: int):
        super().__init__()
        self.frames = nn.Conv2d((num_predict + 1) * frame_channels, width, 3, padding=1)
        self.code = nn.Conv2d(map_channels, width, 1, bias=False)
        self.mid = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.out = nn.Conv2d(width, num_predict * frame_channels, 3, padding=1, bias=False)
        nn.init.zeros_(self.out.weight)

    def forward(self, z_map: torch.Tensor, forecast: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        B, P, C, H, W = forecast.shape
        a = self.frames(torch.cat([forecast.flatten(1, 2), last], dim=1))  # (B, (P+1)·C, H, W) → (B, w, H, W)
        code = F.interpolate(self.code(z_map.to(forecast.dtype)), size=(H, W), mode="nearest")
        change = F.silu(a + code) - F.silu(a)
        return self.out(F.silu(self.mid(change))).view(B, P, C, H, W)


def sample_map(mu: torch.Tensor, logvar: torch.Tensor, mode: str) -> torch.Tensor:
    """`z_map` for `mode` (module docstring): `mu`/`logvar` are the posterior's in train/reconstruct and the
    prior's (zeros) in predict/generate; the mean in reconstruct and predict, a sample otherwise."""
    if mode == "reconstruct" or mode == "predict":
        return mu
    return mu + (0.5 * logvar).exp() * torch.randn_like(mu)
