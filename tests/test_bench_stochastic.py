"""bench_stochastic.py without training: its training flags parse into the protocol, and the table is built
from a constructed metrics.jsonl (sample metrics, baselines, the latent's KL per frame)."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from wubugaad.train import config, sample_metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_stochastic  # noqa: E402  (the bench scripts import their siblings from their own folder)


def _opts(**kw) -> Namespace:
    base = dict(preset="cpu", test_sequences=None, minutes=None, max_steps=None, samples=100,
                mnist_path="/nowhere", cache_dir="cache", seed=42)
    return Namespace(**{**base, **kw})


def test_training_flags_are_the_protocol(tmp_path):
    argv = bench_stochastic.training_argv(_opts(), tmp_path)
    args = config.build_parser().parse_args(argv)
    assert args.dataset == "stochastic_moving_fmnist"
    assert (args.num_input_frames, args.num_predict_frames) == (5, 10)
    assert (args.image_h, args.image_w, args.num_channels, args.val_num_samples) == (64, 64, 1, 100)
    assert (args.max_train_minutes, args.moving_test_sequences) == (10.0, 50)  # the CPU default budget
    steps = config.build_parser().parse_args(bench_stochastic.training_argv(_opts(max_steps=7), tmp_path))
    assert (steps.max_steps, steps.max_train_minutes) == (7, 0.0)


def test_table_from_a_metrics_log(tmp_path):
    keys = sample_metrics.sample_keys(10)
    val = {"step": 9, **{f"val/{k}": 20.0 for k in keys}, "val/pred_psnr": 19.0, "val/pred_ssim": 0.7}
    val.update({f"val/{p}{m}": 18.0 for p in ("copy_last_", "flow_extrap_") for m in ("psnr", "ssim")})
    train = [{"step": s, "train/loss_kl": 5.0 * s} for s in range(1, 11)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*train, val]))
    scores, log = bench_stochastic.read_log(tmp_path / "metrics.jsonl")
    assert scores["val/sample_best_psnr"] == 20.0 and len(log) == 10
    assert bench_stochastic.kl_per_frame(log) == {"latent": 5.0}  # the last tenth: 50 nats over 10 frames
    assert bench_stochastic.kl_per_frame(log, latent_frames=1) == {"latent": 50.0}  # logged per frame
    assert "val/sample_diversity_t10" in scores
