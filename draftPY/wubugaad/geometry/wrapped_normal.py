"""The wrapped normal on the Poincaré ball of curvature `-c`, as pure functions (the maps: `poincare.py`).

Nagano et al. 2019 ("A wrapped normal distribution on hyperbolic space") and Mathieu et al. 2019
("Continuous hierarchical representations with Poincaré VAEs"): a diagonal Gaussian in the tangent space at
the origin, carried to `μ` by parallel transport and onto the ball by the exponential map at `μ`:

    v ~ N(0, diag σ²)  in T_0 (coordinates of `poincare.expmap0`'s convention)
    z = exp_μ(PT_{0→μ}(v)),   PT_{0→μ}(v) = (λ_0/λ_μ)·v   (gyr[μ, 0] is the identity), λ_x = 2/(1 − c‖x‖²)

so at c → 0 `z = μ + v`, the Euclidean Gaussian `N(μ, σ²)`, and at `μ = 0` `z = expmap0(v)`.

Density with respect to the ball's Riemannian volume `dvol = λ_z^d dz` (d = the last dimension):

    log p(z) = log N(v; 0, σ²) − d·log λ_0 − (d − 1)·log( sinh(√c r) / (√c r) )
    v = PT_{μ→0}(log_μ z) = (λ_μ/λ_0)·log_μ z,   r = d_c(μ, z) = λ_0‖v‖

- `(d − 1)·log(sinh(√c r)/(√c r))` is the log-determinant of `exp_μ` between Riemannian volumes at
  geodesic radius `r` (the radial direction keeps length, each of the `d − 1` orthogonal ones is stretched
  by `sinh(√c r)/(√c r)` in constant curvature `−c`).
- `−d·log λ_0 = −d·log 2`: `v` is a coordinate vector at the origin, whose metric is `λ_0² = 4` times
  Euclid's, so the Gaussian's density per Riemannian volume of `T_0` is `N(v; 0, σ²)/λ_0^d`. Mathieu et
  al.'s code (pvae) samples `exp_μ(PT(σ'ε/λ_0))` in orthonormal coordinates instead: the same law for
  `σ' = λ_0·σ`, and the same log-density. Dropping the term gives the density per `dvol/λ_0^d`, which at
  c → 0 is Lebesgue measure; a KL between two wrapped normals of one curvature does not see it.
- The one named singularity is `r → 0` (`z = μ`), where `sinh(x)/x → 1`: below a small `x` its log is
  taken from its series, and the other branch of the `where` sees a clamped `x`, so neither the value
  nor the gradient is NaN there (the convention of `poincare.py`).

Work is done in at least float32 (half inputs are upcast, the result cast back). Nothing here is wired into
the model yet: a `--latent_geometry poincare` latent will read these functions.
"""

from __future__ import annotations

import math

import torch

from wubugaad.geometry.poincare import Scalar, dist, expmap, lambda_x, logmap

__all__ = ["wrapped_normal_sample", "wrapped_normal_log_prob", "kl_monte_carlo", "log_sinh_over"]

LAMBDA_0 = 2.0  # the conformal factor at the origin, for every curvature
_LOG_2PI = math.log(2 * math.pi)
# Below this x the series of log(sinh(x)/x) through x⁶ is exact to the working precision: the first dropped
# term is x⁸/37800 (3e-13 at 0.1 against a value of 1.7e-3 in float32; 1e-23 at 5e-3 in float64).
_SERIES_BELOW = {torch.float64: 5e-3, torch.float32: 0.1}


def _work_dtype(*tensors: torch.Tensor | float) -> torch.dtype:
    """Promotion of the tensor arguments' dtypes, never below float32."""
    dtype = torch.float32
    for t in tensors:
        if isinstance(t, torch.Tensor):
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _curvature(c: Scalar, dtype: torch.dtype, like: torch.Tensor) -> torch.Tensor:
    return c.to(dtype) if isinstance(c, torch.Tensor) else torch.as_tensor(c, dtype=dtype, device=like.device)


