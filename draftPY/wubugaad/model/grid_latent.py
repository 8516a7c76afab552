"""The latent laid out on the coarsest grid (`--latent_layout grid`): a code per cell, one per decoder pass.

A decoder pass predicts F frames (F = 1 in the rollout, one pass per future frame; F = P in the joint
pass, one pass for the whole future). Its code has, for every cell (i, j) of the pyramid's coarsest grid
(h × w, stride 16 at 64 × 64), d = `--latent_dim` channels:

    A = [ F_{t−I} … F_{t−1} ; tile(W_h h_ctx) ]            the window's coarsest features, per cell
    p(z | frames < t)   = N(μ_p, σ_p²) = prior(A)           3×3 convs
    q(z | frames ≤ t+F−1) = N(μ_q, σ_q²) = posterior([A ; F_t … F_{t+F−1}])
    KL = KL(q ‖ p) summed over the d·h·w numbers: nats per code (per clip in the joint pass)

The decoder reads the code where it is: added to the bottleneck through a 1×1 conv (the decoder's
upsampling spreads it from its cell), as a per-cell flow offset of each of the F frames (a 1×1 conv to
2F channels, bilinear to the frame, added to the head's raw flow) and, with synthesis, as a per-cell image
correction of each frame.

- **Why a grid**: with one vector per frame (`model/frame_latent.py`) the decoder ignored the code
  (reconstruction from the posterior equalled the prior-mean prediction on stochastic Moving
  Fashion-MNIST after 2089 steps): to move one object, a global code must learn where the object is and
  which way it went; a cell's code only says how its own cell moves, and convolutions compare target and
  window cell by cell with weights shared over cells.
- **Why one code per pass**: in the joint pass, independent codes per frame would be sampled
  independently, so a sampled future could turn one way at frame 5 and another at frame 6; one code for
  the pass makes every sample one coherent future (an object that bounces keeps its new direction).
- **Layout**: a code is flattened to `(d·h·w)` (channel-major): the model's noise and statistics are
  `(B, codes, d·h·w)`, codes = P in the rollout and 1 in the joint pass.
- **Init**: the prior's output conv is zero (μ_p = 0, σ_p = 1); the decoder's readers are bias-free, so at
  `z = 0` (the prior's mean at init) the generator's init identity holds; the posterior's output conv
  starts small (KL ≈ 0) and the readers small but random, so the code matters from the first step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wubugaad.model.frame_latent import LOGVAR_RANGE, POSTERIOR_INIT_GAIN

CONTEXT_CHANNELS = 16  # the context code, projected and tiled over the cells
HIDDEN_MIN = 32
READER_STD = 0.02  # the readers' init (per unit of z), small: at init the code barely moves the output
FLOW_OFFSET_GAIN = 10.0  # pixels per unit of the offset conv's output: Adam opens it in tens of steps


def _conv_head(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, hidden, 3, padding=1), nn.SiLU(),
                         nn.Conv2d(hidden, c_out, 3, padding=1))


def _reader(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 1, bias=False)
    nn.init.normal_(conv.weight, std=READER_STD / c_in**0.5)
    return conv


class GridFrameLatent(nn.Module):
    """Prior, posterior and decoder readers of the grid latent (module docstring). The same calls as
    `FrameLatent` (`summary`, `past`, `forward`); `size` is the flattened code.

    `feat_dim` C_L and `grid` (h, w): the coarsest level; `window` I; `frames_per_pass` F (1 in the rollout,
    P in the joint pass); `out_channels` C and `synthesis`: whether the image correction exists."""

    def __init__(self, feat_dim: int, grid: tuple[int, int], window: int, context_dim: int, latent_dim: int,
                 frames_per_pass: int, out_channels: int, synthesis: bool):
        super().__init__()
        self.d, self.grid, self.frames = int(latent_dim), tuple(grid), int(frames_per_pass)
        self.size = self.d * self.grid[0] * self.grid[1]
        self.context = nn.Linear(context_dim, CONTEXT_CHANNELS) if context_dim > 0 else None
        past = window * feat_dim + (CONTEXT_CHANNELS if context_dim > 0 else 0)
        hidden = max(4 * self.d, HIDDEN_MIN)
        self.prior = _conv_head(past, hidden, 2 * self.d)
        nn.init.zeros_(self.prior[-1].weight)
        nn.init.zeros_(self.prior[-1].bias)
        self.posterior = _conv_head(past + self.frames * feat_dim, hidden, 2 * self.d)
        with torch.no_grad():
            self.posterior[-1].weight.mul_(POSTERIOR_INIT_GAIN)
        nn.init.zeros_(self.posterior[-1].bias)
        self.to_bottleneck = _reader(self.d, feat_dim)
        self.to_flow = _reader(self.d, 2 * self.frames)
        self.to_image = _reader(self.d, out_channels * self.frames) if synthesis else None

    def summary(self, coarse: torch.Tensor) -> torch.Tensor:
        """A frame's evidence is its coarsest features themselves `(B, T, C_L, h, w)`."""
        return coarse

    def past(self, window_coarse: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """`A` `(B, I·C_L [+ 16], h, w)` from the window's coarsest features `(B, I, C_L, h, w)` and the
        context code `(B, D_h)`."""
        parts = [window_coarse.flatten(1, 2)]
        if self.context is not None:
            tiled = self.context(context.to(window_coarse.dtype))[:, :, None, None]
            parts.append(tiled.expand(-1, -1, *window_coarse.shape[-2:]))
        return torch.cat(parts, dim=1)

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(n, 2d, h, w)` → `(μ, log σ²)`, each `(n, 1, d·h·w)`."""
        mu, logvar = x.chunk(2, dim=1)
        return mu.flatten(1)[:, None], logvar.flatten(1)[:, None].clamp(*LOGVAR_RANGE)

    def forward(self, past: torch.Tensor, target: torch.Tensor | None, noise: torch.Tensor,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """As `FrameLatent.forward` with one code `(B, 1, D)` for the pass; `target` is the F targets'
        coarsest features `(n, F, C_L, h, w)`."""
        prior_mu, prior_logvar = self._stats(self.prior(past))  # (B, 1, D)
        if target is None:
            z = prior_mu + (0.5 * prior_logvar).exp() * noise.to(prior_mu.dtype)
            return z, (prior_mu, prior_logvar, prior_mu, prior_logvar)
        n = target.shape[0]
        seen = torch.cat([past[:n], target.to(past.dtype).flatten(1, 2)], dim=1)  # window ; the F targets
        mu, logvar = self._stats(self.posterior(seen))
        z = mu + (0.5 * logvar).exp() * noise[:n].to(mu.dtype)
        if n < past.shape[0]:  # the prior-mean pass riding along takes the prior
            rest = prior_mu[n:] + (0.5 * prior_logvar[n:]).exp() * noise[n:].to(mu.dtype)
            z = torch.cat([z, rest])
        return z, (mu, logvar, prior_mu[:n], prior_logvar[:n])

    def _map(self, z: torch.Tensor) -> torch.Tensor:
        """`(B, 1, d·h·w)` → `(B, d, h, w)`."""
        return z.reshape(z.shape[0], self.d, *self.grid)

    def bottleneck(self, z: torch.Tensor) -> torch.Tensor:
        """What the pass's code adds to the bottleneck: `(B, C_L, h, w)`."""
        return self.to_bottleneck(self._map(z))

    def _per_frame(self, conv: nn.Conv2d, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = F.interpolate(conv(self._map(z)), size=size, mode="bilinear", align_corners=False)
        return x.view(x.shape[0], self.frames, -1, *size)

    def flow_offset(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Each of the F frames' flow offset in pixels `(B, F, 2, H, W)`, added to the head's raw flow."""
        return FLOW_OFFSET_GAIN * self._per_frame(self.to_flow, z, size)

    def correction(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
        """Each of the F frames' image correction `(B, F, C, H, W)` (with synthesis), else None."""
        return None if self.to_image is None else self._per_frame(self.to_image, z, size)
