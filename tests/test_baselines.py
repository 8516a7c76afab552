"""The flow-extrapolation baseline and the learned gain: arithmetic on constructed videos, the DIS fallback
when the loader carries no flow, the once-per-set cache, the names and the final line."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from wubugaad.data.flow import opencv_flow
from wubugaad.train import baselines, config, metrics, outputs, validation

I, P, SIDE = 2, 3, 32
SHIFT = (2, 1)  # (x, y) pixels per frame


def translating_clip(batch: int = 2, seed: int = 0, textured_background: bool = True) -> torch.Tensor:
    """uint8 (B, I + P, 1, SIDE, SIDE): a pattern moving by SHIFT pixels per frame. With a textured
    background the whole frame moves (wrapping around); without, a textured square moves on black, far
    from the borders."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (batch, SIDE, SIDE)).astype(np.uint8)
    if not textured_background:
        texture[:, :8], texture[:, 20:], texture[:, :, :8], texture[:, :, 20:] = 0, 0, 0, 0
    frames = [np.roll(texture, (t * SHIFT[1], t * SHIFT[0]), axis=(1, 2)) for t in range(I + P)]
    return torch.from_numpy(np.stack(frames, axis=1)[:, :, None])


def exact_flow(batch: int) -> torch.Tensor:
    """The loader's flow (B, T−1, 2, H, W) of ``translating_clip``: the motion into each frame."""
    flow = torch.zeros(batch, I + P - 1, 2, SIDE, SIDE)
    flow[:, :, 0], flow[:, :, 1] = SHIFT
    return flow


class BlackModel(torch.nn.Module):
    """Predicts every target frame as black: a prediction that is worse than both baselines."""

    def forward(self, clip, mode, flow=None, z=None):
        return SimpleNamespace(prediction=torch.full_like(clip[:, I:], -1.0))


def test_integer_translation_is_extrapolated_exactly_away_from_borders():
    clip = validation.frames_to_model(translating_clip())
    out = metrics.flow_extrapolation_baseline(clip[:, I - 1], exact_flow(2)[:, I - 2], P)
    assert out.shape == clip[:, I:].shape
    for k in range(1, P + 1):  # step k has pulled border values in from k·SHIFT pixels
        inner = (slice(None), k - 1, slice(None), slice(k * SHIFT[1], None), slice(k * SHIFT[0], None))
        torch.testing.assert_close(out[inner], clip[:, I:][inner], atol=1e-5, rtol=0)
    # a zero flow is copy-last, bit for bit
    still = metrics.flow_extrapolation_baseline(clip[:, I - 1], torch.zeros(2, 2, SIDE, SIDE), P)
    assert torch.equal(still, metrics.copy_last_baseline(clip[:, I - 1], clip[:, I:]))


def test_validation_scores_the_flow_extrapolation_per_step_and_the_learned_gain():
    frames = translating_clip(textured_background=False)
    loader = [{"frames": frames, "flow": exact_flow(2)}]
    scores = validation.evaluate(BlackModel(), loader, I, torch.device("cpu"), num_predict_frames=P)
    assert scores["flow_extrap_mse"] == pytest.approx(0.0, abs=1e-9)
    assert scores["flow_extrap_psnr"] == pytest.approx(metrics.PSNR_MAX_DB, abs=1e-3)
    for k in range(1, P + 1):
        assert scores[f"flow_extrap_bench_mse_t{k}"] == pytest.approx(0.0, abs=1e-6)
        assert scores[f"copy_last_bench_mse_t{k}"] > 1.0
    assert scores["flow_extrap_ssim"] == pytest.approx(1.0, abs=1e-5)
    best = max(scores["copy_last_psnr"], scores["flow_extrap_psnr"])
    assert scores[validation.LEARNED_GAIN_KEY] == pytest.approx(scores["pred_psnr"] - best)
    assert scores[validation.LEARNED_GAIN_KEY] < -50


def test_without_loader_flow_validation_measures_the_last_pair_itself():
    frames = translating_clip(textured_background=False)
    scores = validation.evaluate(BlackModel(), [{"frames": frames}], I, torch.device("cpu"))
    assert scores["flow_extrap_psnr"] > scores["copy_last_psnr"] + 3.0
    # the batched call is the per-clip OpenCV flow of the last context pair, clip by clip
    batched = baselines.last_pair_flow(frames, I)
    for b in range(frames.shape[0]):
        one = opencv_flow(frames[b, I - 2:I].permute(0, 2, 3, 1).numpy(), "dis")[0]
        np.testing.assert_array_equal(batched[b].numpy(), one)
    small = baselines.last_pair_flow(frames[..., :8, :8], I)  # under DIS's minimum side: Farnebäck
    assert small.shape == (2, 2, 8, 8) and torch.isfinite(small).all()


def test_baselines_are_scored_once_and_consume_no_random_numbers():
    frames = translating_clip()
    cache: dict[str, float] = {}
    state = torch.get_rng_state()
    first = validation.evaluate(BlackModel(), [{"frames": frames}], I, torch.device("cpu"),
                                baseline_cache=cache)
    assert torch.equal(state, torch.get_rng_state())
    assert cache and all(validation.is_baseline(k) for k in cache)
    assert {"copy_last_psnr", "flow_extrap_psnr", "flow_extrap_bench_mse"} <= set(cache)
    # another set would score differently: the cached figures are what comes back
    other = [{"frames": translating_clip(seed=1)}]
    again = validation.evaluate(BlackModel(), other, I, torch.device("cpu"), baseline_cache=cache)
    fresh = validation.evaluate(BlackModel(), other, I, torch.device("cpu"))
    assert again["flow_extrap_psnr"] == first["flow_extrap_psnr"] != fresh["flow_extrap_psnr"]
    assert list(again) == list(first)


def test_baseline_names_need_their_context_and_the_gain_selects_checkpoints():
    assert not any(k.startswith("flow_extrap_") for k in validation.metric_keys(1, False, 2))
    assert {"copy_last_psnr", "copy_last_bench_mse_t2"} <= set(validation.metric_keys(1, False, 2))
    keys = validation.metric_keys(2, True, 2)
    assert {"flow_extrap_lpips", "flow_extrap_bench_psnr_t2"} <= set(keys) and len(keys) == len(set(keys))
    assert validation.LEARNED_GAIN_KEY in validation.VAL_METRIC_KEYS
    args = config.parse_args(["--val_primary_metric", "learned_gain_db"])
    assert config.metric_mode(args.val_primary_metric) == "max"
    with pytest.raises(SystemExit):
        config.parse_args(["--val_primary_metric", "flow_extrap_psnr"])  # a baseline never trains
    assert baselines.learned_gain({"pred_psnr": 25.0, "copy_last_psnr": 21.0}) == pytest.approx(4.0)
    assert baselines.learned_gain({"copy_last_psnr": 21.0}) is None


def test_final_line_keeps_the_old_figures_and_adds_the_flow_baseline_and_the_gain():
    scores = {"pred_psnr": 25.575, "copy_last_psnr": 21.837, "avg_val_psnr": 27.972,
              "flow_extrap_psnr": 25.031, validation.LEARNED_GAIN_KEY: 0.544}
    line = outputs.final_line(scores)
    assert line.startswith("final validation: val/pred_psnr=25.575 dB  val/copy_last_psnr=21.837 dB  "
                           "pred - copy_last = +3.738 dB  (reconstruction 27.972 dB)")
    assert line.endswith("val/flow_extrap_psnr=25.031 dB  learned gain = +0.544 dB")
