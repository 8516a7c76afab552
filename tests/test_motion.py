"""Motion branch: OpenCV flow, RAFT wrapper and its weights, regional stats, MotionEncoder."""

import math

import cv2
import numpy as np
import pytest
import torch
from _configs import model_config
from _sync_guard import no_host_sync
from torchvision.models.optical_flow import raft_small
from wubugaad.data.flow import opencv_flow
from wubugaad.model import motion
from wubugaad.model.motion import (
    MissingWeightsError,
    MotionEncoder,
    RaftFlow,
    build_flow_estimator,
    check_flow_config,
    raft_input_size,
    regional_flow_stats,
)


def _args(**kw):
    base = dict(
        image_h=32, image_w=48, num_channels=3, use_wubu_motion_branch=True, optical_flow_net_type="dis",
        optical_flow_weights=None, freeze_flow_net=True, flow_stats_components=["mag_mean", "angle_mean"],
        gaad_motion_num_regions=4, gaad_motion_decomposition_type="hybrid", gaad_min_size_px=4,
        encoder_initial_tangent_dim=8, wubu_m_num_levels=1, wubu_m_hyperbolic_dims=[6],
        wubu_m_initial_curvatures=[0.7], wubu_m_use_rotation=False, wubu_m_phi_influence_curvature=False,
        wubu_m_phi_influence_rotation_init=False, wubu_dropout=0.0,
    )
    base.update(kw)
    return model_config(**base)


