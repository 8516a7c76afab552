"""RiemannianAdam: step for step equal to geoopt's RiemannianAdam on an exact Poincaré ball and to
torch.optim.AdamW on plain parameters; non-finite skip; per-parameter clipping; state round trip."""

import copy
import io

import geoopt
import pytest
import torch
from torch import nn
from wubugaad.geometry import poincare
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.optim.radam import RiemannianAdam


def _ball_loss(point: torch.Tensor, target: torch.Tensor, c: torch.Tensor, k: int) -> torch.Tensor:
    """A loss whose gradient changes direction from step to step (distances plus a rotating linear term)."""
    angle = torch.tensor(0.7 * k, dtype=point.dtype)
    pull = torch.stack([angle.cos(), angle.sin(), -angle.cos()])
    return poincare.dist(point, target, c).pow(2).sum() + (point * pull).sum()


@pytest.mark.parametrize("c", [0.3, 1.0, 2.5])
def test_matches_geoopt_riemannian_adam_on_exact_ball(c):
    torch.manual_seed(0)
    dtype = torch.float64
    ct = torch.tensor(c, dtype=dtype)
    start = poincare.expmap0(0.6 * torch.randn(5, 3, dtype=dtype) / c**0.5, ct)
    target = poincare.expmap0(0.6 * torch.randn(5, 3, dtype=dtype) / c**0.5, ct)
    # geoopt keeps c as softplus of a stored pre-activation (and overwrites the tensor it is given)
    ball = geoopt.PoincareBallExact(c=ct.clone())
    ct = ball.c.detach()
    ours = ManifoldParameter(start.clone(), c=ct)
    ref = geoopt.ManifoldParameter(start.clone(), manifold=ball)
    plain = nn.Parameter(torch.randn(4, dtype=dtype))
    plain_ref = nn.Parameter(plain.detach().clone())
    kwargs = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-8, "weight_decay": 0.0}
    opt = RiemannianAdam([ours, plain], max_grad_norm=0, **kwargs)
    ref_opt = geoopt.optim.RiemannianAdam([ref, plain_ref], **kwargs)
    for k in range(12):
        for point, vec, o in ((ours, plain, opt), (ref, plain_ref, ref_opt)):
            o.zero_grad()
            (_ball_loss(point, target, ct, k) + vec.pow(3).sum()).backward()
            o.step()
        torch.testing.assert_close(ours.detach(), ref.detach(), rtol=0, atol=1e-10)
        torch.testing.assert_close(opt.state[ours]["exp_avg"], ref_opt.state[ref]["exp_avg"], rtol=0,
                                   atol=1e-10)
        torch.testing.assert_close(plain.detach(), plain_ref.detach(), rtol=0, atol=1e-12)
    assert poincare.dist(ours.detach(), start, ct).max() > 0.1  # the points did travel


def _net(dtype):
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).to(dtype)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_euclidean_params_match_torch_adamw_step_for_step(dtype, tol):
    ours, ref = _net(dtype), _net(dtype)
    groups = lambda m: [  # noqa: E731 - two groups with different hyper-parameters
        {"params": m[0].parameters()},
        {"params": m[2].parameters(), "lr": 0.03, "betas": (0.5, 0.9), "weight_decay": 0.0, "eps": 1e-6},
    ]
    opt = RiemannianAdam(groups(ours), lr=0.01, betas=(0.9, 0.999), weight_decay=0.1, max_grad_norm=0)
    ref_opt = torch.optim.AdamW(groups(ref), lr=0.01, betas=(0.9, 0.999), weight_decay=0.1)
    gen = torch.Generator().manual_seed(1)
    for _ in range(8):
        x = torch.randn(8, 4, generator=gen, dtype=dtype)
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            model(x).pow(2).mean().backward()
            o.step()
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_per_parameter_clipping_equals_adamw_on_clipped_gradients():
    ours, ref = _net(torch.float64), _net(torch.float64)
    opt = RiemannianAdam(ours.parameters(), lr=0.01, max_grad_norm=0.05)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(2)
    clipped_some = False
    for k in range(6):
        x = (1 + 10 * k) * torch.randn(8, 4, generator=gen, dtype=torch.float64)  # growing gradients
        for model in (ours, ref):
            model.zero_grad()
            model(x).pow(2).mean().backward()
        for p in ref.parameters():
            norm = p.grad.norm()
            clipped_some |= bool(norm > 0.05)
            p.grad.mul_((0.05 / (norm + 1e-6)).clamp(max=1.0))
        opt.step()
        ref_opt.step()
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert clipped_some


