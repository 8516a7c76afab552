"""Poincaré-ball maps: agreement with geoopt (float64), identities, gradients, float32/bf16 robustness."""

import math

import geoopt
import pytest
import torch
from wubugaad.geometry import poincare as P

CURVATURES = [0.05, 0.5, 1.0, 3.0]
F64 = torch.float64


def _vectors(n, d, max_u, c, dtype=F64, seed=0, min_u=0.0):
    """n random tangent vectors with √c‖v‖ uniform in [min_u, max_u]."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, d, generator=g, dtype=F64)
    u = min_u + (max_u - min_u) * torch.rand(n, 1, generator=g, dtype=F64)
    return (v / v.norm(dim=-1, keepdim=True) * u / math.sqrt(c)).to(dtype)


def _points(n, d, c, seed, max_u=3.0):
    c_t = torch.tensor(c, dtype=F64)
    return P.expmap0(_vectors(n, d, max_u, c, seed=seed), c_t)


def _close(actual, expected, tol=1e-10):
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("c", CURVATURES)
def test_agrees_with_geoopt_float64(c):
    ball = geoopt.manifolds.PoincareBall(c=torch.tensor(c, dtype=F64))
    c_t = torch.tensor(c, dtype=F64)
    v = _vectors(32, 6, 3.0, c, seed=1)
    w = _vectors(32, 6, 1.0, c, seed=2)
    x, y = _points(32, 6, c, seed=3), _points(32, 6, c, seed=4)
    _close(P.expmap0(v, c_t), ball.expmap0(v, project=False))
    _close(P.logmap0(x, c_t), ball.logmap0(x))
    _close(P.mobius_add(x, y, c_t), ball.mobius_add(x, y, project=False))
    _close(P.expmap(x, w, c_t), ball.expmap(x, w, project=False))
    _close(P.logmap(x, y, c_t), ball.logmap(x, y))
    _close(P.dist(x, y, c_t), ball.dist(x, y))
    _close(P.dist(x, y, c_t, keepdim=True), ball.dist(x, y, keepdim=True))
    _close(P.lambda_x(x, c_t), ball.lambda_x(x, keepdim=True))
    _close(P.lambda_x(x, c_t, keepdim=False), ball.lambda_x(x))
    _close(P.egrad2rgrad(x, w, c_t), ball.egrad2rgrad(x, w))
    _close(P.project(x, c_t), ball.projx(x))
    outside = _vectors(32, 6, 30.0, c, seed=20, min_u=1.5)
    clipped = P.project(outside, c_t)
    _close(clipped / clipped.norm(dim=-1, keepdim=True), outside / outside.norm(dim=-1, keepdim=True))
    _close(math.sqrt(c) * clipped.norm(dim=-1), torch.full((32,), 1 - P.boundary_margin(F64), dtype=F64))


@pytest.mark.parametrize("c", CURVATURES)
def test_round_trips_float64(c):
    c_t = torch.tensor(c, dtype=F64)
    v = torch.cat([_vectors(32, 5, 5.0, c, seed=5), _vectors(4, 5, 1e-12, c, seed=6)])
    _close(P.logmap0(P.expmap0(v, c_t), c_t), v)
    x = _points(32, 5, c, seed=7)
    # Tangent vectors at x of hyperbolic length ≤ 4: Euclidean norm scaled by 2/λ_x.
    w = _vectors(32, 5, 2.0, c, seed=8) * 2 / P.lambda_x(x, c_t)
    _close(P.logmap(x, P.expmap(x, w, c_t), c_t), w)
    y = _points(32, 5, c, seed=9)
    _close(P.expmap(x, P.logmap(x, y, c_t), c_t), y)


@pytest.mark.parametrize("c", CURVATURES)
def test_scale_aware_maps(c):
    c_t = torch.tensor(c, dtype=F64)
    v = _vectors(8, 4, 2.0, c, seed=10)
    s = torch.rand(8, 1, dtype=F64) + 0.5
    _close(P.expmap0(v, c_t, s), P.expmap0(s * v, c_t))
    _close(P.expmap0(v, c_t, 1.7), P.expmap0(1.7 * v, c_t))
    y = P.expmap0(v, c_t)
    _close(P.logmap0(y, c_t, s), P.logmap0(y, c_t) / s)
    _close(P.logmap0(P.expmap0(v, c_t, s), c_t, s), v)


@pytest.mark.parametrize("c", CURVATURES)
def test_distance_from_origin_is_twice_tangent_norm(c):
    c_t = torch.tensor(c, dtype=F64)
    v = torch.cat([_vectors(16, 3, 5.0, c, seed=11), torch.zeros(1, 3, dtype=F64)])
    _close(P.dist(torch.zeros_like(v), P.expmap0(v, c_t), c_t), 2 * v.norm(dim=-1))


@pytest.mark.parametrize("c", CURVATURES)
def test_mobius_identities(c):
    c_t = torch.tensor(c, dtype=F64)
    x, y = _points(16, 4, c, seed=12), _points(16, 4, c, seed=13)
    zero = torch.zeros_like(x)
    _close(P.mobius_add(-x, P.mobius_add(x, y, c_t), c_t), y, tol=1e-9)
    _close(P.mobius_add(x, zero, c_t), x)
    _close(P.mobius_add(zero, x, c_t), x)
    _close(P.mobius_add(-x, x, c_t), zero)
    _close(P.dist(x, x, c_t), torch.zeros(16, dtype=F64))


def test_gradcheck_inputs_and_curvature():
    torch.manual_seed(14)
    c = torch.tensor([[0.7], [1.9]], dtype=F64, requires_grad=True)
    v = (torch.randn(2, 3, dtype=F64) * 0.6).requires_grad_()
    tiny = (torch.randn(2, 3, dtype=F64) * 1e-5).requires_grad_()
    x = P.expmap0(torch.randn(2, 3, dtype=F64) * 0.5, c.detach()).requires_grad_()
    y = P.expmap0(torch.randn(2, 3, dtype=F64) * 0.5, c.detach()).requires_grad_()
    s = torch.tensor(1.3, dtype=F64, requires_grad=True)
    checks = [
        (lambda v, c, s: P.expmap0(v, c, s), (v, c, s)),
        (lambda v, c: P.expmap0(v, c), (tiny, c)),
        (lambda y, c, s: P.logmap0(y, c, s), (x, c, s)),
        (lambda y, c: P.logmap0(y, c), (tiny, c)),
        (P.mobius_add, (x, y, c)),
        (P.expmap, (x, v, c)),
        (P.expmap, (x, tiny, c)),
        (P.logmap, (x, y, c)),
        (P.dist, (x, y, c)),
        (P.lambda_x, (x, c)),
        (P.egrad2rgrad, (x, v, c)),
        (P.project, (v * 5, c)),
    ]
    for fn, args in checks:
        assert torch.autograd.gradcheck(fn, args), fn


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_gradients_are_finite_at_zero(dtype):
    c = torch.tensor(1.3, dtype=dtype, requires_grad=True)
    v = torch.zeros(2, 4, dtype=dtype, requires_grad=True)
    x = torch.full((2, 4), 0.1, dtype=dtype, requires_grad=True)
    total = (
        P.expmap0(v, c).sum()
        + P.logmap0(v, c).sum()
        + P.expmap(x, v, c).sum()
        + P.logmap(x, x, c).sum()
        + P.dist(v, v, c).sum()
    )
    total.backward()
    for t in (c, v, x):
        assert bool(torch.isfinite(t.grad).all())
    # d expmap0 / dv at 0 is the identity.
    torch.testing.assert_close(
        torch.autograd.functional.jacobian(lambda t: P.expmap0(t, c.detach()), torch.zeros(3, dtype=dtype)),
        torch.eye(3, dtype=dtype),
    )


@pytest.mark.parametrize("c", [1e-3, 0.1, 1.0, 10.0])
@pytest.mark.parametrize("autocast", [False, True])
def test_float32_extreme_norms_finite_and_inside(c, autocast):
    norms = torch.logspace(-15, 4, 39, dtype=F64)
    v = torch.randn(39, 8, dtype=F64, generator=torch.Generator().manual_seed(16))
    v = (v / v.norm(dim=-1, keepdim=True) * norms[:, None]).float().requires_grad_()
    c_t = torch.tensor(c, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = P.expmap0(v, c_t)
        back = P.logmap0(y, c_t)
        x = P.expmap(y.flip(0), v, c_t)
        total = back.sum() + P.dist(y, x, c_t).sum() + P.logmap(y, x, c_t).sum() + P.lambda_x(x, c_t).sum()
    total.backward()
    assert y.dtype == torch.float32
    for t in (y, back, x, total, v.grad, c_t.grad):
        assert bool(torch.isfinite(t).all())
    for pts in (y, x):
        assert bool((c * pts.double().pow(2).sum(-1) < 1).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [1e-3, 0.3, 1.0, 10.0])
def test_float32_round_trip_inside_range(seed, c):
    g = torch.Generator().manual_seed(seed)
    # √c‖v‖ log-uniform over [√c·1e-6, FLOAT32_ROUNDTRIP_RANGE] (‖v‖ ≥ 1e-6, inside the range).
    lo = math.log(math.sqrt(c) * 1e-6)
    t = torch.rand(256, 1, generator=g, dtype=F64)
    u = torch.exp(lo + (math.log(P.FLOAT32_ROUNDTRIP_RANGE) - lo) * t)
    u[0] = P.FLOAT32_ROUNDTRIP_RANGE
    d = torch.randn(256, 16, generator=g, dtype=F64)
    v = (d / d.norm(dim=-1, keepdim=True) * u / math.sqrt(c)).float()
    c_t = torch.tensor(c)
    back = P.logmap0(P.expmap0(v, c_t), c_t)
    rel = (back.double() - v.double()).norm(dim=-1) / v.double().norm(dim=-1)
    assert rel.max().item() <= 1e-4


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_bfloat16_autocast_inputs(c):
    torch.manual_seed(15)
    layer = torch.nn.Linear(6, 6)
    c_t = torch.tensor(c, requires_grad=True)
    inp = torch.randn(64, 6) * torch.logspace(-6, 3, 64)[:, None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = layer(inp)  # bf16 under autocast
        y = P.expmap0(v, c_t)
        back = P.logmap0(y, c_t)
        total = back.float().sum() + P.dist(y, y.flip(0), c_t).float().sum()
    total.backward()
    assert v.dtype == y.dtype == back.dtype == torch.bfloat16
    assert bool((c * y.double().pow(2).sum(-1) < 1).all())
    for t in (y, back, layer.weight.grad, c_t.grad):
        assert bool(torch.isfinite(t).all())
    inside = math.sqrt(c) * v.double().norm(dim=-1) <= 1.0
    rel = (back.double() - v.double()).norm(dim=-1) / v.double().norm(dim=-1).clamp_min(1e-30)
    assert rel[inside].max().item() <= 3e-2


@pytest.mark.parametrize("dtype", [torch.float32, F64, torch.bfloat16, torch.float16])
def test_project_respects_margin(dtype):
    c = torch.tensor([[0.2], [1.0], [5.0]])
    x = torch.randn(3, 7).to(dtype) * 100
    px = P.project(x, c)
    assert px.dtype == dtype
    radius = c.double().sqrt().squeeze(-1) * px.double().norm(dim=-1)
    assert bool((radius < 1).all())
    # Rounding to `dtype` may move the clipped point outward by at most half the margin.
    assert bool((radius <= 1 - P.boundary_margin(dtype) / 2).all())
    inside = x / 1000
    torch.testing.assert_close(P.project(inside, c), inside)


def test_batch_shapes_and_broadcast_curvature():
    c = torch.tensor([0.5, 2.0], dtype=F64).view(2, 1, 1)
    v = torch.randn(2, 3, 4, dtype=F64) * 0.3
    y = P.expmap0(v, c)
    assert y.shape == (2, 3, 4)
    assert P.dist(y, y.flip(1), c).shape == (2, 3)
    assert P.lambda_x(y, c).shape == (2, 3, 1)
    for i, ci in enumerate((0.5, 2.0)):
        _close(y[i], P.expmap0(v[i], torch.tensor(ci, dtype=F64)))


def test_gradients_stay_finite_for_diverging_tangent_norms():
    """The series branch of tanh(u)/u must not overflow when u is huge (its 0·inf would poison backward)."""
    c = torch.tensor(1.0)
    for norm in (1e7, 1e12, 1e30):
        v = torch.full((2, 3), norm, requires_grad=True)
        P.expmap0(v, c).sum().backward()
        assert torch.isfinite(v.grad).all()
