"""Poincaré-ball maps of curvature `-c`: the ball `{x : c‖x‖² < 1}`, points along `dim=-1`.

Every function is pure, accepts any leading shape, and takes the curvature `c` as a tensor that broadcasts
against `x[..., :1]` (a 0-dim tensor is fine) so that gradients reach a learnable curvature.

Numerics (all of them live in this file):
- Work is done in at least float32: half / bfloat16 inputs are upcast and the result is cast back, so the
  maps also behave under bf16 autocast.
- Norms are floored with `clamp_min` before any division; `tanh` / `artanh` arguments are clamped at
  their singularities.
- `tanh(u)/u` and `artanh(u)/u` use their Taylor series below a small `u` (exact to the working
  precision there), and the other branch of the `where` sees a clamped `u`, so neither the value nor the
  gradient is ever NaN at `‖v‖ = 0` and there is no `sqrt(x² + eps)` bias.
- Points handed back are strictly inside the ball: `√c‖x‖ ≤ 1 - boundary_margin(dtype)` for the output
  dtype (the margin is wide enough that rounding to that dtype cannot reach the boundary).

float32 invertibility range: `logmap0(expmap0(v)) = v` to relative error ≤ 1e-4 for `√c‖v‖ ≤
FLOAT32_ROUNDTRIP_RANGE` (= 4). Beyond it `tanh` is within a few hundred float32 ulps of 1, so the
inverse amplifies rounding by `e^{2√c‖v‖}` and the direction survives but the length does not.
float64 keeps 1e-10 relative round trip up to `√c‖v‖ ≈ 8`.
"""

from __future__ import annotations

import torch

FLOAT32_ROUNDTRIP_RANGE = 4.0

_MARGINS = {
    torch.float64: 1e-10,
    torch.float32: 1e-5,
    torch.float16: 2e-3,
    torch.bfloat16: 1e-2,
}
# Below this |u| the series of tanh(u)/u and artanh(u)/u (through u⁶) is exact to the working precision:
# the first dropped term is ≤ u⁸/9 (1e-9 at 0.1 in float32, 4e-20 at 5e-3 in float64).
_SERIES_BELOW = {torch.float64: 5e-3, torch.float32: 0.1}
_MIN_NORM = 1e-15
_TANH_CLAMP = 15.0

Scalar = float | torch.Tensor


def boundary_margin(dtype: torch.dtype) -> float:
    """Margin `m` of `dtype`: points are kept at `√c‖x‖ ≤ 1 - m`."""
    return _MARGINS.get(dtype, 1e-5)


def _work_dtype(*values: Scalar) -> torch.dtype:
    """Promotion of the tensor arguments' dtypes, never below float32 (Python numbers do not promote)."""
    dtype = torch.float32
    for value in values:
        if isinstance(value, torch.Tensor):
            dtype = torch.promote_types(dtype, value.dtype)
    return dtype


