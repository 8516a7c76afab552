"""One WuBu level and the transition to the next one (docs/ARCHITECTURE.md, "WuBu nesting").

Level `i` (ball dimension `n`, curvature `-c_i`):

    c_i = softplus(ρ_c) + c_min              c_min = 1e-3; ρ_c initialised so c_i = c_init,i
    s_i = softplus(ρ_s) + ε,  σ_i = softplus(ρ_σ) + ε     ε = 1e-3; both initialised to 1
    v_comb = Combiner([RMSNorm([v_in, r_in, ld_in]), σ_{i-1}])     (i ≥ 1)
    v_comb = Combiner(v_in)                                         (level 0: nothing is handed down)
    v_comb ← v_comb + Attn_causal(RMSNorm(v_comb))          (temporal stacks only)
    v_out  = v_comb + F_i(v_comb)                         (tangent flow, when on)
    x_i    = expmap0(v_out, c_i, s_i)
    δ_k    = dist(x_i, b_k, c_i),  w = softmax_k(-δ_k² / (2σ_i²))
    δ_d    = dist(x_i, d_i, c_i)                          (descriptor d_i)
    features = [v_out, δ_1/σ_i … δ_K/σ_i, δ_d]

The spread-normalised distances `δ_k/σ_i` are the features (the kernel's own argument, `-½(δ_k/σ_i)²` =
log of the unnormalised weight, up to a square): not `w_k`, which is constant when `K = 1`, and not
`δ_k²/σ_i²`, which explodes for a boundary point pushed to the ball's edge. Through them `c_i`, `s_i`,
`σ_i` and every boundary point of every level (the last one's included) reach the output; `δ_d` makes the
descriptor matter on the last level too. Boundary points start at tangent norm 1 (`√c‖b‖ = tanh(√c)`) and
the descriptor at 0.5, far enough from the origin that distances to them depend on `c` (a distance to the
origin itself, `2 s‖v‖`, does not).

Transition `i → i+1` (rotation `R_i ∈ SO(n_i)`, linear map `T̃_i: n_i → n_{i+1}`), with `a_k =
logmap0(b_k, c_i, s_i)` (the same scale-aware chart in which `v_out = logmap0(x_i, c_i, s_i)`):

    v_in(i+1) = T̃R v_out,   r_k = T̃R v_out − T̃R a_k,   r_in(i+1) = Σ_k w_k r_k,
    ld_in(i+1) = T̃R logmap0(d_i, c_i, s_i),   σ_i handed down as is.

Tangent vectors are kept at `O(1)` norm at every level so `expmap0` neither saturates the ball nor
collapses to its centre: below level 0 the combiner reads an RMSNorm of the handed-in vectors (one norm
over their concatenation, so their directions and relative sizes survive; it sits at the combiner's input,
not before `expmap0`; level 0 reads the stack's normalised input projection), and every tangent MLP ends
with a fixed factor `0.5·n^{-1/2}` (a sum of `n` unit-variance coordinates has norm `√n`). Both hold
whatever initialiser runs later; all weights are also initialised explicitly here.

Ablations (`parts_for_level`) remove parameters rather than zeroing them; see `LevelParts`. The maps
`expmap0`, `logmap0`, `dist` and `project` above are the level's geometry (`maps.py`): the Poincaré ball,
or, for the theory study's controls, its `c → 0` limit or that limit bounded to a fixed radius.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.geometry.rotations import Rotation
from wubugaad.wubu.maps import level_maps
from wubugaad.wubu.temporal import CausalTangentAttention

# Components a stack can switch off (`--wubu_{s,m,t}_ablate`), as `parts_for_level` reads them.
ABLATIONS = ("distances", "spread", "descriptors", "boundaries", "flow", "rotation")
C_MIN = 1e-3  # curvature floor: c_i = softplus(ρ_c) + C_MIN, so an initial curvature must exceed it
POSITIVE_EPS = 1e-3
BOUNDARY_INIT_NORM = 1.0  # tangent norm of a boundary point at init: √c‖b‖ = tanh(√c) ≈ 0.76 for c = 1
DESCRIPTOR_INIT_NORM = 0.5


def softplus_inverse(y: float) -> float:
    """`ρ` with `softplus(ρ) = y` (`y > 0`): `ρ = y + log(1 − e^{−y})`."""
    return y + math.log(-math.expm1(-y))


@dataclass(frozen=True)
class LevelParts:
    """Which components a level has.

    - `kernel`: distances/kernel features and kernel weights (ablation "distances" turns it off: the
      relative vectors are then averaged with uniform weights, a plain mean that carries no information).
    - `boundaries`: boundary points (ablation "boundaries"; also absent on the last level without a
      kernel, where nothing would read them).
    - `spread`: `σ_i` (ablation "spread": `σ_i ≡ 1` in the kernel and the features; absent without
      kernel and boundaries).
    - `descriptor`: level descriptor (ablation "descriptors"; absent on the last level without kernel).
    - `flow`: tangent flow `F_i` (ablation "flow" or `tangent_flow=False`).
    - `ball`: curvature and scale exist (something on the ball is read).
    """

    kernel: bool
    boundaries: bool
    spread: bool
    descriptor: bool
    flow: bool

    @property
    def ball(self) -> bool:
        return self.boundaries or self.descriptor


def parts_for_level(ablate: frozenset[str], is_last: bool, tangent_flow: bool) -> LevelParts:
    kernel = "distances" not in ablate
    boundaries = "boundaries" not in ablate and (kernel or not is_last)
    descriptor = "descriptors" not in ablate and (kernel or not is_last)
    spread = kernel and boundaries and "spread" not in ablate
    flow = tangent_flow and "flow" not in ablate
    return LevelParts(kernel, boundaries, spread, descriptor, flow)


class TangentMLP(nn.Module):
    """`Linear → GELU → Linear`, times the fixed factor `0.5·out_dim^{-1/2}` (keeps tangent norms `O(1)`)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.hidden = nn.Linear(in_dim, hidden)
        self.out = nn.Linear(hidden, out_dim)
        self.gain = 0.5 * out_dim**-0.5
        nn.init.kaiming_uniform_(self.hidden.weight, nonlinearity="relu")
        nn.init.zeros_(self.hidden.bias)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.hidden(v))) * self.gain


