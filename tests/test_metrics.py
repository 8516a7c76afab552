"""Metrics: PSNR known values, SSIM against scikit-image, LPIPS availability handling, copy-last baseline."""

import warnings

import pytest
import torch
from skimage.metrics import structural_similarity
from wubugaad.train import metrics
from wubugaad.train.metrics import LPIPSMetric, copy_last_baseline, mse, psnr, ssim


def test_psnr_known_value_and_shape():
    target = torch.zeros(2, 3, 1, 8, 8)
    pred = torch.full((2, 3, 1, 8, 8), 0.2)  # [0,1] error 0.1 → MSE 0.01 → 20 dB
    out = psnr(pred, target)
    assert out.shape == (2, 3)
    torch.testing.assert_close(out, torch.full((2, 3), 20.0))
    torch.testing.assert_close(mse(pred, target), torch.full((2, 3), 0.04))


def test_psnr_identical_frames_are_capped_not_inf():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    out = psnr(x, x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.full((4,), metrics.PSNR_MAX_DB))


def test_psnr_per_frame_independent():
    target = torch.zeros(2, 1, 4, 4)
    pred = torch.stack([torch.full((1, 4, 4), 0.2), torch.full((1, 4, 4), 2.0 * 10 ** -1.5)])
    out = psnr(pred, target)
    torch.testing.assert_close(out, torch.tensor([20.0, 30.0]))


def _sk_ssim(a: torch.Tensor, b: torch.Tensor, **kw) -> float:
    """skimage SSIM of two (C, H, W) frames in [-1, 1], mapped to [0, 1] like ours."""
    a01 = ((a.double() + 1) / 2).permute(1, 2, 0).numpy()
    b01 = ((b.double() + 1) / 2).permute(1, 2, 0).numpy()
    return structural_similarity(a01, b01, data_range=1.0, channel_axis=-1, **kw)


def _structured(gen: torch.Generator) -> torch.Tensor:
    """Smooth gradients plus a bright square: a frame with real structure, in [-1, 1]."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 24), torch.linspace(-1, 1, 20), indexing="ij")
    img = torch.stack([xx, yy, xx * yy]) * 0.8
    img[:, 6:14, 5:12] = 0.9
    return (img + 0.05 * torch.randn(img.shape, generator=gen)).clamp(-1, 1).double()


@pytest.mark.parametrize("options", [
    {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False},
    {"gaussian_weights": False, "use_sample_covariance": True},
])
def test_ssim_matches_skimage(options):
    gen = torch.Generator().manual_seed(0)
    rand_a = torch.rand(3, 24, 20, generator=gen, dtype=torch.float64) * 2 - 1
    rand_b = (rand_a + 0.3 * torch.randn(3, 24, 20, generator=gen, dtype=torch.float64)).clamp(-1, 1)
    struct_a = _structured(gen)
    struct_b = (struct_a * 0.9 + 0.05).clamp(-1, 1)
    pred = torch.stack([rand_a, struct_a, struct_a])
    target = torch.stack([rand_b, struct_b, struct_a])
    ours = ssim(pred, target, **options)
    ref = torch.tensor([_sk_ssim(p, t, **options) for p, t in zip(pred, target, strict=True)],
                       dtype=torch.float64)
    assert ours.shape == (3,)
    torch.testing.assert_close(ours, ref, atol=1e-3, rtol=0)
    assert abs(ours[2].item() - 1.0) < 1e-9


def test_ssim_float32_grayscale_batched_shape():
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(2, 3, 1, 16, 16, generator=gen) * 2 - 1
    b = torch.rand(2, 3, 1, 16, 16, generator=gen) * 2 - 1
    out = ssim(a, b)
    assert out.shape == (2, 3) and out.dtype == torch.float32
    ref = _sk_ssim(a[1, 2], b[1, 2], gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert abs(out[1, 2].item() - ref) < 1e-3


def test_ssim_tiny_frames_use_a_shrunken_window():
    gen = torch.Generator().manual_seed(2)
    a = torch.rand(2, 3, 8, 6, generator=gen) * 2 - 1
    b = torch.rand(2, 3, 8, 6, generator=gen) * 2 - 1
    torch.testing.assert_close(ssim(a, a), torch.ones(2))
    out = ssim(a, b)
    assert torch.isfinite(out).all() and (out < 0.9).all()
    assert torch.isfinite(ssim(a, b, gaussian_weights=False, use_sample_covariance=True)).all()


def test_copy_last_baseline_repeats_last_context_frame():
    last = torch.randn(2, 3, 5, 6)
    targets = torch.randn(2, 4, 3, 5, 6)
    pred = copy_last_baseline(last, targets)
    assert pred.shape == targets.shape
    assert torch.equal(pred[:, 3], last) and torch.equal(pred[:, 0], last)


def test_lpips_unavailable_without_hub_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric = LPIPSMetric()
        x = torch.zeros(1, 3, 32, 32)
        assert metric(x, x) is None
        assert metric(x, x) is None
    assert metric.available is False
    relevant = [w for w in caught if "LPIPS unavailable" in str(w.message)]
    assert len(relevant) == 1
    assert "alexnet-owt-7be5be79.pth" in str(relevant[0].message)


def test_lpips_missing_weights_path_is_unavailable(tmp_path):
    with pytest.warns(RuntimeWarning, match="lpips_weights"):
        metric = LPIPSMetric(weights_path=tmp_path / "nope.pth")
    assert not metric.available


def test_lpips_with_backbone_weights_file(tmp_path):
    gen = torch.Generator().manual_seed(0)
    # torchvision AlexNet.features conv shapes (out, in, k) at their Sequential indices
    convs = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
    state = {}
    for idx, (cout, cin, k) in convs.items():
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, k, k, generator=gen) / (cin * k * k) ** 0.5
        state[f"features.{idx}.bias"] = torch.zeros(cout)
    weights = tmp_path / "alexnet.pth"
    torch.save(state, weights)
    metric = LPIPSMetric(weights_path=weights)
    assert metric.available
    a = torch.rand(2, 3, 3, 24, 24, generator=gen) * 2 - 1  # below 32 px: upsampled internally
    b = torch.rand(2, 3, 3, 24, 24, generator=gen) * 2 - 1
    same = metric(a, a)
    diff = metric(a, b)
    assert same.shape == (2, 3) and diff.shape == (2, 3)
    assert torch.allclose(same, torch.zeros_like(same), atol=1e-6)
    assert torch.isfinite(diff).all() and (diff > 0).all()
    gray = metric(a[:, :, :1], b[:, :, :1])
    assert gray.shape == (2, 3) and torch.isfinite(gray).all()
