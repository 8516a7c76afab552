"""Training-batch augmentation: exact transforms, flow consistency, per-sample choices, no loops, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _sync_guard import OpCounter, no_host_sync
from wubugaad.data import flow as opencv
from wubugaad.data.augment import (
    FLIP_KINDS,
    AugmentConfig,
    Choices,
    apply_choices,
    augment_batch,
    draw_choices,
    reversed_flow,
    step_seed,
)
from wubugaad.train import config, session, trainer

ALL_ON = AugmentConfig()


def only(kind: str, batch: int = 2) -> Choices:
    """``kind`` applied to sample 0 only."""
    mask = torch.zeros(batch, dtype=torch.bool)
    mask[0] = True
    return Choices({kind: mask}, None)


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def pair(frame: list, flow_x: list, flow_y: list):
    """One frame (H, W) and one flow pair as a clip (2, T=2, C=1, H, W) and flow (2, 1, 2, H, W); sample 1
    is a copy that must stay unchanged."""
    clip = torch.stack([t(frame), t(frame) + 100]).view(1, 2, 1, *t(frame).shape).repeat(2, 1, 1, 1, 1)
    flow = torch.stack([t(flow_x), t(flow_y)]).view(1, 1, 2, *t(frame).shape).repeat(2, 1, 1, 1, 1)
    return clip, flow


def test_hflip_exact_with_flow():
    clip, flow = pair([[1, 2, 3], [4, 5, 6]], [[1, 2, 3], [4, 5, 6]], [[10, 20, 30], [40, 50, 60]])
    out, out_flow = apply_choices(clip, flow, only("hflip"))
    torch.testing.assert_close(out[0, 0, 0], t([[3, 2, 1], [6, 5, 4]]), rtol=0, atol=0)
    torch.testing.assert_close(out_flow[0, 0, 0], t([[-3, -2, -1], [-6, -5, -4]]), rtol=0, atol=0)
    torch.testing.assert_close(out_flow[0, 0, 1], t([[30, 20, 10], [60, 50, 40]]), rtol=0, atol=0)
    assert torch.equal(out[1], clip[1]) and torch.equal(out_flow[1], flow[1])


def test_vflip_exact_with_flow():
    clip, flow = pair([[1, 2, 3], [4, 5, 6]], [[1, 2, 3], [4, 5, 6]], [[10, 20, 30], [40, 50, 60]])
    out, out_flow = apply_choices(clip, flow, only("vflip"))
    torch.testing.assert_close(out[0, 1, 0], t([[104, 105, 106], [101, 102, 103]]), rtol=0, atol=0)
    torch.testing.assert_close(out_flow[0, 0, 0], t([[4, 5, 6], [1, 2, 3]]), rtol=0, atol=0)
    torch.testing.assert_close(out_flow[0, 0, 1], t([[-40, -50, -60], [-10, -20, -30]]), rtol=0, atol=0)
    assert torch.equal(out[1], clip[1]) and torch.equal(out_flow[1], flow[1])


def test_transpose_exact_with_flow():
    clip, flow = pair([[1, 2], [3, 4]], [[1, 2], [3, 4]], [[5, 6], [7, 8]])
    out, out_flow = apply_choices(clip, flow, only("transpose"))
    torch.testing.assert_close(out[0, 0, 0], t([[1, 3], [2, 4]]), rtol=0, atol=0)
    # x' = y transposed, y' = x transposed
    torch.testing.assert_close(out_flow[0, 0, 0], t([[5, 7], [6, 8]]), rtol=0, atol=0)
    torch.testing.assert_close(out_flow[0, 0, 1], t([[1, 3], [2, 4]]), rtol=0, atol=0)
    assert torch.equal(out[1], clip[1])


def test_time_reverse_exact_with_flow():
    clip = torch.arange(2 * 3, dtype=torch.float32).view(2, 3, 1, 1, 1).expand(2, 3, 1, 2, 2)
    flow = torch.arange(2 * 2 * 2, dtype=torch.float32).view(2, 2, 2, 1, 1).expand(2, 2, 2, 2, 2) + 1
    out, out_flow = apply_choices(clip, flow, only("time_reverse"))
    assert out[0, :, 0, 0, 0].tolist() == [2.0, 1.0, 0.0]
    # pairs reversed and negated: [f0, f1] -> [-f1, -f0]
    assert out_flow[0, :, :, 0, 0].tolist() == [[-3.0, -4.0], [-1.0, -2.0]]
    assert torch.equal(out[1], clip[1]) and torch.equal(out_flow[1], flow[1])


def test_channel_permutation_exact():
    clip = torch.tensor([10.0, 20.0, 30.0]).view(1, 1, 3, 1, 1).repeat(2, 2, 1, 2, 2)
    perm = torch.tensor([[2, 0, 1], [0, 1, 2]])
    out, none = apply_choices(clip, None, Choices({}, perm))
    assert none is None
    assert out[0, :, :, 1, 1].tolist() == [[30.0, 10.0, 20.0]] * 2
    assert torch.equal(out[1], clip[1])


def _reference(clip: torch.Tensor, flow: torch.Tensor, applied: list[str], perm: list[int]):
    """One sample (T, C, H, W) / (T−1, 2, H, W), transformed with its own choices, in the documented order."""
    for kind in applied:
        if kind == "transpose":
            clip, flow = clip.permute(0, 1, 3, 2), flow.permute(0, 1, 3, 2)[:, [1, 0]]
        elif kind == "hflip":
            clip, flow = clip.flip(-1), flow.flip(-1) * t([-1, 1]).view(2, 1, 1)
        elif kind == "vflip":
            clip, flow = clip.flip(-2), flow.flip(-2) * t([1, -1]).view(2, 1, 1)
        else:
            clip, flow = clip.flip(0), reversed_flow(flow.flip(0)[None])[0]
    return clip[:, perm], flow


def test_per_sample_choices_are_independent_and_applied_per_sample():
    B = 4000
    choices = draw_choices(B, 3, True, ALL_ON, seed=5, device=torch.device("cpu"))
    coins = torch.stack([choices.masks[k] for k in FLIP_KINDS], dim=1).float()  # (B, 4)
    assert (coins.mean(0) - 0.5).abs().max() < 0.04
    joint = coins.T @ coins / B  # pairwise P(both): 1/4 off the diagonal when independent
    off = joint[~torch.eye(4, dtype=torch.bool)]
    assert (off - 0.25).abs().max() < 0.04
    _, counts = torch.unique(choices.perm, dim=0, return_counts=True)
    assert counts.numel() == 6 and (counts.float() / B - 1 / 6).abs().max() < 0.03
    # neighbouring samples are not correlated
    assert abs((coins[1:, 0] * coins[:-1, 0]).mean() - 0.25) < 0.04

    n = 48
    clip = torch.randn(n, 3, 3, 4, 4)
    flow = torch.randn(n, 2, 2, 4, 4)
    small = Choices({k: m[:n] for k, m in choices.masks.items()}, choices.perm[:n])
    out, out_flow = apply_choices(clip, flow, small)
    for b in range(n):
        applied = [k for k in FLIP_KINDS if small.masks[k][b]]
        ref_clip, ref_flow = _reference(clip[b], flow[b], applied, small.perm[b].tolist())
        assert torch.equal(out[b], ref_clip) and torch.equal(out_flow[b], ref_flow), b


def _moving_frames(T: int, size: int, motion) -> np.ndarray:
    """uint8 (T, H, W, 3): a smooth random texture sampled through ``motion(t)`` → 2×3 affine map."""
    import cv2

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (3 * size, 3 * size)).astype(np.float32), (0, 0), 2.5)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    frames = []
    for i in range(T):
        m = motion(i)
        grey = cv2.warpAffine(base, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        frames.append(np.repeat(grey[..., None], 3, axis=2))
    return np.clip(np.stack(frames), 0, 255).round().astype(np.uint8)


def _as_clip(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float()[None]  # (1, T, C, H, W), exact integers


def _as_frames(clip: torch.Tensor) -> np.ndarray:
    return clip[0].permute(0, 2, 3, 1).to(torch.uint8).numpy()


@pytest.mark.parametrize("kind", ["hflip", "vflip", "transpose", "time_reverse"])
def test_flow_stays_consistent_with_the_frames(kind):
    """OpenCV flow recomputed on the augmented frames matches the augmented flow, and not the original."""
    size = 64
    if kind == "time_reverse":
        # uniform motion: the negated forward flow is the backward flow
        def motion(i):
            return np.float32([[1, 0, size + 1.5 * i], [0, 1, size - 0.75 * i]])
    else:
        # non-uniform motion (translation + rotation + zoom): a flip of the field without the sign change
        # (or a transpose without the component swap) would not match
        def motion(i):
            a, s = 0.02 * i, 1 + 0.015 * i
            c, sn = s * np.cos(a), s * np.sin(a)
            cx = 1.5 * size
            return np.float32([[c, -sn, cx - c * size / 2 + sn * size / 2 + 1.5 * i],
                               [sn, c, cx - sn * size / 2 - c * size / 2 - 0.75 * i]])
    frames = _moving_frames(3, size, motion)
    clip = _as_clip(frames)
    fwd = torch.from_numpy(opencv.opencv_flow(frames, "dis"))[None]  # (1, 2, 2, H, W)
    out_clip, out_flow = apply_choices(clip, fwd, Choices({kind: torch.ones(1, dtype=torch.bool)}, None))
    recomputed = torch.from_numpy(opencv.opencv_flow(_as_frames(out_clip), "dis"))[None]
    inner = (slice(None), slice(None), slice(None), slice(8, -8), slice(8, -8))
    error = (recomputed - out_flow)[inner].abs().median()
    assert error < 0.3, f"{kind}: augmented flow differs from the recomputed flow by {error:.3f} px"
    # the field moved but its components left alone, or not transformed at all, must both be clearly wrong
    moved_only = {"hflip": fwd.flip(-1), "vflip": fwd.flip(-2), "transpose": fwd.transpose(-1, -2),
                  "time_reverse": fwd.flip(1)}[kind]
    for wrong in (fwd, moved_only):
        worst_component = max((recomputed - wrong)[inner][:, :, c].abs().median() for c in (0, 1))
        assert worst_component > 3 * error + 0.3, kind


def test_reversed_flow_follows_a_moving_object_where_the_negation_does_not():
    """A textured square moving 3 px a frame over a static texture: the reversed flow, compared with DIS
    measured on the reversed frames, is closer at the square's edges than the plain negation −f(q)."""
    import cv2

    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.uniform(0, 255, (64, 64)).astype(np.float32), (0, 0), 1.5)
    square = cv2.GaussianBlur(rng.uniform(0, 255, (16, 16)).astype(np.float32), (0, 0), 1.0)
    frames = np.repeat(background[None], 2, axis=0)
    for i, x0 in enumerate((20, 23)):
        frames[i, 24:40, x0:x0 + 16] = square
    frames = np.repeat(frames.clip(0, 255).astype(np.uint8)[..., None], 3, axis=-1)  # (2, 64, 64, 3)
    forward = torch.from_numpy(opencv.opencv_flow(frames, "dis"))[None]  # (1, 1, 2, H, W)
    truth = torch.from_numpy(opencv.opencv_flow(np.ascontiguousarray(frames[::-1]), "dis"))[None]
    edges = np.zeros((64, 64), bool)
    edges[20:44, 16:26] = edges[20:44, 34:44] = True  # both vertical edges of the square, in frame 0
    edges = torch.from_numpy(edges)

    def error(flow):
        return (flow - truth)[0, 0, 0][edges].abs().mean()

    assert error(reversed_flow(forward)) < 0.7 * error(-forward)


