"""The matched controls of the theory study: the Euclidean twins of the WuBu levels (the c → 0 limit and
its norm-bounded variant) and the grid / random GAAD layouts (same count and coverage as golden)."""

from __future__ import annotations

import pytest
import torch
from _sync_guard import no_host_sync
from test_model import clip_and_flow, make
from test_nesting import inputs, make_stack, task_loss
from wubugaad.gaad.boxes import box_masks, cached_boxes
from wubugaad.gaad.controls import coverage, golden_area_fraction, grid_boxes, random_boxes
from wubugaad.geometry import poincare
from wubugaad.optim.groups import param_groups
from wubugaad.optim.radam import RiemannianAdam
from wubugaad.train.config import parse_args

TWINS = ("euclidean_limit", "euclidean_bounded")
TINY_C = 1e-6


# ---------------------------------------------------------------- the c → 0 limit maps
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ball_maps_at_curvature_1e_6_equal_the_euclidean_operations(dtype):
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randn(16, 5, generator=g, dtype=dtype) for _ in range(2))
    c, s = torch.tensor(TINY_C, dtype=dtype), torch.tensor(1.7, dtype=dtype)
    tol = {"rtol": 1e-4, "atol": 1e-4}  # float32 tolerance; what remains is the O(c‖v‖²) curvature term
    torch.testing.assert_close(poincare.expmap0(x, c, s), poincare.flat_expmap0(x, s), **tol)
    torch.testing.assert_close(poincare.logmap0(x, c, s), poincare.flat_logmap0(x, s), **tol)
    torch.testing.assert_close(poincare.dist(x, y, c), poincare.flat_dist(x, y), **tol)
    torch.testing.assert_close(poincare.mobius_add(x, y, c), x + y, **tol)  # ⊕ becomes +
    if dtype == torch.float64:  # a limit: the difference shrinks with c (linearly: 100× smaller c, 100×)
        gap = [(poincare.dist(x, y, torch.tensor(k, dtype=dtype)) - poincare.flat_dist(x, y)).abs().max()
               for k in (1e-6, 1e-8)]
        assert gap[1] < gap[0] / 50
    # what the optimizer's ball update becomes when a twin's ball parameters read c = 0
    zero = torch.zeros((), dtype=dtype)
    torch.testing.assert_close(poincare.expmap(x, y, zero), x + y)
    torch.testing.assert_close(poincare.transport(x, y, y, zero), y)
    torch.testing.assert_close(poincare.egrad2rgrad(x, y, zero), y / 4)


def test_clip_norm_bounds_the_norm_and_keeps_short_vectors():
    x = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    torch.testing.assert_close(poincare.clip_norm(x, 2.0), torch.tensor([[1.2, 1.6], [0.3, 0.4], [0.0, 0.0]]))


# ---------------------------------------------------------------- Euclidean twins of a stack
@pytest.mark.parametrize("temporal", [False, True])
@pytest.mark.parametrize("geometry", TWINS)
def test_twin_has_the_hyperbolic_stacks_parameters_with_the_curvature_frozen(geometry, temporal):
    ball = make_stack(levels=3, temporal=temporal)
    twin = make_stack(levels=3, temporal=temporal, geometry=geometry)
    shapes = {name: p.shape for name, p in ball.named_parameters()}
    assert {name: p.shape for name, p in twin.named_parameters()} == shapes
    frozen = {name for name, p in twin.named_parameters() if not p.requires_grad}
    assert frozen == {f"levels.{i}.rho_c" for i in range(3)}
    assert all(p.requires_grad for p in ball.parameters())
    with no_host_sync():
        task_loss(twin.train()(inputs(temporal))).backward()
        twin.geometry_stats()
    for name, p in twin.named_parameters():  # everything but the frozen curvature learns
        assert (p.grad is None) == (name in frozen), name
        assert name in frozen or (torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0), name
    for level in twin.levels:
        assert float(level.boundary.curvature()) == 0.0  # the optimizer's ball update at its c = 0 limit


