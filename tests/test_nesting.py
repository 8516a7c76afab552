"""WuBu nesting stacks: shapes, live geometry, ablations, causality, config errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from _configs import model_config
from _sync_guard import no_host_sync
from torch import nn
from wubugaad.geometry.golden import PHI
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.geometry.poincare import project
from wubugaad.wubu.level import C_MIN, softplus_inverse
from wubugaad.wubu.stack import ABLATIONS, StackConfig, WuBuStack
from wubugaad.wubu.temporal import phi_time_embedding

D_IN = 6
DIMS = [4, 6, 2]


def make_stack(levels=2, temporal=False, dtype=torch.float32, seed=0, **kw) -> WuBuStack:
    kw.setdefault("use_rotation", True)
    kw.setdefault("boundary_points", 3)
    cfg = StackConfig(
        name="wubu_t" if temporal else "wubu_s",
        input_dim=D_IN,
        num_levels=levels,
        hyperbolic_dims=DIMS[:levels],
        initial_curvatures=[1.0, 0.8, 0.6][:levels],
        temporal=temporal,
        num_heads=2,
        **kw,
    )
    torch.manual_seed(seed)
    return WuBuStack(cfg).to(dtype).eval()


def inputs(temporal, dtype=torch.float32, B=3, S=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (B, S, D_IN) if temporal else (B, D_IN)
    return torch.randn(shape, generator=g, dtype=dtype)


def task_loss(out):
    g = torch.Generator().manual_seed(7)
    return (out - torch.randn(out.shape, generator=g, dtype=out.dtype)).square().mean()


def rel_change(a, b):
    return ((a - b).norm() / b.norm()).item()


def set_curvature(level, c):
    with torch.no_grad():
        level.rho_c.fill_(softplus_inverse(c - C_MIN))


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("temporal", [False, True])
def test_shapes(temporal):
    stack = make_stack(3, temporal)
    assert stack.output_dim == DIMS[2]
    x = torch.randn(2, 5, D_IN)
    assert stack(x).shape == (2, 5, DIMS[2])
    if not temporal:
        assert stack(torch.randn(2, D_IN)).shape == (2, DIMS[2])
        assert stack(torch.randn(2, 3, 5, D_IN)).shape == (2, 3, 5, DIMS[2])  # any leading dims
    else:
        with pytest.raises(ValueError, match="temporal"):
            stack(torch.randn(2, D_IN))
    with pytest.raises(ValueError, match="last dim"):
        stack(torch.randn(2, 5, D_IN + 1))


def test_zero_levels_is_a_linear_map():
    cfg = StackConfig("wubu_m", D_IN, 0, [8], [1.0])
    stack = WuBuStack(cfg)
    assert stack.output_dim == D_IN
    x = torch.randn(3, D_IN)
    assert torch.allclose(stack(x), x @ stack.output_proj.weight.T + stack.output_proj.bias)
    assert stack(torch.randn(2, 4, D_IN)).shape == (2, 4, D_IN)
    stats = stack.geometry_stats()
    assert stats["rotation_orthogonality_error"] == 0 and stats["boundary_saturation"] == 0


# ---------------------------------------------------------------- every parameter is alive


def assert_all_grads_alive(stack):
    for name, p in stack.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


@pytest.mark.parametrize("levels", [1, 2, 3])
@pytest.mark.parametrize("temporal", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_parameter_gets_a_finite_nonzero_gradient(levels, temporal, dtype):
    stack = make_stack(levels, temporal, dtype, phi_rotation_init=True)
    names = {n for n, _ in stack.named_parameters()}
    for i in range(levels):
        assert {f"levels.{i}.rho_c", f"levels.{i}.rho_s", f"levels.{i}.rho_sigma"} <= names
        assert f"levels.{i}.boundary" in names and f"levels.{i}.flow.out.weight" in names
    assert all(t.rotation is not None for t in stack.transitions) and len(stack.transitions) == levels - 1
    task_loss(stack(inputs(temporal, dtype))).backward()
    assert_all_grads_alive(stack)


def test_ball_parameters_are_manifold_parameters_tied_to_the_level_curvature():
    stack = make_stack(2)
    for level in stack.levels:
        for p in (level.boundary, level.descriptor):
            assert isinstance(p, ManifoldParameter)
            assert torch.equal(p.curvature(), level.curvature())
        set_curvature(level, 0.3)
        assert torch.allclose(level.boundary.curvature(), torch.tensor(0.3))


# ---------------------------------------------------------------- geometry that matters


@pytest.mark.parametrize("temporal", [False, True])
def test_level_points_do_not_saturate_the_ball_at_init(temporal):
    cfg = StackConfig("wubu_t" if temporal else "wubu_s", 32, 2, [64, 32], [1.0, 0.8], use_rotation=True,
                      temporal=temporal, num_heads=4)
    torch.manual_seed(0)
    stack = WuBuStack(cfg).eval()
    x = 10.0 * torch.randn(16, 8, 32)  # far larger than unit features: the input RMSNorm absorbs it
    _, points = stack(x, return_points=True)
    assert len(points) == 2
    for level, point in zip(stack.levels, points, strict=True):
        radius = level.curvature().sqrt() * point.norm(dim=-1)  # √c‖x‖ < 1 inside the ball
        assert (radius > 1 - 1e-3).float().mean() < 0.05
        assert radius.median() > 0.05  # and not collapsed to the (flat) centre either


def test_points_stay_unsaturated_after_a_typical_global_reinit():
    stack = make_stack(2)

    def init_weights(m):  # what a model-wide initialiser typically does; rotations are skipped by type
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    stack.apply(init_weights)
    _, points = stack(10.0 * torch.randn(64, D_IN), return_points=True)
    for level, point in zip(stack.levels, points, strict=True):
        assert (level.curvature().sqrt() * point.norm(dim=-1) > 1 - 1e-3).float().mean() < 0.05


@pytest.mark.parametrize("temporal", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_changing_one_level_curvature_by_10_percent_changes_the_output(temporal, dtype):
    stack = make_stack(3, temporal, dtype)
    x = inputs(temporal, dtype)
    with torch.no_grad():
        base = stack(x)
        for level in stack.levels:
            c = level.curvature()
            set_curvature(level, 1.1 * float(c))
            assert rel_change(stack(x), base) > 1e-3
            set_curvature(level, float(c))
        assert torch.allclose(stack(x), base)


def test_phi_curvature_initialisation_formula():
    curvatures = [1.0, 0.8, 0.6]
    for phi in (False, True):
        stack = make_stack(3, phi_curvature=phi)
        for i, level in enumerate(stack.levels):
            expected = curvatures[i] * (PHI**-i if phi else 1.0)
            assert math.isclose(float(level.curvature().detach()), expected, rel_tol=1e-5)
            assert math.isclose(float(level.scale().detach()), 1.0, rel_tol=1e-5)
            assert math.isclose(float(level.spread().detach()), 1.0, rel_tol=1e-5)


@pytest.mark.parametrize("temporal", [False, True])
def test_moving_one_boundary_point_changes_the_output(temporal):
    stack = make_stack(3, temporal)
    x = inputs(temporal)
    with torch.no_grad():
        base = stack(x)
        for level in stack.levels:  # the last level's boundary points matter too
            saved = level.boundary.clone()
            moved = project(saved[0] + 0.2 * torch.randn(saved.shape[-1]), level.curvature())
            level.boundary[0] = moved
            assert rel_change(stack(x), base) > 1e-4
            level.boundary.copy_(saved)


def test_rotations_stay_in_so_n_during_training():
    stack = make_stack(3).train()
    opt = torch.optim.SGD(stack.parameters(), lr=0.05)
    start = [t.rotation.matrix().detach().clone() for t in stack.transitions]
    for step in range(20):
        opt.zero_grad()
        task_loss(stack(inputs(False, seed=step))).backward()
        nn.utils.clip_grad_norm_(stack.parameters(), 5.0)
        opt.step()
    for t, R0 in zip(stack.transitions, start, strict=True):
        R = t.rotation.matrix().detach().double()
        eye = torch.eye(R.shape[0], dtype=R.dtype)
        assert torch.allclose(R.T @ R, eye, atol=1e-5)
        assert torch.isclose(torch.linalg.det(R), torch.tensor(1.0, dtype=R.dtype), atol=1e-5)
        assert not torch.allclose(R.float(), R0, atol=1e-4)  # it did train
    assert stack.geometry_stats()["rotation_orthogonality_error"] < 1e-5


def test_geometry_stats():
    stack = make_stack(2)
    set_curvature(stack.levels[1], 0.5)
    stats = stack.geometry_stats()
    expected = {f"level{i}/{k}" for i in range(2) for k in ("curvature", "scale", "spread")}
    assert set(stats) == expected | {"rotation_orthogonality_error", "boundary_saturation"}
    for value in stats.values():
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad
    assert torch.isclose(stats["level1/curvature"], torch.tensor(0.5))
    with torch.no_grad():
        radius = max(float((lv.curvature().sqrt() * lv.boundary.norm(dim=-1)).max()) for lv in stack.levels)
    assert math.isclose(float(stats["boundary_saturation"]), radius, rel_tol=1e-6)
    assert 0 < radius < 1


# ---------------------------------------------------------------- ablations


REMOVED = {
    "distances": ("rho_sigma", "levels.2.boundary", "levels.2.descriptor", "levels.2.rho_"),
    "spread": ("rho_sigma",),
    "descriptors": ("descriptor",),
    "boundaries": ("boundary", "rho_sigma"),
    "flow": ("flow.",),
    "rotation": ("rotation",),
}


@pytest.mark.parametrize("temporal", [False, True])
@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_each_ablation_removes_its_component_and_changes_the_output(ablation, temporal):
    # φ-initialised rotations: an identity rotation (the default init) would leave the output unchanged.
    full = make_stack(3, temporal, phi_rotation_init=True)
    ablated = make_stack(3, temporal, phi_rotation_init=True, ablate={ablation})
    full_names = {n for n, _ in full.named_parameters()}
    names = {n for n, _ in ablated.named_parameters()}
    for fragment in REMOVED[ablation]:
        assert any(fragment in n for n in full_names)
        assert not any(fragment in n for n in names), f"{fragment} still present with ablate={ablation}"
    assert names < full_names
    x = inputs(temporal)
    out = ablated(x)
    assert out.shape == full(x).shape
    assert rel_change(out, full(x)) > 1e-3
    task_loss(out).backward()
    assert_all_grads_alive(ablated)  # what remains is still alive


def test_distances_ablation_keeps_boundaries_as_uniformly_weighted_anchors():
    stack = make_stack(3, ablate={"distances"})
    _, points = stack(inputs(False), return_points=True)
    assert points == []  # no kernel: no level point is needed
    names = {n for n, _ in stack.named_parameters()}
    assert {"levels.0.boundary", "levels.1.boundary", "levels.0.rho_c"} <= names


# ---------------------------------------------------------------- WuBu-T causality


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_temporal_output_at_t_depends_only_on_inputs_up_to_t(dtype):
    stack = make_stack(2, temporal=True, dtype=dtype)
    S = 5
    x = inputs(True, dtype, B=2, S=S).requires_grad_(True)
    out = stack(x)
    for t in range(S):
        (grad,) = torch.autograd.grad(out[:, t].sum(), x, retain_graph=True)
        per_step = grad.abs().sum(dim=(0, 2))  # (S,)
        assert torch.all(per_step[t + 1 :] == 0), f"output at {t} sees the future"
        assert torch.all(per_step[: t + 1] > 0), f"output at {t} ignores part of its past"


def test_temporal_stack_mixes_time():
    stack = make_stack(1, temporal=True)
    x = inputs(True, S=3)
    y = x.clone()
    y[:, 0] += 1.0
    out_x, out_y = stack(x), stack(y)
    assert not torch.allclose(out_x[:, 2], out_y[:, 2])  # a change at t = 0 reaches t = 2


def test_phi_time_embedding_formula():
    emb = phi_time_embedding(7, 5, dtype=torch.float64)
    assert emb.shape == (7, 5)
    for t in (0, 3, 6):
        for j in range(3):
            assert math.isclose(emb[t, 2 * j], math.sin(t * PHI**-j), abs_tol=1e-12)
            if 2 * j + 1 < 5:
                assert math.isclose(emb[t, 2 * j + 1], math.cos(t * PHI**-j), abs_tol=1e-12)


# ---------------------------------------------------------------- copies


def test_deepcopy_rebinds_ball_parameters_to_the_copy():
    stack = make_stack(2, temporal=True)
    twin = copy.deepcopy(stack)
    x = inputs(True)
    assert torch.equal(twin(x), stack(x))
    set_curvature(twin.levels[0], 0.25)
    assert torch.isclose(twin.levels[0].boundary.curvature(), torch.tensor(0.25))
    assert torch.isclose(stack.levels[0].boundary.curvature(), torch.tensor(1.0))


# ---------------------------------------------------------------- no host syncs


@pytest.mark.parametrize("temporal", [False, True])
def test_forward_and_backward_do_not_sync_with_the_host(temporal):
    stack = make_stack(3, temporal, phi_curvature=True, dropout=0.1).train()
    x = inputs(temporal)
    with no_host_sync():
        task_loss(stack(x)).backward()
        stack.geometry_stats()


# ---------------------------------------------------------------- configuration


def cli_args(**overrides):
    ns = dict(
        wubu_s_num_levels=2, wubu_s_hyperbolic_dims=[8], wubu_s_initial_curvatures=[1.0, 0.8],
        wubu_s_use_rotation=True, wubu_s_phi_influence_curvature=False,
        wubu_s_phi_influence_rotation_init=True, wubu_s_boundary_points=5, wubu_s_tangent_flow=False,
        wubu_s_ablate=["spread"], wubu_dropout=0.1, wubu_t_num_heads=4,
        wubu_t_num_levels=1, wubu_t_hyperbolic_dims=[12], wubu_t_initial_curvatures=[0.5],
    )
    ns.update(overrides)
    return model_config(**ns)


def test_stack_config_from_args_reads_and_broadcasts_flags():
    cfg = cli_args().stack("s", 10)
    assert cfg.hyperbolic_dims == [8, 8] and cfg.initial_curvatures == [1.0, 0.8]
    assert cfg.use_rotation and cfg.phi_rotation_init and not cfg.phi_curvature and not cfg.tangent_flow
    assert cfg.boundary_points == 5 and cfg.ablate == frozenset({"spread"}) and cfg.dropout == 0.1
    assert not cfg.temporal
    t = cli_args().stack("t", 10)
    assert t.temporal and t.num_heads == 4 and t.boundary_points == 4 and t.tangent_flow and not t.ablate
    assert WuBuStack(t)(torch.randn(2, 3, 10)).shape == (2, 3, 12)


@pytest.mark.parametrize(
    ("overrides", "key", "flag"),
    [
        (dict(wubu_s_hyperbolic_dims=[8, 8, 8]), "s", "--wubu_s_hyperbolic_dims"),
        (dict(wubu_s_initial_curvatures=[1.0, 1.0, 1.0]), "s", "--wubu_s_initial_curvatures"),
        (dict(wubu_s_num_levels=-1), "s", "--wubu_s_num_levels"),
        (dict(wubu_s_initial_curvatures=[0.0]), "s", "--wubu_s_initial_curvatures"),
        (dict(wubu_s_hyperbolic_dims=[1]), "s", "--wubu_s_hyperbolic_dims"),
        (dict(wubu_s_boundary_points=0), "s", "--wubu_s_boundary_points"),
        (dict(wubu_s_ablate=["wormholes"]), "s", "--wubu_s_ablate"),
        (dict(wubu_dropout=1.0), "s", "--wubu_dropout"),
        (dict(wubu_t_hyperbolic_dims=[10]), "t", "--wubu_t_num_heads"),
        (dict(wubu_t_num_heads=0), "t", "--wubu_t_num_heads"),
    ],
)
def test_bad_configuration_raises_value_error_naming_the_flag(overrides, key, flag):
    with pytest.raises(ValueError, match=flag):
        cli_args(**overrides).stack(key, 10)


@pytest.mark.parametrize("temporal", [False, True])
def test_euclidean_stand_in_keeps_widths_and_causality_and_learns(temporal):
    from wubugaad.wubu.euclidean import EuclideanStack
    from wubugaad.wubu.stack import build_stack

    cfg = StackConfig(name="wubu_t" if temporal else "wubu_s", input_dim=6, num_levels=2,
                      hyperbolic_dims=[8, 4], initial_curvatures=[1.0], temporal=temporal, num_heads=2,
                      euclidean=True)
    stack = build_stack(cfg)
    assert isinstance(stack, EuclideanStack) and stack.output_dim == WuBuStack(cfg).output_dim == 4
    assert stack.geometry_stats() == {}
    assert not any(isinstance(p, ManifoldParameter) for p in stack.parameters())
    x = torch.randn(3, 5, 6, requires_grad=True)
    y = stack(x)
    assert y.shape == (3, 5, 4)
    if temporal:  # position 2 never sees positions 3 and 4
        (grad,) = torch.autograd.grad(y[:, 2].sum(), x)
        assert grad[:, 3:].abs().max() == 0 and grad[:, :3].abs().max() > 0
    else:
        y.sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in stack.parameters())