def test_no_loop_over_the_batch_and_no_host_sync():
    augment_batch(torch.randn(2, 4, 3, 8, 8), torch.randn(2, 3, 2, 8, 8), ALL_ON, seed=1)  # warp's grid cache
    counts = []
    for B in (2, 3, 17):  # not 1: a batch of one lets a reshape be a view where larger batches copy
        clip, flow = torch.randn(B, 4, 3, 8, 8), torch.randn(B, 3, 2, 8, 8)
        with no_host_sync(), OpCounter() as ops:
            augment_batch(clip, flow, ALL_ON, seed=1)
        counts.append(ops.count)
    assert counts[0] == counts[1] == counts[2] > 0, counts


def test_deterministic_private_stream_and_seed_per_step():
    clip, flow = torch.randn(8, 4, 3, 8, 8), torch.randn(8, 3, 2, 8, 8)
    before = torch.get_rng_state()
    a = augment_batch(clip, flow, ALL_ON, step_seed(42, 0, 7, 0))
    b = augment_batch(clip, flow, ALL_ON, step_seed(42, 0, 7, 0))
    assert torch.equal(torch.get_rng_state(), before), "augmentation consumed the global RNG"
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    seeds = {step_seed(s, r, st, m) for s in (0, 42) for r in (0, 1) for st in (0, 1, 2) for m in (0, 1)}
    assert len(seeds) == 24
    c = augment_batch(clip, flow, ALL_ON, step_seed(42, 0, 8, 0))
    assert not torch.equal(a[0], c[0])
    assert step_seed(-1, 0, 0, 0) >= 0