@pytest.mark.parametrize("temporal", [False, True])
def test_limit_twin_equals_the_ball_stack_at_curvature_1e_6(temporal):
    ball = make_stack(levels=3, temporal=temporal, dtype=torch.float64)
    for level in ball.levels:  # below the learnable curvature's floor: replace the level's curvature
        level.curvature = lambda: torch.tensor(TINY_C, dtype=torch.float64)
    twin = make_stack(levels=3, temporal=temporal, dtype=torch.float64, geometry="euclidean_limit")
    twin.load_state_dict(ball.state_dict())
    x = inputs(temporal, torch.float64)
    torch.testing.assert_close(twin(x), ball(x), rtol=1e-5, atol=1e-7)
    assert not torch.allclose(make_stack(levels=3, temporal=temporal, dtype=torch.float64)(x), twin(x))


def test_bounded_twin_keeps_points_within_the_initial_ball_radius_and_the_limit_does_not():
    radii = {}
    for geometry in TWINS:
        stack = make_stack(levels=2, geometry=geometry)
        with torch.no_grad():
            for level in stack.levels:
                level.rho_s.fill_(20.0)  # s ≈ 20: tangent vectors far longer than the ball's radius
        _, points = stack(inputs(False) * 10, return_points=True)
        radii[geometry] = [(p.norm(dim=-1).max().item(), 1 / c**0.5)
                           for p, c in zip(points, [1.0, 0.8], strict=True)]
    assert all(r <= bound * (1 + 1e-6) for r, bound in radii["euclidean_bounded"])
    assert all(r > 2 * bound for r, bound in radii["euclidean_limit"])


@pytest.mark.parametrize("geometry", TWINS)
def test_twin_trains_under_the_riemannian_optimizer(geometry):
    stack = make_stack(levels=2, geometry=geometry).train()
    opt = RiemannianAdam(param_groups(stack, weight_decay=0.0), lr=1e-2)
    x = inputs(False)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = task_loss(stack(x))
        first = loss.detach() if first is None else first
        loss.backward()
        opt.step()
    assert all(torch.isfinite(p).all() for p in stack.parameters())
    assert loss < 0.5 * first


def test_every_model_twin_has_the_models_parameter_count():
    counts = {}
    for geometry in ("poincare", *TWINS):
        model, _, args = make("--wubu_geometry", geometry, "--use_wubu_motion_branch",
                              "--optical_flow_net_type", "dis")
        counts[geometry] = sum(p.numel() for p in model.parameters())
        clip, flow = clip_and_flow(args)
        out = model(clip, flow=flow)
        assert torch.isfinite(out.prediction).all()
    assert len(set(counts.values())) == 1, counts


# ---------------------------------------------------------------- GAAD control layouts
@pytest.mark.parametrize("W, H", [(64, 64), (64, 48), (32, 16)])
@pytest.mark.parametrize("N", [1, 2, 5, 12])
@pytest.mark.parametrize("kind", ["hybrid", "subdivide", "spiral"])
def test_grid_and_random_boxes_match_golden_count_and_coverage(W, H, N, kind):
    golden = cached_boxes(W, H, N, kind, 4)
    grid = grid_boxes(W, H, N, kind, 4)
    a = golden_area_fraction(W, H, N, kind, 4)
    randoms = random_boxes(6, W, H, N, a, generator=torch.Generator().manual_seed(3))
    assert grid.shape == golden.shape and randoms.shape == (6, N, 4)
    target = coverage(golden, W, H)
    torch.testing.assert_close(coverage(grid, W, H), target)
    torch.testing.assert_close(coverage(randoms, W, H), target.expand(6))
    limit = torch.tensor([W, H, W, H]) * (1 + 1e-6)
    for boxes in (grid, randoms):
        assert (boxes >= 0).all() and (boxes <= limit).all()
        assert (boxes[..., 2:] > boxes[..., :2]).all()


