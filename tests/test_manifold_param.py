"""`ManifoldParameter`: curvature sources, deepcopy, state_dict round trip, bad curvature."""

import copy

import pytest
import torch
from torch import nn
from wubugaad.geometry import ManifoldParameter
from wubugaad.geometry import poincare as P


class _Level(nn.Module):
    """A level with a learnable curvature that its ball parameter looks up through a bound method."""

    def __init__(self):
        super().__init__()
        self.log_c = nn.Parameter(torch.tensor(0.3))
        self.point = ManifoldParameter(torch.full((2, 3), 0.1), c=self.curvature)

    def curvature(self):
        return self.log_c.exp()


@pytest.mark.parametrize("source", [0.5, torch.tensor(0.5), lambda: torch.tensor(0.5)])
def test_curvature_sources(source):
    p = ManifoldParameter(torch.zeros(4, 3, dtype=torch.float64), c=source)
    c = p.curvature()
    assert isinstance(c, torch.Tensor)
    assert c.dtype == torch.float64
    assert c.item() == pytest.approx(0.5)
    assert isinstance(p, nn.Parameter) and p.requires_grad


def test_callable_curvature_follows_the_level():
    level = _Level()
    torch.testing.assert_close(level.point.curvature(), level.log_c.exp())
    with torch.no_grad():
        level.log_c.fill_(1.0)
    torch.testing.assert_close(level.point.curvature(), torch.tensor(1.0).exp())
    # The curvature lookup is differentiable, so a loss on the ball reaches the level's curvature.
    P.dist(level.point, torch.zeros(3), level.point.curvature()).sum().backward()
    assert level.log_c.grad is not None and level.log_c.grad.abs().item() > 0


def test_deepcopy_keeps_type_and_rebinds_bound_method():
    level = _Level()
    clone = copy.deepcopy(level)
    assert type(clone.point) is ManifoldParameter
    assert clone.point is not level.point
    torch.testing.assert_close(clone.point.data, level.point.data)
    assert clone.point.requires_grad
    with torch.no_grad():
        clone.log_c.fill_(2.0)
    torch.testing.assert_close(clone.point.curvature(), torch.tensor(2.0).exp())
    torch.testing.assert_close(level.point.curvature(), torch.tensor(0.3).exp())


def test_deepcopy_of_constant_curvature():
    p = ManifoldParameter(torch.zeros(3), c=torch.tensor(2.0))
    q = copy.deepcopy(p)
    assert type(q) is ManifoldParameter
    assert q.curvature().item() == pytest.approx(2.0)


def test_state_dict_round_trip():
    src, dst = _Level(), _Level()
    with torch.no_grad():
        src.point.copy_(torch.randn(2, 3) * 0.2)
        src.log_c.fill_(-0.5)
    dst.load_state_dict(src.state_dict())
    assert type(dst.point) is ManifoldParameter
    torch.testing.assert_close(dst.point.data, src.point.data)
    torch.testing.assert_close(dst.point.curvature(), torch.tensor(-0.5).exp())


@pytest.mark.parametrize("bad", [-1.0, 0.0, torch.tensor([0.5, -0.1])])
def test_non_positive_curvature_raises(bad):
    with pytest.raises(ValueError, match="curvature c must be positive"):
        ManifoldParameter(torch.zeros(3), c=bad)
