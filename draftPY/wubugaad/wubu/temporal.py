"""Time mixing for WuBu-T: a φ-sinusoidal time embedding and causal self-attention in tangent space.

Time embedding (dimension `n`, positions `t = 0 … S-1`), with `m = ⌈n/2⌉` golden frequencies
`ω_j = φ^{-j}` (`j = 0 … m-1`, periods `2π·φ^j` frames):

    e(t)[2j] = sin(ω_j · t),   e(t)[2j+1] = cos(ω_j · t)     (truncated to `n` entries).

It is added to the projected input (unit-size coordinates, like it); the level's combiner normalises
and rescales before anything reaches `expmap0`.

Attention: pre-norm (RMSNorm) residual multi-head self-attention over the sequence axis with a causal mask
(`F.scaled_dot_product_attention(..., is_causal=True)`), so position `t` never attends to `t' > t`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wubugaad.geometry.golden import PHI


def phi_time_embedding(seq_len: int, dim: int, device=None, dtype=None) -> torch.Tensor:
    """`(seq_len, dim)` φ-sinusoidal embedding (formula in the module docstring)."""
    half = (dim + 1) // 2
    t = torch.arange(seq_len, device=device, dtype=dtype)
    omega = PHI ** -torch.arange(half, device=device, dtype=dtype)
    angles = t[:, None] * omega[None, :]  # (S, half)
    emb = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(seq_len, 2 * half)  # interleave sin/cos
    return emb[:, :dim]


class PhiTimeEmbedding(nn.Module):
    """`forward(v (…, S, n))` → `v + e(0 … S-1)`; each `(S, device, dtype)` table is built once and reused."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self._tables: dict[tuple, torch.Tensor] = {}

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        key = (v.shape[-2], v.device, v.dtype)
        if key not in self._tables:
            self._tables[key] = phi_time_embedding(v.shape[-2], self.dim, device=v.device, dtype=v.dtype)
        return v + self._tables[key]


class CausalTangentAttention(nn.Module):
    """`v + n^{-1/2} · W_o · MHA_causal(RMSNorm(v))` over the sequence axis of `v` (…, S, n).

    RMSNorm rather than LayerNorm: for tiny `n` (e.g. 2) removing the mean would erase the vector.
    The fixed factor `n^{-1/2}` keeps the residual branch at `O(1)` norm (the norm makes its input
    `√n` long), so the tangent vector that goes into `expmap0` stays `O(1)` for any `n`.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.norm = nn.RMSNorm(dim)
        # No qkv bias: a key bias shifts every score of a query equally (softmax ignores it, so it would be
        # a dead parameter); q, k and v need no offset of their own.
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.gain = dim**-0.5
        # Explicit init so the block does not depend on any model-wide initialiser.
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        lead, (S, n) = v.shape[:-2], v.shape[-2:]
        h = self.num_heads
        qkv = self.qkv(self.norm(v)).reshape(*lead, S, 3, h, n // h)  # (…, S, 3, heads, n/heads)
        q, k, val = qkv.movedim(-3, 0).transpose(-3, -2).unbind(0)  # each (…, heads, S, n/heads)
        mixed = F.scaled_dot_product_attention(
            q, k, val, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        mixed = mixed.transpose(-3, -2).reshape(*lead, S, n)  # back to (…, S, n)
        return v + self.out(mixed) * self.gain
