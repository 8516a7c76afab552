"""WuBu nesting stacks: configuration and the stack module.

    x → RMSNorm → Linear(input_dim → n_0) [+ φ-time embedding (temporal)] → level 0 → T̃_0R_0 → level 1
      → … → level L-1;   output = Linear(concat of every level's features → n_{L-1}).

The input RMSNorm (on the caller's features, far from any `expmap0`) makes the level-0 tangent norm
independent of the caller's feature scale. Levels and transitions are in `level.py`, time mixing
in `temporal.py`.

Curvature initialisation: level `i` starts at `c_init,i` from `initial_curvatures`, or at
`c_init,i · φ^{-i}` with `phi_curvature` (deeper levels start flatter by a golden factor per level).

`num_levels = 0`: the stack is `Linear(input_dim → input_dim)` and `output_dim = input_dim` (no time mixing).
Temporal stacks (`temporal=True`) take `(…, S, D)` and mix `S` causally; the others flatten all leading
dims. `num_heads` must divide every level dimension of a temporal stack (else `ValueError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from wubugaad.geometry.golden import PHI
from wubugaad.wubu.euclidean import EuclideanStack
from wubugaad.wubu.level import ABLATIONS, C_MIN, Transition, WuBuLevel, parts_for_level
from wubugaad.wubu.maps import GEOMETRIES
from wubugaad.wubu.temporal import PhiTimeEmbedding

MIN_LEVEL_DIM = 2  # a 1-dim level: an RMSNorm of it keeps only its sign, and SO(1) is trivial


def stack_problems(name: str, num_levels: int, hyperbolic_dims, initial_curvatures, boundary_points: int,
                   dropout: float, ablate=(), temporal: bool = False, num_heads: int = 1) -> list[str]:
    """Every problem of one stack's settings, one line each naming its flag (empty when valid).

    The single definition of the stack's limits: `StackConfig` raises on them and the command-line parser
    reports them. `name` is the flag prefix (`wubu_s`, `wubu_m`, `wubu_t`).
    """
    flag = f"--{name}"
    problems = []
    if num_levels < 0:
        problems.append(f"{flag}_num_levels must be >= 0 (got {num_levels})")
    for suffix, values in (("hyperbolic_dims", hyperbolic_dims), ("initial_curvatures", initial_curvatures)):
        if num_levels > 0 and len(values) not in (1, num_levels):  # without levels nothing reads them
            problems.append(f"{flag}_{suffix} has {len(values)} values but {flag}_num_levels is "
                            f"{num_levels}: give 1 value (broadcast) or {num_levels}")
    if any(d < MIN_LEVEL_DIM for d in hyperbolic_dims):
        problems.append(f"{flag}_hyperbolic_dims must all be >= {MIN_LEVEL_DIM} "
                        f"(got {list(hyperbolic_dims)})")
    # `not c > C_MIN` also rejects NaN
    if any(not (c > C_MIN and math.isfinite(c)) for c in initial_curvatures):
        problems.append(f"{flag}_initial_curvatures must all be finite and > {C_MIN} (the curvature floor; "
                        f"got {list(initial_curvatures)})")
    if boundary_points < 1:
        problems.append(f"{flag}_boundary_points must be >= 1 (got {boundary_points}; use {flag}_ablate "
                        f"boundaries to remove them)")
    if not 0.0 <= dropout < 1.0:
        problems.append(f"--wubu_dropout must be in [0, 1) (got {dropout})")
    unknown = sorted(set(ablate) - set(ABLATIONS))
    if unknown:
        problems.append(f"{flag}_ablate: unknown {unknown}; choose from {sorted(ABLATIONS)}")
    if temporal:
        if num_heads < 1:
            problems.append(f"--wubu_t_num_heads must be >= 1 (got {num_heads})")
        else:
            bad = [d for d in hyperbolic_dims if d % num_heads]
            if bad:
                problems.append(f"--wubu_t_num_heads ({num_heads}) must divide every {flag}_hyperbolic_dims "
                                f"entry; {bad} are not divisible")
    return problems


@dataclass
class StackConfig:
    """Configuration of one WuBu stack; `name` (e.g. `wubu_s`) prefixes the flags named in errors."""

    name: str
    input_dim: int
    num_levels: int
    hyperbolic_dims: list[int]
    initial_curvatures: list[float]
    use_rotation: bool = False
    phi_curvature: bool = False
    phi_rotation_init: bool = False
    dropout: float = 0.0
    boundary_points: int = 4
    tangent_flow: bool = True
    temporal: bool = False
    num_heads: int = 4
    ablate: frozenset[str] = field(default_factory=frozenset)
    euclidean: bool = False  # replace the levels by same-width residual MLP blocks (`wubu/euclidean.py`)
    geometry: str = "poincare"  # the levels' maps: the ball or a Euclidean twin (`wubu/maps.py`)

    def __post_init__(self):
        self.ablate = frozenset(self.ablate)
        problems = stack_problems(self.name, self.num_levels, list(self.hyperbolic_dims),
                                  [float(c) for c in self.initial_curvatures], self.boundary_points,
                                  self.dropout, self.ablate, self.temporal, self.num_heads)
        if self.input_dim < 1:
            problems.append(f"{self.name}: input_dim must be >= 1, got {self.input_dim}")
        if self.geometry not in GEOMETRIES:
            problems.append(f"--wubu_geometry {self.geometry!r} unknown; choose from {GEOMETRIES}")
        if problems:
            raise ValueError("; ".join(problems))
        self.hyperbolic_dims = _broadcast(list(self.hyperbolic_dims), self.num_levels)
        self.initial_curvatures = _broadcast([float(c) for c in self.initial_curvatures], self.num_levels)


def _broadcast(values: list, num_levels: int) -> list:
    """A 1-value list is repeated for every level (lengths are checked by `stack_problems`)."""
    return values * num_levels if len(values) == 1 else values


class WuBuStack(nn.Module):
    """A WuBu stack (module docstring). `forward(x, return_points=False)`."""

    def __init__(self, cfg: StackConfig):
        super().__init__()
        self.cfg = cfg
        dims, L = cfg.hyperbolic_dims, cfg.num_levels
        if L == 0:
            self.output_dim = cfg.input_dim
            self.output_proj = nn.Linear(cfg.input_dim, cfg.input_dim)
            _init_linear(self.output_proj)
            return
        self.output_dim = dims[-1]
        self.input_norm = nn.RMSNorm(cfg.input_dim)
        self.input_proj = nn.Linear(cfg.input_dim, dims[0])
        _init_linear(self.input_proj)
        self.time_embedding = PhiTimeEmbedding(dims[0]) if cfg.temporal else None
        heads = cfg.num_heads if cfg.temporal else 0
        rotate = cfg.use_rotation and "rotation" not in cfg.ablate
        levels, transitions, handed = [], [], None
        for i in range(L):
            parts = parts_for_level(cfg.ablate, is_last=i == L - 1, tangent_flow=cfg.tangent_flow)
            c0 = cfg.initial_curvatures[i] * (PHI**-i if cfg.phi_curvature else 1.0)
            levels.append(WuBuLevel(dims[i], i, parts, c0, cfg.boundary_points, cfg.dropout, handed, heads,
                                    cfg.geometry))
            if i < L - 1:
                transitions.append(Transition(dims[i], dims[i + 1], rotate, cfg.phi_rotation_init, i))
            handed = parts
        self.levels = nn.ModuleList(levels)
        self.transitions = nn.ModuleList(transitions)
        self.output_proj = nn.Linear(sum(level.num_features for level in levels), self.output_dim)
        _init_linear(self.output_proj)

    def forward(self, x: torch.Tensor, return_points: bool = False):
        """x `(…, D)` → `(…, output_dim)`; temporal stacks need `(…, S, D)` and mix `S` causally.

        With `return_points=True` also returns the list of level points `x_i` (`(…, n_i)`, one entry per
        level that computes a point), e.g. to check that the ball is not saturated.
        """
        cfg = self.cfg
        if x.shape[-1] != cfg.input_dim:
            raise ValueError(f"{cfg.name}: expected last dim {cfg.input_dim}, got shape {tuple(x.shape)}")
        if cfg.temporal and x.dim() < 3:
            raise ValueError(f"{cfg.name}: a temporal stack needs (B, S, D) input, got {tuple(x.shape)}")
        if cfg.num_levels == 0:
            out = self.output_proj(x)
            return (out, []) if return_points else out
        lead = x.shape[:-2] if cfg.temporal else x.shape[:-1]
        flat = x.reshape(-1, *x.shape[-2:]) if cfg.temporal else x.reshape(-1, x.shape[-1])  # (N[, S], D)
        v = self.input_proj(self.input_norm(flat))
        if self.time_embedding is not None:
            v = self.time_embedding(v)
        features, points, handoff = [], [], None
        for i, level in enumerate(self.levels):
            out = level(v if handoff is None else handoff.v_in, handoff)
            features.append(out.features)
            if out.point is not None:
                points.append(out.point.reshape(*lead, *out.point.shape[1:]))
            if i < len(self.transitions):
                handoff = self.transitions[i](out)
        y = self.output_proj(torch.cat(features, dim=-1))
        y = y.reshape(*lead, *y.shape[1:])  # restore the caller's leading dims
        return (y, points) if return_points else y

    def geometry_stats(self) -> dict[str, torch.Tensor]:
        """Detached 0-dim tensors: per-level curvature/scale/spread, the largest `‖RᵀR − I‖_F` over the
        rotations, and boundary saturation = the largest `√c_i‖b_{i,k}‖` over all boundary points."""
        stats: dict[str, torch.Tensor] = {}
        ref = self.output_proj.weight
        ortho, saturation = ref.new_zeros(()), ref.new_zeros(())
        with torch.no_grad():
            for i, level in enumerate(getattr(self, "levels", [])):
                if level.parts.ball:
                    stats[f"level{i}/curvature"] = level.map_curvature().detach()  # 0 in a Euclidean twin
                    stats[f"level{i}/scale"] = level.scale().detach()
                if level.parts.spread:
                    stats[f"level{i}/spread"] = level.spread().detach()
                if level.parts.boundaries:
                    radius = level.map_curvature().sqrt() * level.boundary.norm(dim=-1)
                    saturation = torch.maximum(saturation, radius.max())
            for transition in getattr(self, "transitions", []):
                if transition.rotation is not None:
                    R = transition.rotation.matrix()
                    eye = torch.eye(R.shape[-1], dtype=R.dtype, device=R.device)
                    ortho = torch.maximum(ortho, torch.linalg.matrix_norm(R.mT @ R - eye))
        stats["rotation_orthogonality_error"] = ortho.detach()
        stats["boundary_saturation"] = saturation.detach()
        return stats


def _init_linear(layer: nn.Linear) -> None:
    """Explicit init (no reliance on a model-wide initialiser): Xavier-uniform weight, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def build_stack(cfg: StackConfig) -> nn.Module:
    """`WuBuStack(cfg)`, or its Euclidean stand-in when `cfg.euclidean` (a stack without levels is the same
    linear map either way)."""
    if cfg.euclidean and cfg.num_levels > 0:
        return EuclideanStack(cfg)
    return WuBuStack(cfg)


__all__ = ["ABLATIONS", "MIN_LEVEL_DIM", "StackConfig", "WuBuStack", "build_stack", "stack_problems"]