def test_switching_one_transform_off_keeps_the_others():
    cpu = torch.device("cpu")
    full = draw_choices(16, 3, True, ALL_ON, 3, cpu)
    part = draw_choices(16, 3, True, AugmentConfig(vflip=False), 3, cpu)
    assert "vflip" not in part.masks
    for kind in part.masks:
        assert torch.equal(part.masks[kind], full.masks[kind])
    assert torch.equal(part.perm, full.perm)


def test_non_square_grey_and_off():
    clip = torch.randn(4, 3, 1, 6, 8)
    choices = draw_choices(4, 1, False, ALL_ON, 0, torch.device("cpu"))
    assert "transpose" not in choices.masks and choices.perm is None
    assert augment_batch(clip, None, ALL_ON, 0)[0].shape == clip.shape
    off = config.augment_config(config.parse_args(["--no_augment"]))
    assert not off.any
    out, out_flow = augment_batch(clip, None, off, 0)
    assert out is clip and out_flow is None


def test_flags_default_on_and_individually_switchable():
    assert config.augment_config(config.parse_args([])) == ALL_ON
    cfg = config.augment_config(config.parse_args(["--no_aug_vflip", "--no_aug_channel_permute"]))
    assert cfg == AugmentConfig(vflip=False, channel_permute=False)


def test_trainer_augments_training_batches_with_per_step_seeds(tmp_path, monkeypatch):
    from test_trainer import fake_build, tiny_argv

    monkeypatch.setattr(session.model_lib, "build", fake_build)
    calls = []

    def spy(clip, flow, cfg, seed):
        calls.append((cfg, seed, clip.shape))
        return augment_batch(clip, flow, cfg, seed)

    monkeypatch.setattr(trainer, "augment_batch", spy)
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, "--max_steps", "3"))) == 0
    assert len(calls) == 3 and all(cfg == ALL_ON for cfg, _, _ in calls)
    assert len({seed for _, seed, _ in calls}) == 3
    assert calls[0][1] == step_seed(42, 0, 0, 0)