def _toy():
    torch.manual_seed(4)
    model = nn.Linear(3, 2)
    model.ball = ManifoldParameter(poincare.expmap0(torch.randn(2, 3), torch.tensor(1.0)), c=1.0)
    return model


def _loss(model, gen):
    x = torch.randn(4, 3, generator=gen)
    return model(x).pow(2).mean() + poincare.dist(model.ball, x[:2], torch.tensor(1.0)).sum()


def _state_snapshot(model, opt):
    tensors = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        tensors += [v.clone() for v in opt.state[p].values()]
    return tensors


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_step_is_skipped_whole_and_counted(bad):
    model, ref = _toy(), _toy()
    opt, ref_opt = RiemannianAdam(model.parameters(), lr=0.05), RiemannianAdam(ref.parameters(), lr=0.05)
    gen, ref_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    for m, o, g in ((model, opt, gen), (ref, ref_opt, ref_gen)):
        o.zero_grad()
        _loss(m, g).backward()
        o.step()
    before = _state_snapshot(model, opt)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.ball.grad[0, 1] = bad  # one bad entry of the ball parameter poisons the whole step
    opt.step()
    for a, b in zip(before, _state_snapshot(model, opt), strict=True):
        assert torch.equal(a, b)
    assert int(opt.skipped_steps) == 1 and not bool(opt.last_step_was_finite)
    for m, o, g in ((model, opt, gen), (ref, ref_opt, ref_gen)):  # the skipped step left no trace
        o.zero_grad()
        _loss(m, g).backward()
        o.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    assert bool(opt.last_step_was_finite) and int(opt.skipped_steps) == 1


def test_state_dict_round_trip_continues_identically():
    model = _toy()
    opt = RiemannianAdam(model.parameters(), lr=0.05, weight_decay=0.01)
    gen = torch.Generator().manual_seed(5)
    for _ in range(4):
        opt.zero_grad()
        _loss(model, gen).backward()
        opt.step()
    model.weight.grad.fill_(float("nan"))
    opt.step()  # one skipped step, so the counter has something to restore
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    clone = copy.deepcopy(model)
    clone_opt = RiemannianAdam(clone.parameters(), lr=0.05, weight_decay=0.01)
    clone_opt.load_state_dict(torch.load(buffer, weights_only=True))
    assert int(clone_opt.skipped_steps) == 1
    for m, o in ((model, opt), (clone, clone_opt)):
        g = torch.Generator().manual_seed(6)
        for _ in range(5):
            o.zero_grad()
            _loss(m, g).backward()
            o.step()
    for a, b in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("c", [0.1, 1.0, 5.0])
def test_converges_on_the_ball_and_survives_huge_gradients(c):
    torch.manual_seed(1)
    ct = torch.tensor(c)
    target = poincare.expmap0(0.8 * torch.randn(4, 3) / c**0.5, ct)
    p = ManifoldParameter(poincare.expmap0(0.8 * torch.randn(4, 3) / c**0.5, ct), c=c)
    opt = RiemannianAdam([p], lr=0.15 / c**0.5, betas=(0.9, 0.99), weight_decay=0.0, max_grad_norm=0)
    for _ in range(200):
        opt.zero_grad()
        poincare.dist(p, target, ct).pow(2).sum().backward()
        opt.step()
    assert poincare.dist(p.detach(), target, ct).max() < 1e-3
    for sign in (1.0, -1.0):
        p.grad = sign * 1e30 * torch.randn(4, 3)
        opt.step()
        assert torch.isfinite(p).all() and bool((c**0.5 * p.detach().norm(dim=-1) < 1).all())


def test_momentum_scale_drives_beta1_capped_below_one():
    opt = RiemannianAdam([nn.Parameter(torch.zeros(2))], lr=0.1, betas=(0.99, 0.999))
    opt.set_scales(0.5, 1.02)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.05) and group["betas"] == (0.999, 0.999)
    opt.set_scales(1.0, 0.95)
    assert group["betas"][0] == pytest.approx(0.99 * 0.95) and group["betas"][1] == 0.999


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"lr": -1.0}, "lr"), ({"betas": (1.0, 0.9)}, "betas"), ({"eps": 0.0}, "eps"),
    ({"weight_decay": -1.0}, "weight_decay"),
])
def test_bad_hyperparameters_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RiemannianAdam([nn.Parameter(torch.zeros(1))], **kwargs)
