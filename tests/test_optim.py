"""RiemannianEnhancedSGD: Riemannian convergence in the ball, non-finite safety, SGD equivalence, state."""

import copy
import io
import json

import pytest
import torch
from torch import nn
from wubugaad.geometry import poincare
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.optim.base import OptimizerStateError
from wubugaad.optim.qcontrol import HAKMEMQController
from wubugaad.optim.radam import RiemannianAdam
from wubugaad.optim.risgd import RiemannianEnhancedSGD
from wubugaad.train.upgrade import upgrade


def _inside(p: torch.Tensor, c: float) -> bool:
    return bool((c**0.5 * p.detach().norm(dim=-1) < 1).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("c", [0.1, 1.0, 5.0])
def test_converges_to_target_and_stays_in_ball(c, dtype):
    # float64 matters: its thin boundary margin let an untransported momentum buffer run points out.
    ct = torch.tensor(c, dtype=dtype)
    torch.manual_seed(0)
    # √c‖x‖ up to 0.97 for every c: far apart (distances 1.7/√c … 12), and near the boundary.
    start = poincare.expmap0(0.8 * torch.randn(4, 3, dtype=dtype) / c**0.5, ct)
    target = poincare.expmap0(0.8 * torch.randn(4, 3, dtype=dtype) / c**0.5, ct)
    p = ManifoldParameter(start.clone(), c=c)
    opt = RiemannianEnhancedSGD([p], lr=0.2, momentum=0.5, weight_decay=0.0, max_grad_norm=0)
    first = poincare.dist(p.detach(), target, ct).max()
    for _ in range(100):
        opt.zero_grad()
        poincare.dist(p, target, ct).pow(2).sum().backward()
        opt.step()
        assert _inside(p, c) and torch.isfinite(p).all()
    assert first > 1.5
    assert poincare.dist(p.detach(), target, ct).max() < 1e-3


def test_manifold_step_is_expmap_of_scaled_gradient():
    # One step, momentum 0, clipping off: p' = project(expmap(p, -lr ((1 - c|p|²)/2)² (g + wd p), c), c).
    c, lr, wd = 2.0, 0.05, 0.1
    x = torch.tensor([[0.3, -0.2], [0.1, 0.5]], dtype=torch.float64)
    g = torch.tensor([[1.0, 2.0], [-0.5, 0.25]], dtype=torch.float64)
    p = ManifoldParameter(x.clone(), c=c)
    p.grad = g.clone()
    RiemannianEnhancedSGD([p], lr=lr, momentum=0.0, weight_decay=wd, max_grad_norm=0).step()
    factor = ((1 - c * x.pow(2).sum(-1, keepdim=True)) / 2) ** 2
    ct = torch.tensor(c, dtype=torch.float64)
    expected = poincare.project(poincare.expmap(x, -lr * factor * (g + wd * x), ct), ct)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-12)


def test_learnable_curvature_callable_is_read_each_step():
    curv = nn.Parameter(torch.tensor(1.0))
    p = ManifoldParameter(torch.tensor([0.5, 0.0]), c=lambda: curv)
    opt = RiemannianEnhancedSGD([p], lr=10.0, momentum=0.0, weight_decay=0.0, max_grad_norm=0)
    with torch.no_grad():
        curv.fill_(4.0)  # radius 0.5: the point must be pulled inside the smaller ball
    p.grad = torch.tensor([-1.0, 0.0])
    opt.step()
    assert _inside(p, 4.0)


@pytest.mark.parametrize("clip", [1.0, 0.0])
@pytest.mark.parametrize("c", [0.1, 1.0, 5.0])
def test_huge_gradients_never_leave_ball(c, clip):
    torch.manual_seed(1)
    ct = torch.tensor(c)
    p = ManifoldParameter(poincare.expmap0(3.0 * torch.randn(5, 4), ct), c=c)
    opt = RiemannianEnhancedSGD([p], lr=1.0, momentum=0.9, max_grad_norm=clip)
    for sign in (1.0, -1.0, 1.0):
        p.grad = sign * 1e30 * torch.randn(5, 4)
        opt.step()
        assert torch.isfinite(p).all() and _inside(p, c)
    assert int(opt.skipped_steps) == 0


def _toy_model():
    torch.manual_seed(2)
    model = nn.Linear(3, 2)
    model.ball = ManifoldParameter(poincare.expmap0(torch.randn(2, 3), torch.tensor(1.0)), c=1.0)
    return model


