"""bench/probe_theory.py: its statistics on cases with known answers, and every probe on a tiny trained
moving-object checkpoint with synthetic Fashion-MNIST-style files (images and labels)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_entry import ENTRY, TINY_MODEL, run_script
from test_moving_objects import textured, write_idx
from wubugaad.data import moving_objects as mo
from wubugaad.train.checkpoint import checkpoint_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import _theory_stats as ts  # noqa: E402
import probe_theory  # noqa: E402


def test_gromov_delta_is_zero_on_a_tree_and_positive_on_a_cycle():
    line = torch.arange(8.0)
    assert ts.gromov_delta((line[:, None] - line[None, :]).abs()) == (0.0, 0.0)  # a path is a tree
    star = torch.full((6, 6), 2.0).fill_diagonal_(0)  # leaves of a star: every pair through the centre
    assert ts.gromov_delta(star)[0] == pytest.approx(0.0)
    i = torch.arange(12.0)
    gap = (i[:, None] - i[None, :]).abs()
    cycle = torch.minimum(gap, 12 - gap)  # the 12-cycle: far from a tree
    delta, rel = ts.gromov_delta(cycle)
    assert delta >= 2.0 and 0 < rel <= 1
    assert ts.relative_delta(cycle, sample=12, repeats=2)["delta_rel"] == pytest.approx(rel)


def test_uncertainty_statistics_on_known_cases():
    rng = np.random.default_rng(0)
    error = rng.random(200)
    perfect = ts.uncertainty(radius=1 - error, error=error, resamples=200)  # small radius, large error
    assert perfect["spearman"]["value"] == pytest.approx(-1.0)
    assert perfect["auroc_worst_decile"]["value"] == pytest.approx(1.0)
    noise = ts.uncertainty(radius=rng.random(200), error=error, resamples=200)
    low, high = noise["spearman"]["ci95"]
    assert low < noise["spearman"]["value"] < high and low < 0 < high
    low, high = noise["auroc_worst_decile"]["ci95"]
    assert low < 0.5 < high
    assert ts.auroc(np.array([3.0, 2.0, 1.0]), np.array([True, False, False])) == 1.0


def test_linear_probe_separates_separable_classes_and_not_noise():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=400)
    centres = rng.normal(size=(4, 6)) * 5
    features = centres[labels] + rng.normal(size=(400, 6))
    assert ts.linear_probe(features, labels) > 0.95
    assert ts.linear_probe(rng.normal(size=(400, 6)), labels) < 0.5


def test_bounce_profile_aligns_radii_with_bounces():
    positions = np.full((2, 1, 5, 2), 0.5)
    positions[0, 0, 2, 0] = 1.0  # clip 0 bounces at frame 2
    positions[1, 0, 0, 1] = 0.0  # clip 1 at frame 0
    radius = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0]])
    profile = probe_theory.bounce_profile(radius, positions)
    by_offset = dict(zip(profile["offsets"], zip(profile["mean_radius"], profile["bounces"], strict=True),
                         strict=True))
    assert by_offset[0] == (pytest.approx(6.5), 2)  # (3 + 10) / 2
    assert by_offset[-1] == (pytest.approx(2.0), 1)  # clip 1 has no frame before its bounce
    assert by_offset[2] == (pytest.approx(17.5), 2)  # (5 + 30) / 2


def write_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(np.array([probe_theory.IDX_LABEL_MAGIC, labels.size], dtype=">u4").tobytes()
                     + labels.astype(np.uint8).tobytes())


def test_probes_run_on_a_tiny_checkpoint_with_synthetic_labels(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / mo.IMAGE_FILES["train"], textured(10, 1))
    write_idx(folder / mo.IMAGE_FILES["test"], textured(40, 2), compress=False)
    write_labels(folder / probe_theory.LABEL_FILE, np.arange(40) % 10)
    run = tmp_path / "run"
    argv = ["--dataset", "moving_fmnist", "--mnist_path", str(folder), "--image_h", "32", "--image_w", "32",
            "--num_channels", "1", "--num_input_frames", "2", "--num_predict_frames", "2",
            "--moving_train_sequences", "8", "--moving_test_sequences", "12", "--val_max_clips", "12",
            "--cache_dir", str(tmp_path / "cache"), "--checkpoint_dir", str(run), "--batch_size", "4",
            "--num_workers", "0", "--max_steps", "2", "--epochs", "5", "--lambda_gan", "0",
            "--demo_num_samples", "0", "--num_val_samples_to_log", "0", "--log_interval", "1", *TINY_MODEL]
    done = run_script(ENTRY, argv, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "probes"
    code = probe_theory.main([str(run / checkpoint_name("best")), "--out", str(out), "--clips", "12",
                              "--bootstrap", "50", "--delta_points", "16", "--images", "40",
                              "--device", "cpu"])
    assert code == 0
    (row,) = json.loads((out / "theory_probes.json").read_text())
    assert row["wubu_geometry"] == "poincare" and row["wubu_s_width"] == 8
    u = row["uncertainty"]
    assert u["clips"] == 12 and -1 <= u["spearman"]["value"] <= 1
    assert 0 <= u["auroc_worst_decile"]["value"] <= 1
    assert row["bounces"]["offsets"] == [-2, -1, 0, 1, 2] and row["bounces"]["mean_radius_all_frames"] > 0
    assert 0 <= row["delta"]["delta_rel"] <= 1
    h = row["hierarchy"]
    assert h["images"] == 40 and 0 <= h["fine_accuracy"] <= 1 and 0 <= h["coarse_accuracy"] <= 1
    c = row["cost"]
    assert c["seconds_per_step"] > 0 and c["nonfinite_skipped"] == 0 and c["float64_ops"] >= 0
    assert math.isfinite(c["process_peak_rss_mib"])
    assert "| run | geometry |" in (out / "theory_probes.md").read_text()


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert probe_theory.main([str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot load checkpoint")
