"""The wrapped normal on the Poincaré ball (`geometry/wrapped_normal.py`): the sample is the transported,
exponentiated Gaussian; the density integrates to 1 against the Riemannian volume; the flat limit is the
Euclidean Gaussian; the Monte Carlo KL is 0 for equal parameters, positive otherwise and the Euclidean KL
as c → 0; values and gradients stay finite at z = μ, at μ = 0 and near the boundary."""

import math

import pytest
import torch
from wubugaad.geometry import poincare as P
from wubugaad.geometry.wrapped_normal import (
    kl_monte_carlo,
    log_sinh_over,
    wrapped_normal_log_prob,
    wrapped_normal_sample,
)

DTYPES = [torch.float32, torch.float64]
CURVATURES = [0.1, 1.0, 2.0]
SEEDS = [0, 1]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
FLAT_C = 1e-6


def _params(n: int, d: int, c: float, dtype: torch.dtype, seed: int, spread: float = 0.4):
    """`(mu, logvar, noise)`: n means inside the ball (√c‖μ‖ up to tanh(1.2) ≈ 0.83), tangent standard
    deviations with √c·σ in [0.1, spread], and standard normal noise."""
    g = torch.Generator().manual_seed(seed)
    c_t = torch.tensor(c, dtype=torch.float64)
    direction = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    mu = P.expmap0(direction * 1.2 * torch.rand(n, 1, generator=g, dtype=torch.float64) / math.sqrt(c), c_t)
    sigma = (0.1 + (spread - 0.1) * torch.rand(n, d, generator=g, dtype=torch.float64)) / math.sqrt(c)
    noise = torch.randn(n, d, generator=g, dtype=torch.float64)
    return mu.to(dtype), (2 * sigma.log()).to(dtype), noise.to(dtype)