def _snapshot(model, opt):
    params = [p.detach().clone() for p in model.parameters()]
    bufs = [opt.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    return params, bufs


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_step_is_skipped_whole_and_counted(bad):
    model = _toy_model()
    opt = RiemannianEnhancedSGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    before = _snapshot(model, opt)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.weight.grad[0, 0] = bad  # one bad entry in one parameter poisons the whole step
    opt.step()
    after = _snapshot(model, opt)
    for a, b in zip(before[0] + before[1], after[0] + after[1], strict=True):
        assert torch.equal(a, b)
    assert int(opt.skipped_steps) == 1 and not bool(opt.last_step_was_finite)
    model.ball.grad = torch.full_like(model.ball, bad)
    opt.step()
    assert int(opt.skipped_steps) == 2
    assert all(torch.isfinite(p).all() for p in model.parameters()) and _inside(model.ball, 1.0)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    assert int(opt.skipped_steps) == 2 and bool(opt.last_step_was_finite)
    assert not torch.equal(model.weight.detach(), before[0][0])


def test_euclidean_params_match_torch_sgd_step_for_step():
    torch.manual_seed(3)
    ours = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    ref = copy.deepcopy(ours)
    groups = lambda m: [  # noqa: E731 - two groups with different hyper-parameters
        {"params": m[0].parameters()},
        {"params": m[2].parameters(), "lr": 0.03, "momentum": 0.5, "weight_decay": 0.0},
    ]
    opt = RiemannianEnhancedSGD(groups(ours), lr=0.1, momentum=0.9, weight_decay=0.01, max_grad_norm=0)
    ref_opt = torch.optim.SGD(groups(ref), lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(6):
        x = torch.randn(8, 4)
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            model(x).pow(2).mean().backward()
            o.step()
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_per_parameter_clipping():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])  # norms 5 and 0.5
    RiemannianEnhancedSGD([a, b], lr=1.0, momentum=0.0, weight_decay=0.0, max_grad_norm=1.0).step()
    torch.testing.assert_close(a.detach(), torch.tensor([-0.6, -0.8]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b.detach(), torch.tensor([-0.3, -0.4]))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-3}, "lr"),
        ({"lr": 0.1, "momentum": 1.0}, "momentum"),
        ({"lr": 0.1, "momentum": -0.1}, "momentum"),
        ({"lr": 0.1, "weight_decay": -0.01}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RiemannianEnhancedSGD([nn.Parameter(torch.zeros(1))], **kwargs)


def test_bad_group_hyperparameter_raises():
    with pytest.raises(ValueError, match="momentum"):
        RiemannianEnhancedSGD([{"params": [nn.Parameter(torch.zeros(1))], "momentum": 1.5}], lr=0.1)


def _losses(i: int) -> dict[str, float]:
    return {
        "loss_g_total": 2.0 - 0.05 * i, "loss_g_recon": 1.0 / (1 + i), "loss_g_kl": 3.0, "loss_g_adv": 0.7,
        "loss_d_total": 0.6 + 0.01 * (i % 3), "loss_d_real": 0.3, "loss_d_fake": 0.35,
    }


def _train(model, opt, ctrl, steps, seed):
    """Steps driven by a Q-controller held beside the optimizer, as the trainer does."""
    gen = torch.Generator().manual_seed(seed)
    for i in range(steps):
        opt.zero_grad()
        x = torch.randn(4, 3, generator=gen)
        (model(x).pow(2).mean() + poincare.dist(model.ball, x[:2], torch.tensor(1.0)).sum()).backward()
        opt.step()
        opt.set_scales(*ctrl.observe(_losses(i)))


def test_state_dict_round_trip_continues_identically():
    model = _toy_model()
    opt, ctrl = RiemannianEnhancedSGD(model.parameters(), lr=0.05), HAKMEMQController(role="gen", seed=7)
    _train(model, opt, ctrl, 4, seed=0)
    model.weight.grad.fill_(float("nan"))
    opt.step()  # one skipped step, so the counter has something to restore
    state = opt.state_dict()
    assert "q_controller" not in state  # the controller's state lives beside the optimizer's
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    clone = copy.deepcopy(model)
    clone_opt, clone_ctrl = RiemannianEnhancedSGD(clone.parameters(), lr=0.05), HAKMEMQController(role="gen")
    clone_opt.load_state_dict(torch.load(buffer, weights_only=True))
    clone_ctrl.load_state_dict(json.loads(json.dumps(ctrl.state_dict())))
    clone_opt.set_scales(ctrl.current_lr_scale, ctrl.current_momentum_scale)
    assert int(clone_opt.skipped_steps) == 1
    assert clone_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    _train(model, opt, ctrl, 5, seed=1)
    _train(clone, clone_opt, clone_ctrl, 5, seed=1)
    for a, b in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(a, b)
    assert ctrl.state_dict() == clone_ctrl.state_dict()


def test_scales_set_lr_and_momentum_and_old_states_still_load():
    p = nn.Parameter(torch.zeros(2))
    opt, ctrl = RiemannianEnhancedSGD([p], lr=0.1, momentum=0.99), HAKMEMQController(role="disc", seed=3)
    assert opt.param_groups[0]["base_lr"] == 0.1 and opt.param_groups[0]["base_momentum"] == 0.99
    for i in range(5):
        lr_scale, momentum_scale = ctrl.observe(_losses(i))
        opt.set_scales(lr_scale, momentum_scale)
        group = opt.param_groups[0]
        assert group["lr"] == pytest.approx(0.1 * lr_scale)
        assert group["momentum"] == pytest.approx(min(0.99 * momentum_scale, 0.999))
        assert group["momentum"] < 1
    # a state written while the controller lived inside the optimizer: no kind, controller state inside
    old = {k: v for k, v in opt.state_dict().items() if k != "kind"}
    old["q_controller"] = ctrl.state_dict()
    with pytest.raises(OptimizerStateError, match="names no optimizer kind"):
        RiemannianEnhancedSGD([p], lr=0.2).load_state_dict(old)
    upgraded = upgrade({"format_version": 1, "opt_d": old})
    assert upgraded["q_controller_d"] == ctrl.state_dict() and "q_controller" not in upgraded["opt_d"]
    old = upgraded["opt_d"]
    resumed = RiemannianEnhancedSGD([p], lr=0.2, momentum=0.5)
    resumed.load_state_dict(old)  # per-parameter state only: the new settings win
    group = resumed.param_groups[0]
    assert (group["base_lr"], group["lr"], group["base_momentum"]) == (0.2, 0.2, 0.5)
    with pytest.raises(OptimizerStateError, match="riemannian_adam"):
        RiemannianAdam([p], lr=0.1).load_state_dict(old)
