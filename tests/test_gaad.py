"""GAAD box invariants: counts, bounds, golden areas, symmetry, spiral rule, motion."""

import math

import pytest
import torch
from _sync_guard import no_host_sync
from wubugaad.gaad.boxes import (
    PHI,
    cached_boxes,
    golden_subdivide,
    hybrid_boxes,
    motion_adaptive_boxes,
    phi_spiral_boxes,
)

SIZES = [(64, 64), (256, 256), (112, 64), (64, 112), (1920, 1080), (1080, 1920), (8, 8), (162, 100)]
COUNTS = [1, 2, 6, 12, 24, 200]
NON_SQUARE = [(w, h) for w, h in SIZES if w != h]


def _min_size(W, H):
    return min(W, H) / 32.0


def _assert_inside(boxes, W, H):
    tol = 1e-3 * max(W, H) / 1000.0
    assert (boxes[:, 0] >= -tol).all() and (boxes[:, 1] >= -tol).all()
    assert (boxes[:, 2] <= W + tol).all() and (boxes[:, 3] <= H + tol).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def _transpose(boxes):
    return boxes[..., [1, 0, 3, 2]]


@pytest.mark.parametrize("N", COUNTS)
@pytest.mark.parametrize("W,H", SIZES)
def test_subdivision_invariants(W, H, N):
    boxes = golden_subdivide(W, H, N, _min_size(W, H))
    assert boxes.shape == (N, 4) and boxes.dtype == torch.float32
    _assert_inside(boxes, W, H)
    assert torch.equal(boxes[0], torch.tensor([0.0, 0.0, W, H]))
    area = (boxes[:, 2] - boxes[:, 0]).double() * (boxes[:, 3] - boxes[:, 1]).double()
    assert (area[1:] <= area[:-1] * (1 + 1e-5)).all(), "areas must be non-increasing"
    k = torch.log(W * H / area) / math.log(PHI)  # area = W·H·φ^{-k}
    assert torch.allclose(k, k.round(), atol=1e-3), k
    # duplicates only as trailing padding copies of the last real box
    distinct = torch.unique(boxes, dim=0).shape[0]
    assert torch.equal(boxes[distinct:], boxes[distinct - 1].expand(N - distinct, 4))


def test_subdivision_cuts_follow_shape():
    square = golden_subdivide(64, 64, 3, 1)
    assert torch.allclose(square[1], torch.tensor([0.0, 0.0, 64 / PHI, 64.0]))  # square → vertical cut
    assert torch.allclose(square[2], torch.tensor([64 / PHI, 0.0, 64.0, 64.0]))
    portrait = golden_subdivide(60, 100, 3, 1)
    assert torch.allclose(portrait[1], torch.tensor([0.0, 0.0, 60.0, 100 / PHI]))  # portrait → horizontal
    # min_size keeps only the 64/φ × 40 child; the list is padded with copies of the last box
    full, left = [0.0, 0.0, 64.0, 40.0], [0.0, 0.0, 64 / PHI, 40.0]
    assert torch.allclose(golden_subdivide(64, 40, 4, 35), torch.tensor([full] + [left] * 3))
    # min_size above the frame: the full frame is still box 0
    assert torch.equal(golden_subdivide(64, 40, 2, 50), torch.tensor([[0.0, 0.0, 64.0, 40.0]] * 2))


def test_subdivision_stops_at_depth_six():
    boxes = golden_subdivide(1920, 1080, 200, 1e-3)
    assert torch.unique(boxes, dim=0).shape[0] == 2**7 - 1  # full binary tree of depth 6


@pytest.mark.parametrize("N", COUNTS)
@pytest.mark.parametrize("W,H", NON_SQUARE)
def test_transposing_frame_transposes_boxes(W, H, N):
    m = _min_size(W, H)
    assert torch.equal(golden_subdivide(H, W, N, m), _transpose(golden_subdivide(W, H, N, m)))
    assert torch.allclose(phi_spiral_boxes(H, W, N), _transpose(phi_spiral_boxes(W, H, N)))
    assert torch.allclose(hybrid_boxes(H, W, N, m), _transpose(hybrid_boxes(W, H, N, m)))


