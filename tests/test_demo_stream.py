"""The procedural demo stream: determinism per (seed, epoch, index), resume, train/validation
disjointness, the content kinds it promises, the loader's flow and the wiring into a run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_trainer import _assert_resume_equivalent, fake_build, read_metrics
from torch.utils.data import DataLoader
from wubugaad.data import demo_stream as ds
from wubugaad.train import config, distributed, session

CFG = ds.DemoStreamConfig(height=24, width=24, frames=6, train_scenes=10, test_scenes=8, seed=5)


def test_a_scene_is_a_pure_function_of_its_key():
    train, _ = ds.build_datasets(CFG)
    batch = train.__getitems__([(1, 3), (1, 4), (2, 3)])
    again = ds.DemoStreamTrain(CFG)  # a new instance (another worker, a resumed run) draws the same
    assert torch.equal(batch[0]["frames"], again[(1, 3)]["frames"])
    assert torch.equal(batch[2]["frames"], again[(2, 3)]["frames"])
    assert batch[0]["frames"].shape == (6, 3, 24, 24) and batch[0]["frames"].dtype == torch.uint8
    assert not torch.equal(batch[0]["frames"], batch[2]["frames"])  # fresh every epoch
    assert not torch.equal(batch[0]["frames"], batch[1]["frames"])
    reseeded = ds.DemoStreamTrain(replace(CFG, seed=6))
    assert not torch.equal(batch[0]["frames"], reseeded[(1, 3)]["frames"])
    assert train[3]["frames"].equal(train[(0, 3)]["frames"])  # a plain index is epoch 0


def test_validation_scenes_are_fixed_and_never_drawn_in_training():
    _, val = ds.build_datasets(CFG)
    _, other_seed = ds.build_datasets(replace(CFG, seed=99, train_scenes=3))
    assert all(torch.equal(val[i]["frames"], other_seed[i]["frames"]) for i in range(len(val)))
    assert torch.equal(val.__getitems__([2, 5])[1]["frames"], val[5]["frames"])
    seen = {clip.tobytes() for epoch in range(3)
            for clip in ds.generate(CFG, ds.STREAM_TRAIN, CFG.seed, epoch, np.arange(CFG.train_scenes))}
    held_out = {clip.tobytes() for clip in ds.generate(CFG, ds.STREAM_TEST, ds.TEST_SEED, 0, np.arange(8))}
    assert len(seen) == 3 * CFG.train_scenes and len(held_out) == 8 and not seen & held_out


def test_the_promised_kinds_of_content_occur():
    index = np.arange(64)
    scenes = ds.draw_scenes(ds.STREAM_TEST, ds.TEST_SEED, 0, index)
    frames, masks = ds.render(scenes, 8, 32, 32, with_masks=True)
    assert (np.abs(scenes.pan).sum(1) > 0).any() and (scenes.pan == 0).all(1).any()       # pans, and not
    assert (scenes.zoom_rate > 0).any() and (scenes.zoom_rate < 0).any()                  # zoom in and out
    assert (scenes.fade[:, 0] != scenes.fade[:, 1]).any()                                 # fades
    assert (np.abs(scenes.accel).sum(-1)[scenes.shape_on] > 0).any()                     # accelerations
    assert scenes.disc[scenes.shape_on].any() and (~scenes.disc[scenes.shape_on]).any()   # discs and boxes
    assert scenes.shape_on.sum(1).min() == 1 and scenes.shape_on.sum(1).max() == ds.MAX_SHAPES
    assert np.ptp(scenes.radius[scenes.shape_on]) > 0.1                                   # sizes
    # bounces: some shape's velocity component changes sign between frames
    step = np.diff(ds.shape_centres(scenes, 8), axis=2)
    assert ((step[:, :, 1:] * step[:, :, :-1] < 0) & scenes.shape_on[:, :, None, None]).any()
    # occlusions: pixels inside two shapes at once
    assert (masks.sum(axis=1) >= 2).any()
    # the grating drifts in place: with no camera motion, background pixels still change
    still = np.flatnonzero((scenes.pan == 0).all(1) & (scenes.zoom_rate == 0) & (scenes.fade[:, 0] == 1))
    background = ~masks[still].any(axis=1)                                                # (S', T, H, W)
    both = background[:, 1:] & background[:, :-1]
    change = np.abs(np.diff(frames[still].astype(int), axis=1)).sum(-1)
    assert (change[both] > 0).mean() > 0.5


def test_items_carry_the_loaders_flow_and_grey_is_the_luma():
    args = config.parse_args(["--dataset", "demo_stream", "--image_h", "24", "--image_w", "24",
                              "--num_input_frames", "3", "--num_predict_frames", "2"])
    cfg = config.demo_stream_config(args)
    assert cfg.flow == "dis" and cfg.flow_pairs == (1, 2) and cfg.frames == 5
    train, val = ds.build_datasets(cfg)
    for item in (train[(0, 1)], val[0]):
        flow = item["flow"]
        assert flow.shape == (4, 2, 24, 24) and torch.isfinite(flow[[1, 2]]).all() and flow[0].isnan().all()
    grey = ds.DemoStreamTrain(replace(cfg, channels=1, flow=None))[(0, 1)]
    rgb = train[(0, 1)]["frames"].float()
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    assert "flow" not in grey and (grey["frames"].float() - luma).abs().max() <= 0.51


def test_worker_processes_deliver_the_same_batches():
    train, _ = ds.build_datasets(CFG)
    sampler = session.EpochSampler(len(train), 0, 1, seed=0, with_epoch=True)
    sampler.set_epoch(2)
    loader = DataLoader(train, batch_size=4, sampler=sampler, num_workers=1)
    batches = list(loader)
    keys = list(sampler)
    assert [b["frames"].shape[0] for b in batches] == [4, 4, 2]
    assert torch.equal(batches[1]["frames"][2], train[keys[6]]["frames"])


def test_parser_and_session_wire_the_stream(tmp_path):
    argv = ["--dataset", "demo_stream", "--image_h", "24", "--image_w", "24", "--num_input_frames", "2",
            "--num_predict_frames", "2", "--stream_train_scenes", "6", "--stream_val_scenes", "3",
            "--num_workers", "0", "--batch_size", "4"]
    args = config.parse_args(argv)
    info = distributed.DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    train_loader, sampler, val_loader, sample_batch = session._loaders(args, info)
    sampler.set_epoch(1)
    first = next(iter(train_loader))["frames"]
    sampler.set_epoch(1)
    assert torch.equal(next(iter(train_loader))["frames"], first)
    assert sum(b["frames"].shape[0] for b in val_loader) == 3
    for bad in (["--frame_skip", "2"], ["--stream_val_scenes", "0"]):
        with pytest.raises(SystemExit):
            config.parse_args(argv + bad)


def test_training_on_the_stream_resumes_exactly_and_scores_both_baselines(tmp_path, monkeypatch):
    monkeypatch.setattr(session.model_lib, "build", fake_build)
    extra = ("--dataset", "demo_stream", "--stream_train_scenes", "6", "--stream_val_scenes", "3")
    _assert_resume_equivalent(tmp_path, extra, steps=4)  # 3 batches per epoch: the resume crosses an epoch
    records = [r for r in read_metrics(tmp_path / "full") if "val/pred_psnr" in r]
    assert records
    assert {"val/flow_extrap_psnr", "val/copy_last_psnr", "val/learned_gain_db"} <= set(records[-1])
