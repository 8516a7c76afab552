"""Stochastic metrics (train/sample_metrics.py): best / mean / worst of N, diversity, one-forward sampling,
and their keys in a training run's validation."""

from __future__ import annotations

import json

import pytest
import torch
from wubugaad.train import config, sample_metrics, session, tracking, trainer


def _truth_and_samples(B=2, N=4, P=3, C=1, H=12, W=12):
    """A true future and N samples at increasing distance from it: sample i = truth + noise of scale i/10."""
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(B, P, C, H, W, generator=g) * 1.6 - 0.8
    scale = torch.arange(N, dtype=torch.float32).view(1, N, 1, 1, 1, 1) / 10
    noise = torch.randn(B, N, P, C, H, W, generator=g)
    return truth, truth.unsqueeze(1) + scale * noise


def test_best_mean_worst_are_ordered_and_per_step_keys_exist():
    truth, samples = _truth_and_samples()
    out = sample_metrics.score_samples(samples, truth)
    assert set(out) == set(sample_metrics.sample_keys(3))
    assert all(v.shape == (2,) for v in out.values())
    best, mean, worst = (out[f"sample_{r}_psnr"] for r in sample_metrics.RANKS)
    assert (best >= mean).all() and (mean >= worst).all() and (best > worst).all()
    # sample 0 is the truth itself: the PSNR ceiling; the noisiest (last) is the worst
    assert torch.allclose(best, torch.full_like(best, 100.0))
    for k in (1, 2, 3):
        assert f"sample_best_psnr_t{k}" in out and f"sample_diversity_t{k}" in out
    assert (out["sample_best_ssim"] >= out["sample_worst_ssim"]).all()


def test_best_and_worst_curves_come_from_one_sample_chosen_by_mean_psnr():
    truth = torch.zeros(1, 2, 1, 8, 8)
    # sample 0: 46 dB at step 1, 8 dB at step 2; sample 1: 32 dB at both; by mean PSNR sample 1 wins
    s0 = torch.stack([truth[0, 0] + 0.01, truth[0, 1] + 0.8])
    s1 = torch.stack([truth[0, 0] + 0.05, truth[0, 1] + 0.05])
    out = sample_metrics.score_samples(torch.stack([s0, s1]).unsqueeze(0), truth)
    fair = 10 * torch.log10(torch.tensor(1 / 0.025 ** 2))
    assert torch.allclose(out["sample_best_psnr_t1"], fair.view(1), atol=1e-3)  # not sample 0's 46 dB
    assert out["sample_worst_psnr_t1"].item() == pytest.approx(46.02, abs=0.01)  # sample 0's own step 1


def test_diversity_is_zero_for_identical_samples_and_positive_otherwise():
    truth, samples = _truth_and_samples(N=3)
    same = samples[:, :1].expand_as(samples)
    assert torch.equal(sample_metrics.diversity(same), torch.zeros(2, 3))
    assert (sample_metrics.diversity(samples) > 0).all()
    assert torch.equal(sample_metrics.diversity(samples[:, :1]), torch.zeros(2, 3))  # N = 1
    # two samples differing by a constant 0.4 in [-1, 1] units are 0.2 apart on [0, 1]
    pair = torch.stack([torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.4)]).unsqueeze(0)
    assert sample_metrics.diversity(pair).item() == pytest.approx(0.2)


class CountingModel(torch.nn.Module):
    """Generate: last context frame + noise; counts forwards and the rows of each."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, clip, mode="train", z=None, flow=None):
        self.calls.append((mode, clip.shape[0], clip.shape[1]))
        last = clip[:, -1:] if clip.shape[1] else torch.zeros_like(clip[:, :1])
        return type("Out", (), {"prediction": last.expand(-1, 2, -1, -1, -1) + torch.randn(
            clip.shape[0], 2, *clip.shape[2:])})()


def test_draw_samples_is_one_forward_over_the_repeated_context():
    model = CountingModel()
    clip = torch.rand(3, 5, 1, 6, 6)
    drawn = sample_metrics.draw_samples(model, clip, torch.zeros(3, 4, 2, 6, 6), 4, num_input_frames=3)
    assert drawn.shape == (3, 4, 2, 1, 6, 6)
    assert model.calls == [("generate", 12, 3)]  # 3 clips × 4 samples, context frames only
    model.calls.clear()
    sample_metrics.draw_samples(model, clip, None, 4, num_input_frames=3, max_rows=8)
    assert model.calls == [("generate", 8, 3), ("generate", 4, 3)]  # chunked by whole clips


def test_validation_with_samples_logs_declared_sample_keys(tmp_path, monkeypatch):
    from test_trainer import fake_build, tiny_argv

    monkeypatch.setattr(session.model_lib, "build", fake_build)
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "2", "--val_interval", "2",
                                       "--val_num_samples", "3", "--num_predict_frames", "2"))
    assert trainer.run(args) == 0
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = next(x for x in lines if "val/pred_psnr" in x)
    expected = {f"val/{k}" for k in sample_metrics.sample_keys(2)}
    assert expected <= set(val)
    assert val["val/sample_best_psnr"] >= val["val/sample_mean_psnr"] >= val["val/sample_worst_psnr"]
    assert val["val/sample_diversity"] > 0  # the fake model's generate noise differs per sample
    assert not [k for x in lines for k in x if k not in ("step", "epoch") and not tracking.is_declared_key(k)]
    samples = {p.name for p in (tmp_path / "run" / "samples").iterdir()}
    assert "step2_sampled_futures.png" in samples and "step2_fixed_noise.png" in samples


def test_a_sample_metric_selects_the_best_checkpoint_only_with_samples(tmp_path, capsys):
    from test_trainer import tiny_argv

    base = tiny_argv(tmp_path, "--val_primary_metric", "sample_best_psnr")
    with pytest.raises(SystemExit):
        config.parse_args(base)
    assert "--val_primary_metric sample_best_psnr needs --val_num_samples" in capsys.readouterr().err
    assert config.parse_args([*base, "--val_num_samples", "4"]).val_primary_metric == "sample_best_psnr"
    assert config.metric_mode("sample_best_psnr") == "max"
    assert config.metric_mode("sample_worst_lpips") == "min"
