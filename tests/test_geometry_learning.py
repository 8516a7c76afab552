"""Geometry that learns: curvature moves by its gradient (to a known answer), never by weight decay."""

from __future__ import annotations

import copy

import pytest
import torch
from wubugaad.optim import groups
from wubugaad.optim.radam import RiemannianAdam
from wubugaad.optim.risgd import RiemannianEnhancedSGD
from wubugaad.wubu.level import C_MIN, WuBuLevel, parts_for_level, softplus_inverse
from wubugaad.wubu.stack import StackConfig, WuBuStack

C_STAR = 0.3
OPTIMIZERS = {
    "risgd": lambda params: RiemannianEnhancedSGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
    "riemannian_adam": lambda params: RiemannianAdam(params, lr=0.05, betas=(0.9, 0.99), weight_decay=0.01),
}


def _distances(level: WuBuLevel, v: torch.Tensor) -> torch.Tensor:
    """The level's hyperbolic distances from its points to its boundary points and descriptor (B, K + 1)."""
    features = level(v).features[:, level.dim:]  # [δ_k/σ (K), δ_d]
    return torch.cat([features[:, :-1] * level.spread(), features[:, -1:]], dim=-1)


def _toy(train_geometry: bool):
    """A level at c = 1 and targets from the same level at c* = 0.3; which parameters train is chosen."""
    torch.manual_seed(0)
    parts = parts_for_level(frozenset(), is_last=False, tangent_flow=False)
    level = WuBuLevel(4, 0, parts, 1.0, boundary_points=4, dropout=0.0, handed=None)
    teacher = copy.deepcopy(level)
    with torch.no_grad():
        teacher.rho_c.fill_(softplus_inverse(C_STAR - C_MIN))
    v = torch.randn(64, 4) * torch.linspace(0.1, 3.0, 64)[:, None]  # points from near the origin outward
    with torch.no_grad():
        target = _distances(teacher, v)
    if train_geometry:
        # only the geometry is wrong; everything else already is the teacher's
        for p in level.parameters():
            p.requires_grad_(False)
        for p in groups.geometry_scalars(level):
            p.requires_grad_(True)
    else:
        groups.freeze_geometry(level)
    return level, v, target


def _fit(level, v, target, make_optimizer, steps: int) -> None:
    opt = make_optimizer(groups.param_groups(level, 0.01))
    for _ in range(steps):
        opt.zero_grad()
        (_distances(level, v) - target).square().mean().backward()
        opt.step()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_learned_curvature_reaches_the_curvature_the_targets_need(name):
    level, v, target = _toy(train_geometry=True)
    _fit(level, v, target, OPTIMIZERS[name], steps=200)
    assert abs(float(level.curvature().detach()) - C_STAR) < 0.1 * C_STAR


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_frozen_geometry_stays_exactly_at_its_initial_value(name):
    level, v, target = _toy(train_geometry=False)
    start = [p.detach().clone() for p in groups.geometry_scalars(level)]
    boundary = level.boundary.detach().clone()
    _fit(level, v, target, OPTIMIZERS[name], steps=50)
    assert all(torch.equal(a, b) for a, b in zip(start, groups.geometry_scalars(level), strict=True))
    assert float(level.curvature()) == pytest.approx(1.0, abs=1e-6)
    assert not torch.equal(boundary, level.boundary)  # the rest did train


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_loss_without_geometry_leaves_it_untouched_while_weights_decay(name):
    torch.manual_seed(1)
    stack = WuBuStack(StackConfig("wubu_s", input_dim=6, num_levels=2, hyperbolic_dims=[4, 4],
                                  initial_curvatures=[1.0, 0.8], use_rotation=True))
    opt = OPTIMIZERS[name](groups.param_groups(stack, 0.1))
    decayed = stack.levels[0].combiner.hidden.weight
    kept = [*groups.geometry_scalars(stack), stack.levels[0].boundary, stack.levels[0].combiner.hidden.bias]
    start, decayed_start = [p.detach().clone() for p in kept], decayed.detach().clone()
    x = torch.randn(8, 6)
    for _ in range(100):
        opt.zero_grad()
        # every parameter gets a gradient (zero where the loss does not reach it), so decay could act
        loss = stack.input_proj(x).square().mean() + 0.0 * sum(p.sum() for p in stack.parameters())
        loss.backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(start, kept, strict=True))
    assert decayed.norm() < 0.99 * decayed_start.norm()