class Handoff(NamedTuple):
    """What level `i` hands to level `i+1` (already in level `i+1`'s tangent space)."""

    v_in: torch.Tensor  # (…, n_{i+1})
    r_in: torch.Tensor  # (…, n_{i+1})
    ld_in: torch.Tensor | None  # (n_{i+1},), when level i has a descriptor
    sigma: torch.Tensor | None  # 0-dim, when level i has a spread


class LevelOutput(NamedTuple):
    v_out: torch.Tensor  # (…, n)
    features: torch.Tensor  # (…, n + K·[kernel and boundaries] + [kernel and descriptor])
    point: torch.Tensor | None  # x_i (…, n), when computed
    weights: torch.Tensor | None  # w (…, K); None means uniform (no kernel) or no boundaries
    anchors: torch.Tensor | None  # a_k = logmap0(b_k, c, s) (K, n)
    descriptor_tangent: torch.Tensor | None  # logmap0(d, c, s) (n,)
    sigma: torch.Tensor | None  # σ_i (0-dim)


class WuBuLevel(nn.Module):
    """A level `i` (formulas in the module docstring)."""

    def __init__(
        self,
        dim: int,
        level_idx: int,
        parts: LevelParts,
        initial_curvature: float,
        boundary_points: int,
        dropout: float,
        handed: LevelParts | None,
        num_heads: int = 0,
        geometry: str = "poincare",
    ):
        super().__init__()
        self.dim, self.level_idx, self.parts, self.handed = dim, level_idx, parts, handed
        self.maps = level_maps(geometry, initial_curvature)  # the ball, or a Euclidean twin (`maps.py`)
        vec_dim = dim if handed is None else 2 * dim + dim * handed.descriptor
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.RMSNorm(vec_dim) if handed is not None else None
        in_dim = vec_dim + int(handed is not None and handed.spread)
        self.combiner = TangentMLP(in_dim, 2 * dim, dim)
        self.attention = CausalTangentAttention(dim, num_heads, dropout) if num_heads > 0 else None
        self.flow = TangentMLP(dim, dim, dim) if parts.flow else None
        if parts.ball:
            self.rho_c = nn.Parameter(torch.tensor(softplus_inverse(initial_curvature - C_MIN)))
            self.rho_s = nn.Parameter(torch.tensor(softplus_inverse(1.0 - POSITIVE_EPS)))
            # a Euclidean twin keeps ρ_c (equal parameter counts) but reads no curvature: frozen
            self.rho_c.requires_grad_(self.maps.uses_curvature)
        if parts.spread:
            self.rho_sigma = nn.Parameter(torch.tensor(softplus_inverse(1.0 - POSITIVE_EPS)))
        c0 = torch.tensor(initial_curvature)
        if parts.boundaries:
            tangent = torch.randn(boundary_points, dim) * (BOUNDARY_INIT_NORM / math.sqrt(dim))
            self.boundary = ManifoldParameter(self.maps.expmap0(tangent, c0, 1.0), c=self.map_curvature)
        if parts.descriptor:
            tangent = torch.randn(dim) * (DESCRIPTOR_INIT_NORM / math.sqrt(dim))
            self.descriptor = ManifoldParameter(self.maps.expmap0(tangent, c0, 1.0), c=self.map_curvature)

    @property
    def num_features(self) -> int:
        p = self.parts
        k = self.boundary.shape[0] if p.boundaries else 0
        return self.dim + (k * p.kernel) + int(p.kernel and p.descriptor)

    def geometry_scalars(self) -> list[nn.Parameter]:
        """The softplus pre-activations `ρ_c`, `ρ_s`, `ρ_σ` this level has (the optimizers give them no
        weight decay and their own learning-rate multiplier; `--freeze_geometry` freezes them)."""
        return [getattr(self, name) for name in ("rho_c", "rho_s", "rho_sigma") if hasattr(self, name)]

    def curvature(self) -> torch.Tensor:
        """`c_i = softplus(ρ_c) + c_min` (0-dim tensor)."""
        return F.softplus(self.rho_c) + C_MIN

    def map_curvature(self) -> torch.Tensor:
        """The curvature the maps and the optimizer's ball updates use: `c_i`, or 0 in a Euclidean twin."""
        return self.maps.curvature(self.curvature())

    def radius(self, point: torch.Tensor) -> torch.Tensor:
        """Distance of level points `(…, n)` from the origin in this level's geometry, `(…)`."""
        return self.maps.dist(torch.zeros_like(point), point, self.map_curvature())

    def scale(self) -> torch.Tensor:
        """`s_i = softplus(ρ_s) + ε` (0-dim tensor)."""
        return F.softplus(self.rho_s) + POSITIVE_EPS

    def spread(self) -> torch.Tensor:
        """`σ_i = softplus(ρ_σ) + ε` (0-dim tensor)."""
        return F.softplus(self.rho_sigma) + POSITIVE_EPS

    def forward(self, v_in: torch.Tensor, handoff: Handoff | None = None) -> LevelOutput:
        lead = v_in.shape[:-1]
        v = self.dropout(v_in)
        if handoff is not None:
            vectors, extra = [v, handoff.r_in], []
            if handoff.ld_in is not None:
                vectors.append(handoff.ld_in.expand(*lead, -1))
            if handoff.sigma is not None:
                extra.append(handoff.sigma.expand(*lead, 1))
            v = torch.cat([self.norm(torch.cat(vectors, dim=-1)), *extra], dim=-1)
        v = self.combiner(v)
        if self.attention is not None:
            v = self.attention(v)
        if self.flow is not None:
            v = v + self.flow(v)
        features, point, weights, anchors, desc_tangent = [v], None, None, None, None
        p = self.parts
        sigma = self.spread() if p.spread else None
        if p.ball:
            maps, c, s = self.maps, self.map_curvature(), self.scale()
            boundary = maps.project(self.boundary, c) if p.boundaries else None
            descriptor = maps.project(self.descriptor, c) if p.descriptor else None
            if p.kernel:
                point = maps.expmap0(v, c, s)
            if p.kernel and p.boundaries:
                delta = maps.dist(point.unsqueeze(-2), boundary, c)  # (…, 1, n) vs (K, n) → (…, K)
                scaled = delta / sigma if sigma is not None else delta  # δ_k/σ_i (σ_i ≡ 1 when ablated)
                weights = torch.softmax(-0.5 * scaled.square(), dim=-1)
                features.append(scaled)
            if p.kernel and p.descriptor:
                features.append(maps.dist(point, descriptor, c, keepdim=True))
            if p.boundaries:
                anchors = maps.logmap0(boundary, c, s)
            if p.descriptor:
                desc_tangent = maps.logmap0(descriptor, c, s)
        return LevelOutput(v, torch.cat(features, dim=-1), point, weights, anchors, desc_tangent, sigma)


