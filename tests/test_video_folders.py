"""Folders of videos: training mixes the windows of every video, the start-up summary counts them, and
validation reports prediction, copy-last, flow extrapolation and the learned gain per video."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from test_data import make_args
from test_trainer import fake_build, read_metrics, tiny_argv
from wubugaad.data.datasets import build_datasets
from wubugaad.data.video_cache import make_demo_video
from wubugaad.report import page
from wubugaad.train import config, session, tracking, trainer, validation


def three_videos(folder):
    for seed, name in enumerate(("a.mp4", "b.mp4", "nested/c.avi")):
        make_demo_video(folder / name, 24, 16, 16, seed=seed)
    return folder


def test_training_mixes_windows_of_every_video(tmp_path):
    args = make_args(tmp_path, video_data_path=str(three_videos(tmp_path / "clips")), image_h=16, image_w=16,
                     num_input_frames=2, validation_split_fraction=0.0)
    train, _ = build_datasets(args)
    assert train.video_names == ["a.mp4", "b.mp4", "nested/c.avi"]
    assert train.describe() == f"3 videos, {len(train)} windows" and len(train) == 3 * (24 - 3 + 1)
    sampler = session.EpochSampler(len(train), 0, 1, seed=0)
    order = [train[i]["video"] for i in sampler]
    assert sorted(set(order)) == [0, 1, 2]
    # shuffled across videos, not one video after the other: every stretch of 8 windows mixes them
    assert all(len(set(order[j:j + 8])) >= 2 for j in range(0, len(order) - 8, 8))
    assert sorted(order) == sorted(int(v) for v in train.video_ids)  # each window once per epoch


class BlackModel(torch.nn.Module):
    def forward(self, clip, mode, flow=None, z=None):
        return SimpleNamespace(prediction=torch.full_like(clip[:, 2:], -1.0))


def test_validation_reports_figures_per_video():
    frames = torch.zeros(3, 3, 1, 16, 16, dtype=torch.uint8)
    frames[1:, 2] = 255  # clips 1 and 2 (video "b"): a white target after black context frames
    batches = [{"frames": frames[:2], "video": torch.tensor([0, 1])},
               {"frames": frames[2:], "video": torch.tensor([1])}]
    cache: dict[str, float] = {}
    scores = validation.evaluate(BlackModel(), batches, 2, torch.device("cpu"), baseline_cache=cache,
                                 video_names=["a", "b"])
    assert scores["video/a/pred_psnr"] == pytest.approx(100.0) and scores["video/b/pred_psnr"] == 0.0
    assert scores["video/b/copy_last_psnr"] == 0.0 and scores["video/b/flow_extrap_psnr"] == 0.0
    assert scores["video/a/learned_gain_db"] == pytest.approx(0.0, abs=1e-6)
    assert scores["pred_psnr"] == pytest.approx(100.0 / 3)  # the overall mean is over clips
    assert "video/b/copy_last_psnr" in cache and "video/b/pred_psnr" not in cache
    again = validation.evaluate(BlackModel(), batches, 2, torch.device("cpu"), baseline_cache=cache,
                                video_names=["a", "b"])
    assert again == scores
    single = validation.evaluate(BlackModel(), batches, 2, torch.device("cpu"), video_names=["a"])
    assert not any(validation.is_per_video(k) for k in single)


def test_a_run_on_a_folder_summarises_it_and_logs_and_reports_each_video(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(session.model_lib, "build", fake_build)
    folder = tmp_path / "clips"
    for seed, name in enumerate(("one.mp4", "two.mp4")):
        make_demo_video(folder / name, 60, 16, 16, seed=seed)
    argv = tiny_argv(tmp_path, "--video_data_path", str(folder), "--max_steps", "2", "--val_max_clips", "0",
                     "--val_block_size", "5", "--validation_split_fraction", "0.5")
    assert trainer.run(config.parse_args(argv)) == 0
    out = capsys.readouterr().out
    assert "data: training on 2 videos, " in out and "; validating on 2 videos, " in out
    last = [r for r in read_metrics(tmp_path / "run") if "val/pred_psnr" in r][-1]
    for name in ("one.mp4", "two.mp4"):
        keys = ("pred_psnr", "flow_extrap_psnr", "learned_gain_db")
        assert {f"val/video/{name}/{k}" for k in keys} <= set(last)
    assert not [k for k in last if k not in ("step", "epoch") and not tracking.is_declared_key(k)]
    assert not tracking.is_declared_key("val/video/one.mp4/pred_ssim")
    assert "validation @ step" in out and "video/one.mp4" not in out  # kept out of the console summary
    report = (tmp_path / "run" / page.REPORT_NAME).read_text(encoding="utf-8")
    assert "Per video" in report and "two.mp4" in report