@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("N", [1, 6, 24, 200])
@pytest.mark.parametrize("W,H", SIZES)
def test_scaling_frame_scales_boxes(W, H, N, s):
    m = _min_size(W, H)
    for fn in (golden_subdivide, hybrid_boxes):
        assert torch.allclose(fn(s * W, s * H, N, s * m), s * fn(W, H, N, m), rtol=1e-5, atol=1e-4)
    spiral = phi_spiral_boxes(s * W, s * H, N)
    assert torch.allclose(spiral, s * phi_spiral_boxes(W, H, N), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("N", COUNTS)
@pytest.mark.parametrize("W,H", SIZES)
def test_spiral_rule(W, H, N):
    boxes = phi_spiral_boxes(W, H, N).double()
    assert boxes.shape == (N, 4)
    _assert_inside(boxes, W, H)
    m = min(W, H)
    side = boxes[:, 2] - boxes[:, 0]
    assert torch.allclose(side, boxes[:, 3] - boxes[:, 1]), "patches are square"
    centre_box = torch.tensor([W / 2 - m / 8, H / 2 - m / 8, W / 2 + m / 8, H / 2 + m / 8]).double()
    assert torch.allclose(boxes[0], centre_box)  # scale 0.25 patch at the frame centre
    assert (side >= 0.05 * m - 1e-4).all() and (side[1:] <= 0.2 * m + 1e-4).all()
    assert (side[2:] <= side[1:-1] + 1e-4).all(), "foveated: patch size shrinks along the spiral"
    # documented rule: before clamping, every spiral point lies within 95% of the inscribed circle
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert (centre[:, 0] > 0).all() and (centre[:, 0] < W).all()
    assert (centre[:, 1] > 0).all() and (centre[:, 1] < H).all()
    offset = centre - torch.tensor([W / 2, H / 2]).double()
    assert (offset.norm(dim=1) <= 0.475 * m + side / 2 * math.sqrt(2) + 1e-4).all()
    # no two boxes identical
    diff = (boxes[:, None, :] - boxes[None, :, :]).abs().amax(dim=-1) + torch.eye(N, dtype=torch.float64)
    assert (diff > 1e-4).all()


def test_spiral_points_unclamped_follow_log_spiral():
    W = H = 1000  # large square: early points are not clamped, so radii can be read back
    boxes = phi_spiral_boxes(W, H, 9).double()
    r = ((boxes[:, :2] + boxes[:, 2:]) / 2 - 500.0).norm(dim=1)
    assert r[0] < 1e-6 and abs(r[-1] - 0.475 * W) < 1.0
    log_r = torch.log(r[1:6])  # r = a·e^{bθ} with θ evenly spaced ⇒ log r evenly spaced
    assert torch.allclose(log_r.diff(), log_r.diff()[:1].expand(4), atol=1e-4)
    assert abs(r[1].item() - 0.05 * W * math.exp(math.log(0.475 / 0.05) / 8)) < 1e-2


@pytest.mark.parametrize("N", COUNTS)
@pytest.mark.parametrize("W,H", SIZES)
def test_hybrid_is_subdivision_then_spiral(W, H, N):
    m = _min_size(W, H)
    boxes = hybrid_boxes(W, H, N, m)
    assert boxes.shape == (N, 4)
    _assert_inside(boxes, W, H)
    if N // 2:
        assert torch.equal(boxes[: N // 2], golden_subdivide(W, H, N // 2, m))
    assert torch.equal(boxes[N // 2 :], phi_spiral_boxes(W, H, N - N // 2))


def test_cached_boxes_reuse_and_match():
    a = cached_boxes(112, 64, 12, "hybrid", 2.0, "cpu")
    assert a is cached_boxes(112, 64, 12, "hybrid", 2.0, torch.device("cpu"))
    assert torch.equal(a, hybrid_boxes(112, 64, 12, 2.0))
    assert torch.equal(cached_boxes(112, 64, 12, "subdivide", 2.0, "cpu"), golden_subdivide(112, 64, 12, 2.0))
    assert torch.equal(cached_boxes(112, 64, 12, "spiral", 2.0, "cpu"), phi_spiral_boxes(112, 64, 12))
    assert cached_boxes(112, 64, 12, "spiral", 2.0, "cpu").device.type == "cpu"


@pytest.mark.parametrize(
    "call,setting",
    [
        (lambda: golden_subdivide(64, 64, 0, 1), "N"),
        (lambda: golden_subdivide(64, 64, 2.5, 1), "N"),
        (lambda: golden_subdivide(0, 64, 4, 1), "W"),
        (lambda: phi_spiral_boxes(64, -3, 4), "H"),
        (lambda: hybrid_boxes(64, 64, 4, 0), "min_size"),
        (lambda: cached_boxes(64, 64, 4, "grid", 1, "cpu"), "kind"),
        (lambda: motion_adaptive_boxes(torch.zeros(4), 4, 1), "energy_map"),
        (lambda: motion_adaptive_boxes(torch.zeros(8, 8), 0, 1), "N"),
        (lambda: motion_adaptive_boxes(torch.zeros(8, 8), 4, -1), "min_size"),
    ],
)
def test_bad_input_raises(call, setting):
    with pytest.raises(ValueError, match=setting):
        call()


def _blob(H, W, cx, cy, sigma=3.0):
    ys = torch.arange(H).float()[:, None] + 0.5
    xs = torch.arange(W).float()[None, :] + 0.5
    return torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize("N", [1, 2, 6, 12, 24])
def test_motion_boxes_follow_moving_blob(N):
    H, W = 32, 48
    xs = [8.0, 18.0, 30.0, 40.0]
    energy = torch.stack([_blob(H, W, x, 12.0) for x in xs])  # blob moving right, (4, H, W)
    with no_host_sync():
        boxes = motion_adaptive_boxes(energy, N, 2.0)
    assert boxes.shape == (4, N, 4)
    for b in boxes:
        _assert_inside(b, W, H)
    cx = ((boxes[..., 0] + boxes[..., 2]) / 2).mean(dim=1)
    assert (cx.diff() > 0).all(), cx
    assert cx[0] < W / 2 < cx[-1]
    # the first spiral box is centred on the blob
    first_spiral = boxes[:, N // 2]
    assert torch.allclose((first_spiral[:, 0] + first_spiral[:, 2]) / 2, torch.tensor(xs), atol=1.01)


def test_motion_boxes_deterministic_and_batch_consistent():
    H, W = 24, 40
    energy = torch.stack([_blob(H, W, 10.0, 8.0), _blob(H, W, 30.0, 16.0), torch.ones(H, W)])
    a = motion_adaptive_boxes(energy, 12, 2.0)
    assert torch.equal(a, motion_adaptive_boxes(energy.clone(), 12, 2.0))
    for i in range(3):
        assert torch.equal(a[i], motion_adaptive_boxes(energy[i], 12, 2.0))


def test_motion_boxes_without_motion_are_static_layout():
    H, W, N = 32, 48, 12
    boxes = motion_adaptive_boxes(torch.zeros(H, W), N, 2.0)
    assert torch.equal(boxes[: N // 2], golden_subdivide(W, H, N // 2, 2.0))
    centre = (boxes[N // 2, :2] + boxes[N // 2, 2:]) / 2
    assert torch.allclose(centre, torch.tensor([W / 2, H / 2]), atol=1.0)


def test_motion_cells_concentrate_on_energy():
    H, W = 32, 48
    energy = torch.zeros(2, H, W)
    energy[0, :, :12] = 1.0  # motion on the left quarter
    energy[1, :, 36:] = 1.0  # motion on the right quarter
    cells = motion_adaptive_boxes(energy, 12, 2.0)[:, :6]
    assert (cells[0, :, 2] <= 12.5).all() and (cells[1, :, 0] >= 35.5).all()