class Transition(nn.Module):
    """`T̃_i ∘ R_i` from level `i` (dim `n_in`) to level `i+1` (dim `n_out`); see the module docstring."""

    def __init__(self, n_in: int, n_out: int, rotation: bool, phi_rotation_init: bool, level_idx: int):
        super().__init__()
        self.rotation = Rotation(n_in, phi_init=phi_rotation_init, level_idx=level_idx) if rotation else None
        self.map = nn.Linear(n_in, n_out)
        nn.init.xavier_uniform_(self.map.weight)
        nn.init.zeros_(self.map.bias)

    def transport(self, v: torch.Tensor) -> torch.Tensor:
        """`T̃R v` on the last dim."""
        return self.map(self.rotation(v) if self.rotation is not None else v)

    def forward(self, out: LevelOutput) -> Handoff:
        tv = self.transport(out.v_out)
        if out.anchors is None:
            r_in = tv
        else:
            ta = self.transport(out.anchors)  # (K, n_out)
            # Σ_k w_k (T̃R v − T̃R a_k) = T̃R v − Σ_k w_k T̃R a_k, because Σ_k w_k = 1.
            mixed = ta.mean(dim=0) if out.weights is None else out.weights @ ta
            r_in = tv - mixed
        ld_in = self.transport(out.descriptor_tangent) if out.descriptor_tangent is not None else None
        return Handoff(tv, r_in, ld_in, out.sigma)
