"""`Rotation`: a learnable rotation that stays exactly in SO(n) (docs/ARCHITECTURE.md, "Geometry").

The parameterisation depends on n, and every one maps any parameter value into SO(n), so no optimizer
step or re-projection can leave the group:
- n = 2: one angle θ, `R = [[cos θ, −sin θ], [sin θ, cos θ]]`.
- n = 4: two quaternions p, q (normalised in `matrix()`), `v ↦ p̂·v·q̂`; with `L(p)` / `R(q)` the left /
  right quaternion-multiplication matrices, `R = L(p̂)·R(q̂)` (every SO(4) element has this form).
- other n: a free matrix A, `R = matrix_exp(A − Aᵀ)` (the exponential of a skew-symmetric matrix),
  evaluated in float64 and cast back.

φ-initialisation (`phi_init=True`): R starts as the block rotation by θ_j in the coordinate plane
(2j, 2j+1), j = 0 … ⌊n/2⌋−1 (an odd n leaves the last coordinate fixed), with

    θ_j = (π / φ^(level_idx+1)) · frac((j+1)·φ),   φ = (1 + √5)/2,

i.e. golden-ratio (low-discrepancy) fractions of a level angle that shrinks by φ per level. For n = 4 the
same block rotation is written as `p = (cos α, sin α, 0, 0)`, `q = (cos β, sin β, 0, 0)` with
α = (θ_0 + θ_1)/2, β = (θ_0 − θ_1)/2 (left multiplication turns both planes by α, right by +β / −β).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from wubugaad.geometry.golden import PHI


def phi_angles(n: int, level_idx: int) -> torch.Tensor:
    """The ⌊n/2⌋ φ-init plane angles θ_j = (π/φ^(level_idx+1))·frac((j+1)·φ)."""
    j = torch.arange(1, n // 2 + 1, dtype=torch.float64)
    return (math.pi / PHI ** (level_idx + 1)) * torch.frac(j * PHI)


def _left_matrix(p: torch.Tensor) -> torch.Tensor:
    """Matrix of v ↦ p·v for quaternions stored as (w, x, y, z)."""
    a, b, c, d = p.unbind(-1)
    return torch.stack(
        [
            torch.stack([a, -b, -c, -d]),
            torch.stack([b, a, -d, c]),
            torch.stack([c, d, a, -b]),
            torch.stack([d, -c, b, a]),
        ]
    )


def _right_matrix(q: torch.Tensor) -> torch.Tensor:
    """Matrix of v ↦ v·q for quaternions stored as (w, x, y, z)."""
    a, b, c, d = q.unbind(-1)
    return torch.stack(
        [
            torch.stack([a, -b, -c, -d]),
            torch.stack([b, a, d, -c]),
            torch.stack([c, -d, a, b]),
            torch.stack([d, c, -b, a]),
        ]
    )


class Rotation(nn.Module):
    """A rotation R ∈ SO(n) acting on the last dim: `forward(v) = v @ Rᵀ`."""

    # Model-wide weight initialisers must skip this module: its parameters are not ordinary weights.
    _is_wubu_rotation = True

    def __init__(self, n: int, phi_init: bool = False, level_idx: int = 0):
        super().__init__()
        if n < 2:
            raise ValueError(f"Rotation: dimension n must be >= 2, got {n}; use a dim of 2 or more")
        self.n = n
        angles = phi_angles(n, level_idx) if phi_init else torch.zeros(n // 2, dtype=torch.float64)
        dtype = torch.get_default_dtype()
        if n == 2:
            self.angle = nn.Parameter(angles[0].to(dtype))
        elif n == 4:
            alpha = (angles[0] + angles[1]) / 2
            beta = (angles[0] - angles[1]) / 2
            zero = torch.zeros((), dtype=torch.float64)
            self.p = nn.Parameter(torch.stack([alpha.cos(), alpha.sin(), zero, zero]).to(dtype))
            self.q = nn.Parameter(torch.stack([beta.cos(), beta.sin(), zero, zero]).to(dtype))
        else:
            generator = torch.zeros(n, n, dtype=torch.float64)
            idx = torch.arange(n // 2)
            # A[2j+1, 2j] = θ_j makes A − Aᵀ the generator of the plane-(2j, 2j+1) rotation by θ_j.
            generator[2 * idx + 1, 2 * idx] = angles
            self.generator = nn.Parameter(generator.to(dtype))

    def matrix(self) -> torch.Tensor:
        """The (n, n) rotation matrix."""
        if self.n == 2:
            cos, sin = self.angle.cos(), self.angle.sin()
            return torch.stack([torch.stack([cos, -sin]), torch.stack([sin, cos])])
        if self.n == 4:
            p = self.p / torch.linalg.vector_norm(self.p).clamp_min(1e-12)
            q = self.q / torch.linalg.vector_norm(self.q).clamp_min(1e-12)
            return _left_matrix(p) @ _right_matrix(q)
        # float32 matrix_exp of a large skew matrix drifts off SO(n) by ~1e-5; in float64 it stays at the
        # rounding of the final cast. The matrix is small (n ≤ a few hundred), so the cost is negligible.
        skew = (self.generator - self.generator.transpose(0, 1)).double()
        return torch.linalg.matrix_exp(skew).to(self.generator.dtype)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Rotate v (..., n) along its last dim."""
        return v @ self.matrix().to(v.dtype).transpose(0, 1)

    def extra_repr(self) -> str:
        return f"n={self.n}"
