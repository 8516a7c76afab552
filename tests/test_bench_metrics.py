"""Benchmark metrics in the published tables' definitions, pinned on hand-computed cases, and their
reporting by validation (overall, per future step, copy-last)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from wubugaad.train import config, metrics, tracking, validation


def unit_to_model(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] → the model's [-1, 1]."""
    return x * 2.0 - 1.0


def test_bench_mse_and_mae_sum_over_pixels():
    target = torch.zeros(2, 3, 1, 64, 64)
    target[0, 0, 0, :10, 0] = 1.0          # 10 pixels off by 1
    target[1, 2, 0, 20:24, 20:24] = 0.5    # 16 pixels off by 0.5
    pred = torch.zeros_like(target)
    mse = metrics.bench_mse(unit_to_model(pred), unit_to_model(target))
    mae = metrics.bench_mae(unit_to_model(pred), unit_to_model(target))
    assert mse.shape == (2, 3)
    expected_mse = torch.zeros(2, 3)
    expected_mse[0, 0], expected_mse[1, 2] = 10.0, 16 * 0.25
    expected_mae = torch.zeros(2, 3)
    expected_mae[0, 0], expected_mae[1, 2] = 10.0, 16 * 0.5
    torch.testing.assert_close(mse, expected_mse)
    torch.testing.assert_close(mae, expected_mae)


def test_bench_mse_replicated_grey_equals_one_channel_and_is_unclipped():
    target = torch.rand(1, 2, 1, 8, 8)
    pred = torch.rand(1, 2, 1, 8, 8)
    one = metrics.bench_mse(unit_to_model(pred), unit_to_model(target))
    three = metrics.bench_mse(unit_to_model(pred.expand(-1, -1, 3, -1, -1)),
                              unit_to_model(target.expand(-1, -1, 3, -1, -1)))
    torch.testing.assert_close(one, three)
    over = torch.full((1, 1, 1, 4, 4), 1.5)  # 0.5 above the range on every pixel: not clipped away
    torch.testing.assert_close(metrics.bench_mse(unit_to_model(over), unit_to_model(torch.ones_like(over))),
                               torch.tensor([[16 * 0.25]]))


def test_bench_psnr_clips_and_matches_the_definition():
    target = torch.zeros(1, 1, 1, 10, 10)
    pred = torch.full_like(target, 0.1)  # MSE 0.01 → 20 dB
    torch.testing.assert_close(metrics.bench_psnr(unit_to_model(pred), unit_to_model(target)),
                               torch.tensor([[20.0]]))
    below = torch.full_like(target, -0.5)  # clipped to 0: identical frames, capped at 100 dB
    assert metrics.bench_psnr(unit_to_model(below), unit_to_model(target)).item() == metrics.PSNR_MAX_DB


@pytest.mark.parametrize("channels", [1, 3])
def test_bench_ssim_is_skimage_default_with_data_range_2(channels):
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, channels, 32, 32, generator=g, dtype=torch.float64)
    pred = (target + 0.2 * torch.randn(target.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = metrics.bench_ssim(unit_to_model(pred), unit_to_model(target))
    for i in range(2):
        ref = structural_similarity(pred[i].permute(1, 2, 0).numpy(), target[i].permute(1, 2, 0).numpy(),
                                    channel_axis=2, data_range=2.0)  # 7 × 7 box, sample covariance
        assert ours[i].item() == pytest.approx(ref, abs=1e-9)
    same = metrics.bench_ssim(unit_to_model(target), unit_to_model(target))
    torch.testing.assert_close(same, torch.ones(2, dtype=torch.float64))


def test_bench_metric_names_are_known_to_the_parser_and_tracker():
    assert config.metric_mode("bench_mae") == "min" and config.metric_mode("bench_ssim") == "max"
    args = config.parse_args(["--val_primary_metric", "bench_mse"])
    assert args.val_primary_metric == "bench_mse"
    for name in ("bench_mse", "bench_mae", "copy_last_bench_mse", "copy_last_bench_psnr"):
        assert f"val/{name}" in tracking.WANDB_SCALAR_KEYS
    assert validation.is_per_step("bench_mse_t10") and validation.is_per_step("copy_last_bench_ssim_t1")
    assert not any(validation.is_per_step(k) for k in tracking.VAL_METRIC_KEYS + tracking.BENCH_METRIC_KEYS)
    assert set(tracking.BENCH_METRIC_KEYS) <= set(validation.metric_keys(2, False))  # flow needs a pair
    keys = validation.metric_keys(2, False, 3)
    assert {"bench_mse_t1", "bench_mse_t3", "copy_last_bench_mae_t2"} <= set(keys)
    assert "bench_mse_t4" not in keys and len(keys) == len(set(keys))
    assert not any(validation.is_per_step(k) for k in validation.metric_keys(2, False))


class ConstantModel(torch.nn.Module):
    """Predicts every target frame as black (0 in [0, 1])."""

    def __init__(self, n_in: int):
        super().__init__()
        self.n_in = n_in

    def forward(self, clip, mode, flow=None, z=None):
        return SimpleNamespace(prediction=torch.full_like(clip[:, self.n_in:], -1.0))


def test_validation_reports_bench_metrics_per_future_step_and_for_copy_last():
    n_in, P, side = 2, 3, 8
    frames = torch.zeros(2, n_in + P, 1, side, side, dtype=torch.uint8)
    frames[:, n_in - 1, 0, 7, 7] = 255          # last context frame: one lit pixel the targets never have
    for k in range(1, P + 1):
        frames[:, n_in + k - 1, 0, 0, :k] = 255  # future step k: k lit pixels
    loader = [{"frames": frames[:1]}, {"frames": frames[1:]}]
    scores = validation.evaluate(ConstantModel(n_in), loader, n_in, torch.device("cpu"), num_predict_frames=P)
    for k in range(1, P + 1):
        assert scores[f"bench_mse_t{k}"] == pytest.approx(k)
        assert scores[f"bench_mae_t{k}"] == pytest.approx(k)
        assert scores[f"copy_last_bench_mse_t{k}"] == pytest.approx(k + 1)
    assert scores["bench_mse"] == pytest.approx(2.0) and scores["copy_last_bench_mae"] == pytest.approx(3.0)
    expected_psnr = np.mean([10 * np.log10(side * side / k) for k in range(1, P + 1)])
    assert scores["bench_psnr"] == pytest.approx(expected_psnr, rel=1e-5)
    assert 0 < scores["bench_ssim"] < 1
    plain = validation.evaluate(ConstantModel(n_in), loader, n_in, torch.device("cpu"))
    assert "bench_mse" in plain and not any(validation.is_per_step(k) for k in plain)
