"""WuBu nesting stacks (DESIGN §6.3, §6.4): configuration and the stack module.

    x → RMSNorm → Linear(input_dim → n_0) [+ φ-time embedding (temporal)] → level 0 → T̃_0R_0 → level 1
      → … → level L-1;   output = Linear(concat of every level's features → n_{L-1}).

The input RMSNorm (on the caller's features, far from any `expmap0`) makes the level-0 tangent norm
independent of the caller's feature scale. Levels and transitions are in `nesting_level.py`, time mixing
in `temporal.py`.

Curvature initialisation: level `i` starts at `c_init,i` from `initial_curvatures`, or at
`c_init,i · φ^{-i}` with `phi_curvature` (deeper levels start flatter by a golden factor per level).

`num_levels = 0`: the stack is `Linear(input_dim → input_dim)` and `output_dim = input_dim` (no time mixing).
Temporal stacks (`temporal=True`) take `(…, S, D)` and mix `S` causally; the others flatten all leading
dims. `num_heads` must divide every level dimension of a temporal stack (else `ValueError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from wubugaad.wubu.level import Transition, WuBuLevel, parts_for_level
from wubugaad.wubu.temporal import PHI, PhiTimeEmbedding

ABLATIONS = frozenset({"distances", "spread", "descriptors", "boundaries", "flow", "rotation"})


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

    def flag(self, suffix: str) -> str:
        return f"--{self.name}_{suffix}"

    def __post_init__(self):
        self.ablate = frozenset(self.ablate)
        L = self.num_levels
        if L < 0:
            raise ValueError(f"{self.flag('num_levels')} must be >= 0, got {L}")
        if self.input_dim < 1:
            raise ValueError(f"{self.name}: input_dim must be >= 1, got {self.input_dim}")
        self.hyperbolic_dims = _broadcast(list(self.hyperbolic_dims), L, self.flag("hyperbolic_dims"))
        self.initial_curvatures = _broadcast(
            [float(c) for c in self.initial_curvatures], L, self.flag("initial_curvatures")
        )
        if any(d < 2 for d in self.hyperbolic_dims):
            # A 1-dim level: an RMSNorm of it keeps only its sign, and SO(1) is trivial.
            raise ValueError(f"{self.flag('hyperbolic_dims')} must all be >= 2, got {self.hyperbolic_dims}")
        if any(not c > 1e-3 for c in self.initial_curvatures):
            raise ValueError(
                f"{self.flag('initial_curvatures')} must all be > 1e-3 (the curvature floor), "
                f"got {self.initial_curvatures}"
            )
        if self.boundary_points < 1:
            raise ValueError(
                f"{self.flag('boundary_points')} must be >= 1, got {self.boundary_points} "
                f"(use {self.flag('ablate')} boundaries to remove them)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--wubu_dropout must be in [0, 1), got {self.dropout}")
        unknown = self.ablate - ABLATIONS
        if unknown:
            raise ValueError(
                f"{self.flag('ablate')}: unknown {sorted(unknown)}; choose from {sorted(ABLATIONS)}"
            )
        if self.temporal:
            if self.num_heads < 1:
                raise ValueError(f"{self.flag('num_heads')} must be >= 1, got {self.num_heads}")
            bad = [d for d in self.hyperbolic_dims if d % self.num_heads]
            if bad:
                raise ValueError(
                    f"{self.flag('num_heads')} ({self.num_heads}) must divide every "
                    f"{self.flag('hyperbolic_dims')} entry; {bad} are not divisible"
                )


def _broadcast(values: list, num_levels: int, flag: str) -> list:
    """A 1-value list is repeated for every level; otherwise the length must equal `num_levels`."""
    if len(values) == 1:
        return values * num_levels
    if len(values) != num_levels:
        raise ValueError(f"{flag} has {len(values)} values; give 1 (broadcast) or num_levels = {num_levels}")
    return values


def stack_config_from_args(args, key: str, input_dim: int) -> StackConfig:
    """`StackConfig` of stack `key` ∈ {"s", "m", "t"} from the parsed `--wubu_{key}_*` flags."""
    if key not in ("s", "m", "t"):
        raise ValueError(f"stack key must be 's', 'm' or 't', got {key!r}")
    p = f"wubu_{key}"
    return StackConfig(
        name=p,
        input_dim=input_dim,
        num_levels=getattr(args, f"{p}_num_levels"),
        hyperbolic_dims=list(getattr(args, f"{p}_hyperbolic_dims")),
        initial_curvatures=list(getattr(args, f"{p}_initial_curvatures")),
        use_rotation=bool(getattr(args, f"{p}_use_rotation", False)),
        phi_curvature=bool(getattr(args, f"{p}_phi_influence_curvature", False)),
        phi_rotation_init=bool(getattr(args, f"{p}_phi_influence_rotation_init", False)),
        dropout=float(getattr(args, "wubu_dropout", 0.0)),
        boundary_points=int(getattr(args, f"{p}_boundary_points", 4)),
        tangent_flow=bool(getattr(args, f"{p}_tangent_flow", True)),
        temporal=key == "t",
        num_heads=int(getattr(args, "wubu_t_num_heads", 4)),
        ablate=frozenset(getattr(args, f"{p}_ablate", None) or ()),
    )


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
            levels.append(WuBuLevel(dims[i], i, parts, c0, cfg.boundary_points, cfg.dropout, handed, heads))
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
                    stats[f"level{i}/curvature"] = level.curvature().detach()
                    stats[f"level{i}/scale"] = level.scale().detach()
                if level.parts.spread:
                    stats[f"level{i}/spread"] = level.spread().detach()
                if level.parts.boundaries:
                    radius = level.curvature().sqrt() * level.boundary.norm(dim=-1)
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


__all__ = ["ABLATIONS", "StackConfig", "WuBuStack", "stack_config_from_args"]