def log_sinh_over(x: torch.Tensor) -> torch.Tensor:
    """`log(sinh(x)/x)` for `x ≥ 0`: the series `x²/6 − x⁴/180 + x⁶/2835` near 0, and elsewhere
    `x + log(−expm1(−2x)/(2x))`, which neither overflows (sinh would at x ≈ 89 in float32) nor loses the
    small value to cancellation in `1 − e^{−2x}`."""
    small = _SERIES_BELOW.get(x.dtype, 0.1)
    x2 = x.clamp_max(small).square()
    series = x2 / 6 - x2 * x2 / 180 + x2 * x2 * x2 / 2835
    safe = x.clamp_min(small)  # the unused branch must not divide by 0 (0·inf = NaN in backward)
    return torch.where(x < small, series, safe + torch.log(-torch.expm1(-2 * safe) / (2 * safe)))


def wrapped_normal_sample(mu: torch.Tensor, logvar: torch.Tensor, c: Scalar,
                          noise: torch.Tensor) -> torch.Tensor:
    """Reparameterised sample `z = exp_μ((λ_0/λ_μ)·σ⊙ε)`, `σ = exp(logvar/2)`, of the wrapped normal with
    mean `mu` (a point of the ball) and tangent log-variances `logvar` (module docstring).

    `noise` `ε ~ N(0, I)` is an argument, so the sample is a deterministic, differentiable function of
    `(mu, logvar, c)` given it; `mu`, `logvar`, `noise` broadcast together along the leading dims.
    """
    out_dtype = torch.promote_types(torch.promote_types(mu.dtype, logvar.dtype), noise.dtype)
    wd = _work_dtype(mu, logvar, noise, c)
    c = _curvature(c, wd, mu)
    mu_w = mu.to(wd)
    v = (0.5 * logvar.to(wd)).exp() * noise.to(wd)
    # parallel transport from the origin: the gyration gyr[μ, 0] is the identity, only the scale changes
    u = (LAMBDA_0 / lambda_x(mu_w, c)) * v
    return expmap(mu_w, u, c).to(out_dtype)


def wrapped_normal_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                            c: Scalar) -> torch.Tensor:
    """`log p(z)` per point (the last dim summed) of the wrapped normal `(mu, logvar)` with respect to the
    Riemannian volume of the ball (module docstring): `log N(v; 0, σ²) − d·log λ_0 − (d−1)·log(sinh(√c r) /
    (√c r))`, `v = (λ_μ/λ_0)·log_μ z`, `r = d_c(μ, z)`. Shape: the broadcast leading shape of the inputs.
    """
    out_dtype = torch.promote_types(torch.promote_types(z.dtype, mu.dtype), logvar.dtype)
    wd = _work_dtype(z, mu, logvar, c)
    c = _curvature(c, wd, z)
    z_w, mu_w, logvar_w = z.to(wd), mu.to(wd), logvar.to(wd)
    d = z.shape[-1]
    v = (lambda_x(mu_w, c) / LAMBDA_0) * logmap(mu_w, z_w, c)  # transported back to the origin
    gaussian = -0.5 * (v.square() * torch.exp(-logvar_w) + logvar_w + _LOG_2PI).sum(dim=-1)
    r = dist(mu_w, z_w, c, keepdim=True)  # (..., 1), as c broadcasts against x[..., :1]
    log_det = (d - 1) * log_sinh_over(c.sqrt() * r).squeeze(-1)
    return (gaussian - d * math.log(LAMBDA_0) - log_det).to(out_dtype)


def kl_monte_carlo(z: torch.Tensor, q_mu: torch.Tensor, q_logvar: torch.Tensor, p_mu: torch.Tensor,
                   p_logvar: torch.Tensor, c: Scalar) -> torch.Tensor:
    """One-sample estimate of KL(q ‖ p) per sample: `log q(z) − log p(z)` for `z` drawn from `q` (by
    `wrapped_normal_sample`, so its gradient reaches q's parameters through z). The wrapped normal's KL
    has no closed form; its mean over samples is unbiased, and the caller averages."""
    return wrapped_normal_log_prob(z, q_mu, q_logvar, c) - wrapped_normal_log_prob(z, p_mu, p_logvar, c)
