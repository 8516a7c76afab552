"""`Rotation`: exactly in SO(n) at init and after optimisation, gradients, φ-initialisation."""

import math

import pytest
import torch
from wubugaad.geometry.golden import PHI
from wubugaad.geometry.rotations import Rotation, phi_angles

DIMS = [2, 3, 4, 5, 64, 128]


def _assert_in_so_n(R):
    n = R.shape[0]
    R64 = R.detach().double()
    assert (R64.T @ R64 - torch.eye(n, dtype=torch.float64)).abs().max().item() <= 1e-5
    assert abs(torch.linalg.det(R64).item() - 1) <= 1e-5


@pytest.mark.parametrize("n", DIMS)
def test_identity_at_init(n):
    rot = Rotation(n)
    R = rot.matrix()
    assert R.shape == (n, n)
    torch.testing.assert_close(R, torch.eye(n))
    v = torch.randn(2, 3, n)
    torch.testing.assert_close(rot(v), v)


@pytest.mark.parametrize("n", DIMS)
def test_stays_in_so_n_after_sgd_with_random_gradients(n):
    torch.manual_seed(n)
    rot = Rotation(n, phi_init=n % 2 == 0)
    _assert_in_so_n(rot.matrix())
    opt = torch.optim.SGD(rot.parameters(), lr=0.05, momentum=0.9)
    for step in range(1, 101):
        # Random gradients written straight into .grad: any parameter value must map into SO(n).
        for p in rot.parameters():
            p.grad = torch.randn_like(p)
        opt.step()
        if step % 25 == 0:
            _assert_in_so_n(rot.matrix())
    R = rot.matrix()
    assert not torch.allclose(R, torch.eye(n), atol=1e-2)
    _assert_in_so_n(R)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_stays_in_so_n_when_trained_by_backprop(n):
    torch.manual_seed(n + 1)
    rot = Rotation(n)
    opt = torch.optim.SGD(rot.parameters(), lr=0.1, momentum=0.9)
    for _ in range(100):
        opt.zero_grad()
        (rot.matrix() * torch.randn(n, n)).sum().backward()
        opt.step()
    _assert_in_so_n(rot.matrix())


@pytest.mark.parametrize("n", DIMS)
def test_gradients_reach_parameters_and_forward_matches_matrix(n):
    torch.manual_seed(1)
    rot = Rotation(n)
    v = torch.randn(4, 2, n, requires_grad=True)
    target = torch.randn(4, 2, n)
    out = rot(v)
    assert out.shape == v.shape
    torch.testing.assert_close(out, v @ rot.matrix().T)
    ((out - target) ** 2).sum().backward()
    grads = [p.grad for p in rot.parameters()]
    assert grads and all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert v.grad is not None


@pytest.mark.parametrize("n", DIMS)
@pytest.mark.parametrize("level_idx", [0, 2])
def test_phi_init_is_a_non_identity_rotation(n, level_idx):
    rot = Rotation(n, phi_init=True, level_idx=level_idx)
    R = rot.matrix()
    _assert_in_so_n(R)
    assert not torch.allclose(R, torch.eye(n), atol=1e-3)
    # Plane (0, 1) turns by θ_0 = (π/φ^(level+1))·frac(φ).
    theta0 = math.pi / PHI ** (level_idx + 1) * (PHI - 1)
    assert R[0, 0].item() == pytest.approx(math.cos(theta0), abs=1e-6)
    assert R[1, 0].item() == pytest.approx(math.sin(theta0), abs=1e-6)
    assert phi_angles(n, level_idx).shape == (n // 2,)


def test_phi_init_block_structure_for_quaternion_case():
    """The n = 4 quaternion pair p·v·q reproduces the documented block rotation by θ_0, θ_1."""
    angles = phi_angles(4, 1)
    R = Rotation(4, phi_init=True, level_idx=1).matrix().double()
    for j, theta in enumerate(angles):
        block = R[2 * j : 2 * j + 2, 2 * j : 2 * j + 2]
        cos, sin = theta.cos(), theta.sin()
        expected = torch.stack([torch.stack([cos, -sin]), torch.stack([sin, cos])])
        torch.testing.assert_close(block, expected, atol=1e-6, rtol=0)
    assert R[:2, 2:].abs().max().item() <= 1e-6


def test_marker_and_bad_dimension():
    assert Rotation._is_wubu_rotation is True
    assert Rotation(3)._is_wubu_rotation is True
    with pytest.raises(ValueError, match="n must be >= 2"):
        Rotation(1)


def test_forward_follows_input_dtype():
    rot = Rotation(5, phi_init=True)
    v = torch.randn(3, 5, dtype=torch.float64)
    assert rot(v).dtype == torch.float64
    torch.testing.assert_close(rot(v).norm(dim=-1), v.norm(dim=-1))