# ---------------------------------------------------------------- OpenCV flow (data-loader side)
@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_opencv_flow_recovers_a_translation(method):
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur((rng.random((96, 96, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    tex = cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)
    dx, dy = 2, 1
    # content moves right by dx and down by dy each frame
    frames = np.stack([np.roll(tex, (t * dy, t * dx), axis=(0, 1)) for t in range(3)])
    flow = opencv_flow(frames, method)
    assert flow.shape == (2, 2, 96, 96) and flow.dtype == np.float32
    inner = flow[:, :, 16:-16, 16:-16]
    assert abs(np.median(inner[:, 0]) - dx) < 0.5 and abs(np.median(inner[:, 1]) - dy) < 0.5


def test_opencv_flow_rejects_bad_input():
    with pytest.raises(ValueError, match="method"):
        opencv_flow(np.zeros((2, 8, 8, 3), np.uint8), "raft_small")
    with pytest.raises(ValueError, match="uint8"):
        opencv_flow(np.zeros((2, 8, 8, 3), np.float32), "dis")


# ---------------------------------------------------------------- RAFT wrapper
def test_raft_random_weights_shape_eval_and_frozen():
    torch.manual_seed(0)
    est = RaftFlow("raft_small", pretrained=False, frozen=True)
    assert est._is_pretrained_flow and not est.training
    est.train()
    assert not est.training and not any(m.training for m in est.modules())
    assert not any(p.requires_grad for p in est.parameters())
    assert all(n.startswith("net.") for n, _ in est.state_dict().items())
    clip = (torch.rand(1, 2, 3, 128, 128) * 2 - 1).requires_grad_()
    with no_host_sync():
        flow = est(clip)
    assert flow.shape == (1, 1, 2, 128, 128) and torch.isfinite(flow).all()
    assert not flow.requires_grad


def test_raft_input_size_keeps_raft_sides():
    assert raft_input_size(256, 256, 1.0) == (256, 256)
    assert raft_input_size(256, 256, 0.5) == (128, 128)
    assert raft_input_size(256, 384, 0.5) == (128, 192)
    assert raft_input_size(200, 256, 0.5) == (128, 128)  # never below RAFT's 128
    assert raft_input_size(256, 256, 0.3) == (128, 128)


def test_raft_at_half_scale_returns_frame_sized_flow_in_frame_pixels():
    """The flow of a half-size RAFT pass comes back on the frame's grid with vectors in frame pixels: a
    stub estimator that answers a constant (−1, −2) on its grid, measured from the second frame back to
    the first (content moving by (1, 2)), must give the motion (W/w, 2·H/h) = (2, 4)."""
    est = RaftFlow("raft_small", pretrained=False, frozen=True, scale=0.5)
    seen = {}

    class ConstantFlow(torch.nn.Module):
        def forward(self, first, second, num_flow_updates):
            seen["size"] = tuple(first.shape[-2:])
            flow = first.new_zeros(first.shape[0], 2, *first.shape[-2:])
            flow[:, 0], flow[:, 1] = -1.0, -2.0
            return [flow]

    est.net = ConstantFlow()
    with no_host_sync():
        flow = est(torch.zeros(2, 3, 3, 256, 256))
    assert seen["size"] == (128, 128) and flow.shape == (2, 2, 2, 256, 256)
    assert torch.allclose(flow[:, :, 0], torch.full_like(flow[:, :, 0], 2.0))
    assert torch.allclose(flow[:, :, 1], torch.full_like(flow[:, :, 1], 4.0))


def test_flow_scale_outside_range_is_one_clear_problem():
    with pytest.raises(ValueError, match="--optical_flow_scale"):
        check_flow_config(_args(image_h=128, image_w=128, optical_flow_net_type="raft_small",
                                optical_flow_scale=0.0))
    with pytest.raises(ValueError, match="--optical_flow_scale"):
        check_flow_config(_args(image_h=128, image_w=128, optical_flow_net_type="raft_small",
                                optical_flow_scale=1.5))


def test_missing_weights_message_names_file_and_both_ways_out(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = tmp_path / "checkpoints" / "raft_small_C_T_V2-01064c6d.pth"
    with pytest.raises(MissingWeightsError) as err:
        build_flow_estimator(_args(image_h=128, image_w=128, optical_flow_net_type="raft_small"))
    msg = str(err.value)
    assert str(expected) in msg and "--optical_flow_weights" in msg and "--optical_flow_net_type dis" in msg
    assert isinstance(err.value, FileNotFoundError)
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(MissingWeightsError, match="nowhere.pth"):
        RaftFlow("raft_small", weights_path=missing)


@pytest.mark.parametrize("via_flag", [False, True])
def test_planted_weights_load_bit_identically(tmp_path, monkeypatch, via_flag):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(1)
    state = raft_small(weights=None).state_dict()
    path = tmp_path / "mine.pth" if via_flag else motion.raft_weights_file("raft_small")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    args = _args(image_h=128, image_w=128, optical_flow_net_type="raft_small",
                 optical_flow_weights=str(path) if via_flag else None)
    est = build_flow_estimator(args)
    assert isinstance(est, RaftFlow)
    loaded = est.net.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_flow_config_errors_and_opencv_needs_no_estimator():
    with pytest.raises(ValueError, match="optical_flow_net_type"):
        check_flow_config(_args(optical_flow_net_type="pwc"))
    with pytest.raises(ValueError, match="image_h"):
        check_flow_config(_args(image_h=64, image_w=64, optical_flow_net_type="raft_small"))
    with pytest.raises(ValueError, match="divisible by 8"):
        check_flow_config(_args(image_h=132, image_w=128, optical_flow_net_type="raft_large"))
    assert build_flow_estimator(_args(optical_flow_net_type="farneback")) is None
    # motion branch off: RAFT settings are not needed and nothing is loaded
    assert build_flow_estimator(_args(image_h=64, optical_flow_net_type="raft_small",
                                      use_wubu_motion_branch=False)) is None


# ---------------------------------------------------------------- regional statistics
ALL = ["mag_mean", "angle_mean", "mag_std", "angle_std"]


@pytest.mark.parametrize("per_field_boxes", [False, True])
def test_uniform_flow_stats(per_field_boxes):
    flow = torch.zeros(2, 2, 16, 24, dtype=torch.float64)
    flow[0, 0], flow[0, 1] = 3.0, 4.0  # |v| = 5 pointing at (0.6, 0.8)
    flow[1, 0] = -2.0  # |v| = 2 pointing left
    boxes = torch.tensor([[0, 0, 24, 16], [2, 3, 10, 11], [12, 4, 24, 16]], dtype=torch.float64)
    if per_field_boxes:
        boxes = boxes.expand(2, 3, 4)
    with no_host_sync():
        s = regional_flow_stats(flow, boxes, ALL)
    assert s.shape == (2, 3, 5)
    exp = torch.tensor([[5.0, 0.6, 0.8, 0.0, 0.0], [2.0, -1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(s, exp[:, None].expand(2, 3, 5), atol=1e-5)


def test_mixed_flow_stats():
    flow = torch.zeros(1, 2, 8, 8, dtype=torch.float64)
    flow[0, 0, :, :4] = 2.0  # left half moves right at 2 px, right half moves left at 2 px
    flow[0, 0, :, 4:] = -2.0
    whole = torch.tensor([[0.0, 0.0, 8.0, 8.0]], dtype=torch.float64)
    mag_mean, cos, sin, mag_std, ang_std = regional_flow_stats(flow, whole, ALL)[0, 0]
    assert abs(mag_mean - 2) < 1e-9 and abs(cos) < 1e-9 and abs(sin) < 1e-9 and mag_std < 1e-5
    assert ang_std > 5.0  # directions cancel: R clamps at 1e-6, sqrt(-2 ln 1e-6) ≈ 5.26
    flow[0, 0, :, 4:] = 0.0  # half still, half at 2 px: E[m] = 1, std = 1
    s = regional_flow_stats(flow, whole, ["mag_std", "mag_mean"])[0, 0]
    assert torch.allclose(s, torch.tensor([1.0, 1.0], dtype=torch.float64), atol=1e-6)
    # circular std of a half-spread: R = 0.5 → sqrt(2 ln 2)
    flow[0, 1, :, 4:] = 2.0
    flow[0, 0, :, 4:] = 0.0
    r = math.sqrt(0.5 ** 2 + 0.5 ** 2)
    assert abs(regional_flow_stats(flow, whole, ["angle_std"])[0, 0, 0] - math.sqrt(-2 * math.log(r))) < 1e-6


def test_unknown_stat_component():
    with pytest.raises(ValueError, match="flow_stats_components"):
        regional_flow_stats(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4), ["mag_median"])


# ---------------------------------------------------------------- MotionEncoder
@pytest.mark.parametrize("kind", ["hybrid", "motion_adaptive"])
def test_motion_encoder_shape_and_gradients(kind):
    torch.manual_seed(0)
    args = _args(gaad_motion_decomposition_type=kind, flow_stats_components=ALL)
    enc = MotionEncoder(args, out_dim=5)
    flow = torch.randn(2, 3, 2, 32, 48) * 2  # B=2, T=4
    with no_host_sync():
        out = enc(flow)
        assert out.shape == (2, 4, 5)
        (out * torch.randn_like(out)).sum().backward()
    assert torch.equal(out[0, 0], enc.no_motion.detach()) and torch.equal(out[1, 0], enc.no_motion.detach())
    assert enc.no_motion.abs().sum() > 0  # never silent zeros
    assert enc.no_motion.grad.abs().sum() > 0
    wubu = dict(enc.wubu_m.named_parameters())
    assert wubu and any(p.grad is not None and p.grad.abs().sum() > 0 for p in wubu.values())
    for name in ("stat_proj.weight", "head.weight"):
        assert dict(enc.named_parameters())[name].grad.abs().sum() > 0


def test_motion_encoder_sees_the_motion_of_each_pair():
    torch.manual_seed(0)
    enc = MotionEncoder(_args(), out_dim=4).eval()
    flow = torch.zeros(1, 2, 2, 32, 48)
    flow2 = flow.clone()
    flow2[0, 1, 0] = 3.0  # only pair (1, 2) changes → only frame 2's code changes
    with torch.no_grad():
        a, b = enc(flow), enc(flow2)
    assert torch.equal(a[:, :2], b[:, :2]) and not torch.allclose(a[:, 2], b[:, 2])


def test_motion_encoder_bad_config():
    with pytest.raises(ValueError, match="gaad_motion_decomposition_type"):
        MotionEncoder(_args(gaad_motion_decomposition_type="grid"), 4)
    with pytest.raises(ValueError, match="flow_stats_components"):
        MotionEncoder(_args(flow_stats_components=["speed"]), 4)
