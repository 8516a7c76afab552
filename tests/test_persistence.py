"""The persistence of the last change (model/persistence.py): a steady fade is continued whole, sensor noise
and a reversed or just-begun change are not, and with the gate off or two frames the raw change is kept."""

import pytest
import torch
from wubugaad.model.persistence import EPS, last_change


def _frames(*images):
    return torch.stack(images, dim=1)  # (B, T, C, H, W)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_steady_fade_is_continued_whole(dtype):
    g = torch.Generator().manual_seed(0)
    base = torch.rand(2, 3, 9, 11, generator=g, dtype=dtype) - 0.5
    step = (torch.rand(2, 3, 9, 11, generator=g, dtype=dtype) - 0.5) * 0.2  # a different fade per pixel
    frames = _frames(base, base + step, base + 2 * step)
    change = last_change(frames, persistence=True)
    now = frames[:, -1] - frames[:, -2]
    # κ = d²/(d² + ε) locally: within ε of 1 where the fade is steady over the 3×3 window
    assert ((change - now).abs() <= now.abs() * 0.05 + 1e-6).all()
    uniform = _frames(*(torch.full((1, 1, 5, 5), 0.1 * t, dtype=dtype) for t in range(3)))
    expected = 0.1 * (0.01 / (0.01 + EPS))
    assert torch.allclose(last_change(uniform, True), torch.full((1, 1, 5, 5), expected, dtype=dtype))


def test_noise_a_reversal_and_a_change_that_just_began_are_not_continued():
    g = torch.Generator().manual_seed(1)
    x = [torch.randn(4, 3, 32, 32, generator=g) * 0.05 for _ in range(3)]  # independent sensor noise
    noise = _frames(*x)
    now = noise[:, -1] - noise[:, -2]
    kept = last_change(noise, True)
    assert kept.abs().mean() < 0.3 * now.abs().mean()  # raw: all of it; kept: the small correlated part
    a, b = torch.zeros(1, 1, 6, 6), torch.full((1, 1, 6, 6), 0.3)
    assert not last_change(_frames(a, b, a), True).any()  # went up, came back: reversed
    assert not last_change(_frames(a, a, b), True).any()  # nothing changed before: just began


def test_off_or_with_two_frames_the_raw_change_is_kept():
    g = torch.Generator().manual_seed(2)
    frames = torch.rand(2, 4, 3, 8, 8, generator=g)
    now = frames[:, -1] - frames[:, -2]
    assert torch.equal(last_change(frames, False), now)
    assert torch.equal(last_change(frames[:, -2:], True), now)


def test_a_config_saved_before_the_persistence_keeps_the_raw_change():
    from wubugaad.train.config import args_from_config
    from wubugaad.train.upgrade import upgrade_config

    config = upgrade_config({"generator_type": "spatial"})
    assert config["gen_change_persistence"] is False
    assert args_from_config(config).gen_change_persistence is False