def _euclidean_log_prob(z, mu, logvar):
    return torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CURVATURES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sample_at_the_origin_is_expmap0_of_the_scaled_noise(dtype, c, seed):
    _, logvar, noise = _params(64, 5, c, dtype, seed)
    c_t = torch.tensor(c, dtype=dtype)
    z = wrapped_normal_sample(torch.zeros_like(noise), logvar, c_t, noise)
    tol = TOL[dtype]
    torch.testing.assert_close(z, P.expmap0((0.5 * logvar).exp() * noise, c_t), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CURVATURES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sample_is_the_transported_noise_mapped_at_mu_and_the_density_reads_it_back(dtype, c, seed):
    """z = exp_μ(PT_{0→μ}(σε)) with the general parallel transport of `poincare.py` (the λ_0/λ_μ scaling
    is it at x = 0), and the log-density recovers v = σε: log N(σε) − d·log 2 − (d−1)·log(sinh(x)/x) at
    x = √c·λ_0‖σε‖."""
    mu, logvar, noise = _params(64, 5, c, dtype, seed)
    c_t = torch.tensor(c, dtype=dtype)
    v = (0.5 * logvar).exp() * noise
    z = wrapped_normal_sample(mu, logvar, c_t, noise)
    assert z.dtype == dtype and torch.isfinite(z).all()
    assert (c * z.double().square().sum(-1) < 1).all()
    expected = P.expmap(mu, P.transport(torch.zeros_like(mu), mu, v, c_t), c_t)
    tol = 10 * TOL[dtype]
    torch.testing.assert_close(z, expected, rtol=tol, atol=tol)
    d = v.shape[-1]
    radius = math.sqrt(c) * 2 * v.double().norm(dim=-1)
    log_sinh = torch.log(torch.sinh(radius) / radius)
    reference = _euclidean_log_prob(v.double(), 0.0, logvar.double()) - d * math.log(2) - (d - 1) * log_sinh
    got = wrapped_normal_log_prob(z, mu, logvar, c_t)
    assert got.shape == (64,) and got.dtype == dtype
    torch.testing.assert_close(got.double(), reference, rtol=0, atol={torch.float32: 2e-3,
                                                                      torch.float64: 1e-8}[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_flat_limit_is_the_euclidean_gaussian(dtype, seed):
    """At c → 0 the sample is μ + σε and the density per Lebesgue measure (the Riemannian one times the
    volume element λ_z^d → 2^d) is N(z; μ, σ²)."""
    mu, logvar, noise = _params(64, 4, 1.0, dtype, seed)  # moderate sizes; the ball's radius is 1000 here
    c = torch.tensor(FLAT_C, dtype=dtype)
    z = wrapped_normal_sample(mu, logvar, c, noise)
    torch.testing.assert_close(z, mu + (0.5 * logvar).exp() * noise, rtol=1e-5, atol=1e-5)
    per_lebesgue = wrapped_normal_log_prob(z, mu, logvar, c) + 4 * P.lambda_x(z, c, keepdim=False).log()
    torch.testing.assert_close(per_lebesgue, _euclidean_log_prob(z, mu, logvar), rtol=0, atol=1e-4)


@pytest.mark.parametrize("c", CURVATURES)
@pytest.mark.parametrize("centre", [(0.0, 0.0), (0.45, -0.3)])
def test_density_integrates_to_one_against_the_riemannian_volume(c, centre):
    """d = 2, float64: the midpoint rule over a 600² grid of the disk of radius 1/√c of p(z)·λ_z² (the
    Riemannian volume element) is 1, for a mean at the origin and one off it (√c‖μ‖ = 0.54)."""
    dtype, n, radius = torch.float64, 600, 1 / math.sqrt(c)
    c_t = torch.tensor(c, dtype=dtype)
    mu = torch.tensor(centre, dtype=dtype) * radius
    logvar = torch.log(torch.tensor([0.3, 0.2], dtype=dtype) * radius).mul(2)
    side = ((torch.arange(n, dtype=dtype) + 0.5) / n * 2 - 1) * radius
    grid = torch.stack(torch.meshgrid(side, side, indexing="xy"), dim=-1).reshape(-1, 2)
    grid = grid[c * grid.square().sum(-1) < 1]
    density = wrapped_normal_log_prob(grid, mu, logvar, c_t).exp() * P.lambda_x(grid, c_t, keepdim=False) ** 2
    assert (density.sum() * (2 * radius / n) ** 2).item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CURVATURES)
def test_monte_carlo_kl_of_equal_parameters_is_exactly_zero(dtype, c):
    mu, logvar, noise = _params(256, 6, c, dtype, 0)
    c_t = torch.tensor(c, dtype=dtype)
    z = wrapped_normal_sample(mu, logvar, c_t, noise)
    kl = kl_monte_carlo(z, mu, logvar, mu, logvar, c_t)
    assert kl.shape == (256,) and torch.equal(kl, torch.zeros_like(kl))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CURVATURES)
@pytest.mark.parametrize("seed", SEEDS)
def test_monte_carlo_kl_is_positive_on_average_for_different_parameters(dtype, c, seed):
    """4096 samples of q per pair, two pairs (p moved off q's mean, p wider): the mean of log q − log p
    exceeds three standard errors above 0 (KL ≥ 0, = 0 only for q = p)."""
    mu, logvar, _ = _params(2, 3, c, dtype, seed)
    c_t = torch.tensor(c, dtype=dtype)
    g = torch.Generator().manual_seed(100 + seed)
    noise = torch.randn(4096, 2, 3, generator=g, dtype=torch.float64).to(dtype)
    z = wrapped_normal_sample(mu, logvar, c_t, noise)  # (4096, 2, 3)
    p_mu = torch.stack([P.mobius_add(mu[0], torch.full_like(mu[0], 0.2 / math.sqrt(c)), c_t), mu[1]])
    p_logvar = torch.stack([logvar[0], logvar[1] + 1.0])
    kl = kl_monte_carlo(z, mu, logvar, p_mu, p_logvar, c_t).double()
    assert torch.isfinite(kl).all()
    mean, se = kl.mean(0), kl.std(0) / math.sqrt(kl.shape[0])
    assert (mean > 3 * se).all(), (mean, se)


@pytest.mark.parametrize("dtype", DTYPES)
def test_monte_carlo_kl_is_the_euclidean_kl_at_the_flat_limit(dtype):
    """At c → 0 every sample's log q − log p is the Euclidean Gaussians' log-ratio, and their mean is
    within four standard errors of the closed-form Euclidean KL."""
    q_mu, q_logvar, _ = _params(1, 4, 1.0, dtype, 3)
    p_mu, p_logvar, _ = _params(1, 4, 1.0, dtype, 4)
    c = torch.tensor(FLAT_C, dtype=dtype)
    noise = torch.randn(8192, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64).to(dtype)
    z = wrapped_normal_sample(q_mu, q_logvar, c, noise)
    kl = kl_monte_carlo(z, q_mu, q_logvar, p_mu, p_logvar, c)
    ratio = _euclidean_log_prob(z, q_mu, q_logvar) - _euclidean_log_prob(z, p_mu, p_logvar)
    torch.testing.assert_close(kl, ratio, rtol=0, atol=2e-4)
    qv, pv = q_logvar.double().exp(), p_logvar.double().exp()
    closed = 0.5 * (p_logvar.double() - q_logvar.double() + (qv + (q_mu - p_mu).double() ** 2) / pv - 1).sum()
    kl = kl.double()
    assert abs(kl.mean() - closed) < 4 * kl.std() / math.sqrt(kl.numel()), (kl.mean(), closed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CURVATURES)
def test_values_and_gradients_are_finite_at_mu_zero_at_z_equal_mu_and_near_the_boundary(dtype, c):
    d = 4
    direction = torch.tensor([0.6, -0.8, 0.0, 0.0], dtype=dtype)
    cases = {  # name: (mu, noise)
        "origin": (torch.zeros(d, dtype=dtype), torch.tensor([0.3, -1.0, 0.5, 0.0], dtype=dtype)),
        "z = mu = 0 (r = 0)": (torch.zeros(d, dtype=dtype), torch.zeros(d, dtype=dtype)),
        "z = mu off the origin": (direction * 0.5 / math.sqrt(c), torch.zeros(d, dtype=dtype)),
        "near the boundary": (direction * (1 - 1e-3) / math.sqrt(c), torch.tensor([1.0, 0.5, -0.2, 0.1],
                                                                                   dtype=dtype)),
    }
    for name, (mu0, noise) in cases.items():
        mu = mu0.clone().requires_grad_(True)
        logvar = torch.full((d,), -1.0, dtype=dtype, requires_grad=True)
        c_t = torch.tensor(c, dtype=dtype, requires_grad=True)
        z = wrapped_normal_sample(mu, logvar, c_t, noise)
        log_q = wrapped_normal_log_prob(z, mu, logvar, c_t)
        kl = kl_monte_carlo(z, mu, logvar, torch.zeros_like(mu), torch.zeros_like(logvar), c_t)
        assert torch.isfinite(z).all() and torch.isfinite(log_q) and torch.isfinite(kl), name
        (z.sum() + log_q + kl).backward()
        for param in (mu, logvar, c_t):
            assert torch.isfinite(param.grad).all(), (name, param.grad)
        if not noise.any():  # at z = μ: the Gaussian's peak, no volume change
            peak = -0.5 * (logvar + math.log(2 * math.pi)).sum() - d * math.log(2)
            torch.testing.assert_close(log_q, peak.detach(), rtol=0, atol=10 * TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_sinh_over_is_exact_across_its_series_switch_and_flat_at_zero(dtype):
    x = torch.cat([torch.logspace(-4, 1.3, 400, dtype=torch.float64), torch.tensor([0.005, 0.1, 30.0, 80.0],
                                                                                   dtype=torch.float64)])
    reference = torch.log(torch.sinh(x) / x)  # float64, away from 0 and overflow: the closed form
    got = log_sinh_over(x.to(dtype)).double()
    # float32 gets an absolute floor: the term is added to a log-density of order 1, and log(1 + y) near
    # y = 0 is resolved to about an ulp of 1 (the series below 0.1 does better)
    f32 = dtype == torch.float32
    torch.testing.assert_close(got, reference, rtol=1e-6 if f32 else 1e-12, atol=2e-7 if f32 else 1e-12)
    zero = torch.zeros(3, dtype=dtype, requires_grad=True)
    value = log_sinh_over(zero)
    value.sum().backward()
    assert not value.detach().any() and not zero.grad.any()
    assert log_sinh_over(torch.tensor([200.0])).isfinite().all()  # sinh(200) overflows float32; this does not


def test_half_precision_inputs_are_computed_in_float32_and_cast_back():
    mu, logvar, noise = _params(8, 3, 1.0, torch.float32, 0)
    c = torch.tensor(1.0)
    z = wrapped_normal_sample(mu.bfloat16(), logvar.bfloat16(), c, noise.bfloat16())
    assert z.dtype == torch.bfloat16 and torch.isfinite(z).all()
    log_q = wrapped_normal_log_prob(z, mu.bfloat16(), logvar.bfloat16(), c)
    assert log_q.dtype == torch.bfloat16 and torch.isfinite(log_q).all()