def test_grid_is_uniform_and_like_golden_covers_the_whole_frame_at_the_default_count():
    grid = grid_boxes(64, 48, 12, "hybrid", 4)  # rows = round(√(12·48/64)) = 3, four boxes per row
    sides = grid[:, 2:] - grid[:, :2]
    torch.testing.assert_close(sides, sides[:1].expand(12, 2))  # one size, the frame's aspect
    torch.testing.assert_close(sides[0, 0] / sides[0, 1], torch.tensor(64 / 48))
    rows = grid[:, 1].view(3, 4)  # dealt row by row: each row's boxes at one height, left to right
    assert bool((rows == rows[:, :1]).all()) and bool((rows[1:, 0] > rows[:-1, 0]).all())
    assert bool((grid[:, 0].view(3, 4).diff(dim=1) > 0).all())
    for boxes in (grid, cached_boxes(64, 48, 12, "hybrid", 4)):
        union = box_masks(boxes, 64, 48, 64, 48).amax(dim=0)
        assert bool((union == 1).all())


def test_random_boxes_are_redrawn_per_clip_and_deterministic_given_the_seed():
    a = golden_area_fraction(64, 64, 12, "hybrid", 4)
    draw = lambda seed: random_boxes(4, 64, 64, 12, a, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    torch.testing.assert_close(draw(1), draw(1))
    assert not torch.allclose(draw(1), draw(2))
    first = draw(1)
    assert not torch.allclose(first[0], first[1])
    aspects = (first[..., 2] - first[..., 0]) / (first[..., 3] - first[..., 1])
    assert aspects.std() > 0.1  # random aspect, not one shape moved around


def test_encoder_shares_a_clips_random_boxes_over_its_frames_and_fixes_them_in_eval():
    model, _, args = make("--gaad_box_layout", "random")
    encoder = model.encoder.appearance.train()
    torch.manual_seed(11)
    with no_host_sync():
        boxes = encoder.frame_boxes(3, 2, None).view(3, 2, -1, 4)
    torch.testing.assert_close(boxes[:, 0], boxes[:, 1])
    assert not torch.allclose(boxes[0, 0], boxes[1, 0])
    torch.manual_seed(11)  # training draws from the global generator: the run's seed fixes them
    torch.testing.assert_close(encoder.frame_boxes(3, 2, None).view(3, 2, -1, 4), boxes)
    encoder.eval()
    torch.testing.assert_close(encoder.frame_boxes(3, 2, None), encoder.frame_boxes(3, 2, None))
    clip, _ = clip_and_flow(args)
    model.train()
    assert torch.isfinite(model(clip).prediction).all()
    grid_model, _, _ = make("--gaad_box_layout", "grid")
    assert torch.isfinite(grid_model(clip).prediction).all()


def test_a_control_layout_needs_a_static_golden_set(capsys):
    with pytest.raises(SystemExit) as err:
        parse_args(["--gaad_box_layout", "grid", "--gaad_decomposition_type", "motion_adaptive",
                    "--use_wubu_motion_branch", "--optical_flow_net_type", "dis"])
    assert err.value.code == 2
    assert "--gaad_box_layout grid replaces a static golden set" in capsys.readouterr().err


def test_stacks_off_needs_no_per_level_lists_and_runs():
    off = ["--wubu_s_num_levels", "0", "--wubu_t_num_levels", "0", "--wubu_m_num_levels", "0"]
    assert parse_args(off).wubu_s_hyperbolic_dims == [32, 16]  # the default two-level list: unread
    model, _, args = make(*off)
    assert not any(name.startswith("encoder.wubu_t.levels") for name, _ in model.named_parameters())
    clip, _ = clip_and_flow(args)
    assert torch.isfinite(model(clip).prediction).all()