def _to(value: Scalar, dtype: torch.dtype, like: torch.Tensor) -> torch.Tensor:
    """`value` as a tensor of the working dtype on `like`'s device."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype)
    return torch.as_tensor(value, dtype=dtype, device=like.device)


def _norm(x: torch.Tensor) -> torch.Tensor:
    """‖x‖ along the last dim (keepdim), floored so it can be divided by."""
    return torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(_MIN_NORM)


def _tanh_over(u: torch.Tensor) -> torch.Tensor:
    """tanh(u)/u for u ≥ 0: series `1 - u²/3 + 2u⁴/15 - 17u⁶/315` near 0, tanh(min(u, 15))/u elsewhere."""
    small = _SERIES_BELOW.get(u.dtype, 0.1)
    u2 = u.clamp_max(small).square()  # the unused branch must not overflow (0·inf = NaN in backward)
    series = 1 - u2 / 3 + u2 * u2 * (2 / 15) - u2 * u2 * u2 * (17 / 315)
    safe = u.clamp_min(small)
    return torch.where(u < small, series, torch.tanh(safe.clamp_max(_TANH_CLAMP)) / safe)


def _artanh_over(u: torch.Tensor, limit: float) -> torch.Tensor:
    """artanh(min(u, limit))/u for u ≥ 0: series `1 + u²/3 + u⁴/5 + u⁶/7` near 0."""
    small = _SERIES_BELOW.get(u.dtype, 0.1)
    u2 = u.clamp_max(small).square()  # the unused branch must not overflow (0·inf = NaN in backward)
    series = 1 + u2 / 3 + u2 * u2 / 5 + u2 * u2 * u2 / 7
    safe = u.clamp_min(small)
    return torch.where(u < small, series, torch.atanh(safe.clamp_max(limit)) / safe)


def _project(x: torch.Tensor, sqrt_c: Scalar, margin: float) -> torch.Tensor:
    """Radially clip x to `√c‖x‖ ≤ 1 - margin` (working dtype in, working dtype out)."""
    norm = _norm(x)
    max_norm = (1 - margin) / sqrt_c
    return torch.where(norm > max_norm, x * (max_norm / norm), x)


def _mobius_add(x: torch.Tensor, y: torch.Tensor, c: Scalar) -> torch.Tensor:
    """x ⊕ y without projection (working dtype)."""
    x2 = x.pow(2).sum(-1, keepdim=True)
    y2 = y.pow(2).sum(-1, keepdim=True)
    xy = (x * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c * c * x2 * y2
    return num / den.clamp_min(_MIN_NORM)


def _conformal(x: torch.Tensor, c: Scalar, margin: float) -> torch.Tensor:
    """λ_x = 2/(1 - c‖x‖²) (keepdim), with the denominator floored at its value on the clipping radius."""
    floor = 1 - (1 - margin) ** 2
    return 2 / (1 - c * x.pow(2).sum(-1, keepdim=True)).clamp_min(floor)


def project(x: torch.Tensor, c: Scalar) -> torch.Tensor:
    """Clip x radially into the ball: `x·min(1, (1-m)/(√c‖x‖))` with m = `boundary_margin(x.dtype)`."""
    wd = _work_dtype(x, c)
    return _project(x.to(wd), _to(c, wd, x).sqrt(), boundary_margin(x.dtype)).to(x.dtype)


def expmap0(v: torch.Tensor, c: Scalar, scale: Scalar = 1.0) -> torch.Tensor:
    """Exponential map at the origin: `expmap0(v) = tanh(√c‖v‖)·v/(√c‖v‖)`, then `project`.

    Scale-aware form: `expmap0(v, c, s) = expmap0(s·v, c)`.
    """
    wd = _work_dtype(v, c, scale)
    sqrt_c = _to(c, wd, v).sqrt()
    sv = v.to(wd) * _to(scale, wd, v)
    u = sqrt_c * torch.linalg.vector_norm(sv, dim=-1, keepdim=True)
    return _project(_tanh_over(u) * sv, sqrt_c, boundary_margin(v.dtype)).to(v.dtype)


def logmap0(y: torch.Tensor, c: Scalar, scale: Scalar = 1.0) -> torch.Tensor:
    """Logarithmic map at the origin: `logmap0(y) = artanh(√c‖y‖)·y/(√c‖y‖)`.

    The artanh argument is clamped at `1 - boundary_margin` of the working dtype. Scale-aware form:
    `logmap0(y, c, s) = logmap0(y, c)/s`.
    """
    wd = _work_dtype(y, c, scale)
    yw = y.to(wd)
    u = _to(c, wd, y).sqrt() * torch.linalg.vector_norm(yw, dim=-1, keepdim=True)
    out = _artanh_over(u, 1 - boundary_margin(wd)) * yw / _to(scale, wd, y)
    return out.to(y.dtype)


def mobius_add(x: torch.Tensor, y: torch.Tensor, c: Scalar) -> torch.Tensor:
    """Möbius addition, then `project`:

    `x ⊕ y = ((1 + 2c⟨x,y⟩ + c‖y‖²)x + (1 - c‖x‖²)y) / (1 + 2c⟨x,y⟩ + c²‖x‖²‖y‖²)`.
    """
    out_dtype = torch.promote_types(x.dtype, y.dtype)
    wd = _work_dtype(x, y, c)
    c = _to(c, wd, x)
    out = _mobius_add(x.to(wd), y.to(wd), c)
    return _project(out, c.sqrt(), boundary_margin(out_dtype)).to(out_dtype)


def expmap(x: torch.Tensor, v: torch.Tensor, c: Scalar) -> torch.Tensor:
    """Exponential map at x: `expmap(x, v) = x ⊕ tanh(√c λ_x‖v‖/2)·v/(√c‖v‖)`, then `project`.

    Written as `x ⊕ [tanh(w)/w]·(λ_x/2)·v` with `w = √c λ_x‖v‖/2`, which is safe at v = 0.
    """
    out_dtype = torch.promote_types(x.dtype, v.dtype)
    wd = _work_dtype(x, v, c)
    c = _to(c, wd, x)
    sqrt_c = c.sqrt()
    xw, vw = x.to(wd), v.to(wd)
    half_lam = _conformal(xw, c, boundary_margin(wd)) / 2
    w = sqrt_c * half_lam * torch.linalg.vector_norm(vw, dim=-1, keepdim=True)
    second = _tanh_over(w) * half_lam * vw
    return _project(_mobius_add(xw, second, c), sqrt_c, boundary_margin(out_dtype)).to(out_dtype)


def logmap(x: torch.Tensor, y: torch.Tensor, c: Scalar) -> torch.Tensor:
    """Logarithmic map at x: `logmap(x, y) = (2/(√c λ_x))·artanh(√c‖s‖)·s/‖s‖`, `s = (−x) ⊕ y`.

    Written as `(2/λ_x)·[artanh(u)/u]·s` with `u = √c‖s‖`, which is safe at y = x.
    """
    out_dtype = torch.promote_types(x.dtype, y.dtype)
    wd = _work_dtype(x, y, c)
    c = _to(c, wd, x)
    xw, yw = x.to(wd), y.to(wd)
    margin = boundary_margin(wd)
    s = _mobius_add(-xw, yw, c)
    u = c.sqrt() * torch.linalg.vector_norm(s, dim=-1, keepdim=True)
    out = (2 / _conformal(xw, c, margin)) * _artanh_over(u, 1 - margin) * s
    return out.to(out_dtype)


def dist(x: torch.Tensor, y: torch.Tensor, c: Scalar, keepdim: bool = False) -> torch.Tensor:
    """Geodesic distance `d(x, y) = (2/√c)·artanh(√c‖(−x) ⊕ y‖)` = `2·[artanh(u)/u]·‖s‖`, u = √c‖s‖."""
    out_dtype = torch.promote_types(x.dtype, y.dtype)
    wd = _work_dtype(x, y, c)
    c = _to(c, wd, x)
    s = _mobius_add(-x.to(wd), y.to(wd), c)
    norm = torch.linalg.vector_norm(s, dim=-1, keepdim=True)
    out = 2 * _artanh_over(c.sqrt() * norm, 1 - boundary_margin(wd)) * norm
    return (out if keepdim else out.squeeze(-1)).to(out_dtype)


def lambda_x(x: torch.Tensor, c: Scalar, keepdim: bool = True) -> torch.Tensor:
    """Conformal factor `λ_x = 2/(1 - c‖x‖²)` (denominator floored at its value on the clipping radius)."""
    wd = _work_dtype(x, c)
    out = _conformal(x.to(wd), _to(c, wd, x), boundary_margin(wd))
    return (out if keepdim else out.squeeze(-1)).to(x.dtype)


def egrad2rgrad(x: torch.Tensor, g: torch.Tensor, c: Scalar) -> torch.Tensor:
    """Riemannian gradient from the Euclidean one: `rgrad = egrad/λ_x²`."""
    out_dtype = torch.promote_types(x.dtype, g.dtype)
    wd = _work_dtype(x, g, c)
    lam = _conformal(x.to(wd), _to(c, wd, x), boundary_margin(wd))
    return (g.to(wd) / lam.pow(2)).to(out_dtype)


def gyration(u: torch.Tensor, v: torch.Tensor, w: torch.Tensor, c: Scalar) -> torch.Tensor:
    """Gyration `gyr[u, v]w = ⊖(u ⊕ v) ⊕ (u ⊕ (v ⊕ w))`, in closed form `w + 2(A·u + B·v)/D` with

        A = −c²⟨u,w⟩‖v‖² + c⟨v,w⟩ + 2c²⟨u,v⟩⟨v,w⟩,   B = −c²⟨v,w⟩‖u‖² − c⟨u,w⟩,
        D = 1 + 2c⟨u,v⟩ + c²‖u‖²‖v‖²   (D ≥ (1 − c‖u‖‖v‖)² > 0 inside the ball; floored anyway).

    A rotation of `w` (norm-preserving); the identity when `u` or `v` is 0.
    """
    out_dtype = torch.promote_types(torch.promote_types(u.dtype, v.dtype), w.dtype)
    wd = _work_dtype(u, v, w, c)
    c = _to(c, wd, u)
    u, v, w = u.to(wd), v.to(wd), w.to(wd)

    def dot(a, b):
        return (a * b).sum(dim=-1, keepdim=True)

    uu, vv, uv, uw, vw = dot(u, u), dot(v, v), dot(u, v), dot(u, w), dot(v, w)
    c2 = c * c
    a = -c2 * uw * vv + c * vw + 2 * c2 * uv * vw
    b = -c2 * vw * uu - c * uw
    d = (1 + 2 * c * uv + c2 * uu * vv).clamp_min(_MIN_NORM)
    return (w + 2 * (a * u + b * v) / d).to(out_dtype)


def transport(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, c: Scalar) -> torch.Tensor:
    """Parallel transport of the tangent vector `v` at `x` to `y`: `gyr[y, −x]v · λ_x/λ_y`.

    Exact for the Levi-Civita connection of the ball; keeps the Riemannian norm `λ‖v‖`.
    """
    out_dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), v.dtype)
    wd = _work_dtype(x, y, v, c)
    c = _to(c, wd, x)
    xw, yw = x.to(wd), y.to(wd)
    margin = boundary_margin(wd)
    ratio = _conformal(xw, c, margin) / _conformal(yw, c, margin)
    return (gyration(yw, -xw, v.to(wd), c) * ratio).to(out_dtype)


# ---------------------------------------------------------------------------------------------------------
# The c → 0 limit and its norm-bounded variant: the maps of the Euclidean twins of a WuBu level (the
# matched controls of the theory study). Pure functions, no curvature argument: at c → 0 `tanh(u)/u`,
# `artanh(u)/u` → 1 and Möbius addition becomes `+`, so each is the limit of its ball map above.
# ---------------------------------------------------------------------------------------------------------
def flat_expmap0(v: torch.Tensor, scale: Scalar = 1.0) -> torch.Tensor:
    """`lim_{c→0} expmap0(v, c, s) = s·v` (nothing to clip: the ball's radius `1/√c` grows without bound)."""
    return v * scale


def flat_logmap0(y: torch.Tensor, scale: Scalar = 1.0) -> torch.Tensor:
    """`lim_{c→0} logmap0(y, c, s) = y/s`."""
    return y / scale


def flat_dist(x: torch.Tensor, y: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """`lim_{c→0} dist(x, y, c) = 2‖y − x‖` (at c = 0 the metric is `λ_x² = 4` times Euclid's)."""
    out = 2 * torch.linalg.vector_norm(y - x, dim=-1, keepdim=True)
    return out if keepdim else out.squeeze(-1)


def clip_norm(x: torch.Tensor, radius: Scalar) -> torch.Tensor:
    """Radial clip to a fixed radius: `x·min(1, r/‖x‖)` (the norm-controlled twin: bounded but flat)."""
    return x * (radius / _norm(x)).clamp_max(1.0)
