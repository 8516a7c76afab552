"""A Euclidean stand-in for a WuBu stack, for the ablation "does the hyperbolic nesting earn its keep?".

Same widths, same interface, same time mixing, no geometry:

    x → RMSNorm → Linear(input_dim → n_0) [+ φ-time embedding] → block 0 → Linear(n_0 → n_1) → block 1 …
    block i: v ← v + causal attention(v) (temporal stacks only);  v ← v + W₂ SiLU(W₁ RMSNorm(v))
    output = Linear(concat of every block's v → n_{L-1})

What it lacks against `WuBuStack`: the Poincaré balls (curvature, scale), boundary points and their
distances, the spread kernel, level descriptors, tangent flows and the SO(n) rotations of the transitions.
A stack with `num_levels = 0` is the same linear map in both.
"""

from __future__ import annotations

import torch
from torch import nn

from wubugaad.wubu.temporal import CausalTangentAttention, PhiTimeEmbedding


class EuclideanBlock(nn.Module):
    """Residual MLP block of width `dim` (hidden `2·dim`), with causal attention first when temporal."""

    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.attention = CausalTangentAttention(dim, num_heads, dropout) if num_heads > 0 else None
        self.mlp = nn.Sequential(nn.RMSNorm(dim), nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(2 * dim, dim))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if self.attention is not None:
            v = self.attention(v)
        return v + self.mlp(v)


class EuclideanStack(nn.Module):
    """Drop-in for `WuBuStack` built from the same `StackConfig` (module docstring)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        dims = cfg.hyperbolic_dims
        self.output_dim = dims[-1]
        heads = cfg.num_heads if cfg.temporal else 0
        self.input_norm = nn.RMSNorm(cfg.input_dim)
        self.input_proj = nn.Linear(cfg.input_dim, dims[0])
        self.time_embedding = PhiTimeEmbedding(dims[0]) if cfg.temporal else None
        self.blocks = nn.ModuleList(EuclideanBlock(d, heads, cfg.dropout) for d in dims)
        self.transitions = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.output_proj = nn.Linear(sum(dims), self.output_dim)

    def forward(self, x: torch.Tensor, return_points: bool = False):
        cfg = self.cfg
        if x.shape[-1] != cfg.input_dim:
            raise ValueError(f"{cfg.name}: expected last dim {cfg.input_dim}, got shape {tuple(x.shape)}")
        if cfg.temporal and x.dim() < 3:
            raise ValueError(f"{cfg.name}: a temporal stack needs (B, S, D) input, got {tuple(x.shape)}")
        lead = x.shape[:-2] if cfg.temporal else x.shape[:-1]
        v = self.input_proj(self.input_norm(x.reshape(-1, *x.shape[-2:]) if cfg.temporal
                                            else x.reshape(-1, x.shape[-1])))  # (N[, S], n_0)
        if self.time_embedding is not None:
            v = self.time_embedding(v)
        features = []
        for i, block in enumerate(self.blocks):
            v = block(v)
            features.append(v)
            if i < len(self.transitions):
                v = self.transitions[i](v)
        y = self.output_proj(torch.cat(features, dim=-1))
        y = y.reshape(*lead, *y.shape[1:])  # restore the caller's leading dims
        return (y, []) if return_points else y

    def geometry_stats(self) -> dict[str, torch.Tensor]:
        """No geometry: nothing to report."""
        return {}
