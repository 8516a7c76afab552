"""Data pipeline: decoding + cache, windows, validation split, demo video, pickling, loaders, bad input."""

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _configs import defaults
from wubugaad.data import datasets as data
from wubugaad.data import flow, video_cache
from wubugaad.data.datasets import DataError, build_dataloader, build_datasets, frames_to_model, split_windows
from wubugaad.data.video_cache import make_demo_video
from wubugaad.model import build
from wubugaad.model.flow_reads import flow_reads

FIXTURE = Path(__file__).parent / "data" / "bbb_excerpt.mp4"
FIXTURE_VAL = Path(__file__).parent / "data" / "bbb_excerpt_val.mp4"


def make_args(tmp_path, **overrides):
    args = {
        "video_data_path": str(FIXTURE), "validation_video_path": None, "image_h": 64, "image_w": 64,
        "num_channels": 3, "num_input_frames": 3, "num_predict_frames": 1, "frame_skip": 1,
        "validation_split_fraction": 0.1, "val_block_size": 20, "seed": 42, "resize_mode": "crop",
        "cache_dir": str(tmp_path / "cache"), "use_wubu_motion_branch": False,
        "optical_flow_net_type": "raft_small", "batch_size": 2, "num_workers": 0,
    }
    args.update(overrides)
    return defaults(**args)


def decode_all(path: Path) -> np.ndarray:
    """Every BGR frame of a video, straight from OpenCV (the reference the cache is checked against)."""
    return np.stack(list(video_cache.decoded_frames(path)))


def frames_of(ds, i) -> set[tuple[int, int]]:
    """(video, source frame) pairs read by window i."""
    s, v = int(ds.starts[i]), int(ds.video_ids[i])
    return {(v, s + j * ds.frame_skip) for j in range(ds.clip_len)}


def test_fixture_64x64_centre_crop_matches_opencv(tmp_path):
    train, val = build_datasets(make_args(tmp_path, validation_split_fraction=0.0))
    assert val is None
    assert len(train) == 72 - 4 + 1
    item = train[5]
    assert item["index"] == 5 and item["frames"].dtype == torch.uint8
    assert item["frames"].shape == (4, 3, 64, 64)
    src = decode_all(FIXTURE)[5:9]  # (4, 72, 128, 3) BGR
    crop = src[:, :, 28:100]  # centre 72 × 72 of a 128-wide frame
    ref = np.stack([cv2.cvtColor(cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
                    for f in crop])
    assert np.array_equal(item["frames"].permute(0, 2, 3, 1).numpy(), ref)


@pytest.mark.parametrize("mode,width,height", [("crop", 48, 32), ("stretch", 48, 32), ("crop", 40, 64)])
def test_fixture_non_square_sizes(tmp_path, mode, width, height):
    args = make_args(tmp_path, image_w=width, image_h=height, resize_mode=mode, frame_skip=2,
                     validation_video_path=str(FIXTURE_VAL))
    train, val = build_datasets(args)
    span = 3 * 2 + 1
    assert len(train) == 72 - span + 1 and len(val) == 32 - span + 1
    frames = train[0]["frames"]
    assert frames.shape == (4, 3, height, width)
    src = decode_all(FIXTURE)[0:span:2]
    if mode == "crop":
        cw = round(72 * width / height) if 128 * height > 72 * width else 128
        ch = 72 if cw < 128 else round(128 * height / width)
        x0, y0 = (128 - cw) // 2, (72 - ch) // 2
        src = src[:, y0 : y0 + ch, x0 : x0 + cw]
    ref = np.stack([cv2.cvtColor(cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA),
                                 cv2.COLOR_BGR2RGB) for f in src])
    assert np.array_equal(frames.permute(0, 2, 3, 1).numpy(), ref)


def test_grayscale_channel(tmp_path):
    train, _ = build_datasets(make_args(tmp_path, num_channels=1, image_h=32, image_w=32))
    frames = train[0]["frames"]
    assert frames.shape == (4, 1, 32, 32)
    small = cv2.resize(decode_all(FIXTURE)[0][:, 28:100], (32, 32), interpolation=cv2.INTER_AREA)
    ref = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(frames[0, 0].numpy(), ref)


def test_demo_video_generated_and_windows_read_memmap(tmp_path):
    args = make_args(tmp_path, video_data_path=str(tmp_path / "demo_video_data_dir"), image_h=32, image_w=48)
    train, val = build_datasets(args)
    videos = video_cache.find_videos(tmp_path / "demo_video_data_dir")
    assert len(videos) == 1
    assert len(decode_all(videos[0])) >= 120
    assert len(train) > 0 and len(val) > 0
    mm = train._video(0)
    assert isinstance(mm, np.memmap) and mm.shape[1:] == (32, 48, 3)
    assert mm.std() > 10  # textured, not blank
    for i in (0, len(train) - 1):
        s = int(train.starts[i])
        assert np.array_equal(train[i]["frames"].permute(0, 2, 3, 1).numpy(), mm[s : s + 4])
    # a second build finds the video and does not write a new one
    mtime = videos[0].stat().st_mtime_ns
    build_datasets(args)
    assert video_cache.find_videos(tmp_path / "demo_video_data_dir") == videos
    assert videos[0].stat().st_mtime_ns == mtime


def test_demo_video_moves_and_is_deterministic(tmp_path):
    a = decode_all(make_demo_video(tmp_path / "a.mp4", 6, 32, 24, seed=3))
    b = decode_all(make_demo_video(tmp_path / "b.mp4", 6, 32, 24, seed=3))
    assert a.shape == (6, 24, 32, 3)
    assert np.array_equal(a, b)
    assert np.abs(a[5].astype(int) - a[0].astype(int)).mean() > 2


def test_windows_never_cross_videos(tmp_path):
    folder = tmp_path / "clips"
    make_demo_video(folder / "a.mp4", 10, 32, 32, seed=1)
    make_demo_video(folder / "nested" / "b.avi", 7, 32, 32, seed=2)
    (folder / "notes.txt").write_text("not a video")
    args = make_args(tmp_path, video_data_path=str(folder), image_h=32, image_w=32, num_input_frames=2,
                     frame_skip=2, validation_split_fraction=0.0)
    train, _ = build_datasets(args)
    span = 2 * 2 + 1
    assert len(train.cache_files) == 2
    assert len(train) == (10 - span + 1) + (7 - span + 1)
    counts = [video_cache.frame_count(Path(f), 32, 32, 3) for f in train.cache_files]
    assert counts == [10, 7]
    assert all(int(s) + span <= counts[int(v)] for v, s in zip(train.video_ids, train.starts, strict=True))
    last = train[len(train) - 1]["frames"].permute(0, 2, 3, 1).numpy()
    assert np.array_equal(last, train._video(1)[2:7:2])


def test_split_guard_band_and_determinism():
    lengths = [120, 3, 60, 7, 90]  # short videos: fewer windows than the guard band is wide
    vids = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    starts = np.concatenate([np.arange(n) for n in lengths])
    span = 5
    train, val = split_windows(vids, starts, span, 0.2, 10, seed=11)
    assert val.sum() >= 0.2 * len(vids) - 10 and train.any()
    assert not (train & val).any()
    for t in range(len(vids)):
        same = np.flatnonzero(val & (vids == vids[t]))
        # a window is training exactly when no validation window of its video is within one span
        assert train[t] == (not val[t] and (np.abs(starts[same] - starts[t]) >= span).all())
    again = split_windows(vids, starts, span, 0.2, 10, seed=11)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], val)
    other = split_windows(vids, starts, span, 0.2, 10, seed=12)
    assert not np.array_equal(other[1], val)


def test_val_split_shares_no_frame_and_is_rank_independent(tmp_path):
    args = make_args(tmp_path, frame_skip=2, val_block_size=8, validation_split_fraction=0.25)
    train0, val0 = build_datasets(args, rank=0, world_size=2)
    train1, val1 = build_datasets(args, rank=1, world_size=2)
    assert len(val0) > 0 and len(train0) > 0
    train_frames = set().union(*(frames_of(train0, i) for i in range(len(train0))))
    val_frames = set().union(*(frames_of(val0, i) for i in range(len(val0))))
    assert not train_frames & val_frames
    for a, b in ((train0, train1), (val0, val1)):
        assert np.array_equal(a.starts, b.starts) and np.array_equal(a.video_ids, b.video_ids)


def test_barrier_order(tmp_path):
    calls = []
    args = make_args(tmp_path, validation_video_path=str(FIXTURE_VAL))
    cache = tmp_path / "cache"
    build_datasets(args, rank=0, world_size=2, flow="dis",
                   barrier=lambda: calls.append(sorted(p.suffix for p in cache.iterdir())))
    # rank 0 reaches the barrier with both frame caches, their flow files (the generator's flow prior reads
    # them) and their scene-cut series written
    assert calls == [[".f16", ".f16", ".npy", ".npy", ".u8", ".u8"]]
    other = []
    build_datasets(args, rank=1, world_size=2, flow="dis", barrier=lambda: other.append("wait"))
    assert other == ["wait"]
    failed = []
    with pytest.raises(DataError):
        build_datasets(make_args(tmp_path, video_data_path=str(tmp_path / "missing")), rank=0, world_size=2,
                       barrier=lambda: failed.append("wait"))
    assert failed == ["wait"]  # a failing rank 0 still releases the ranks waiting for it


def test_pickle_is_small_and_roundtrips(tmp_path):
    train, _ = build_datasets(make_args(tmp_path))
    before = train[3]
    blob = pickle.dumps(train)
    assert len(blob) < 10_000
    clone = pickle.loads(blob)
    assert clone._maps == {}
    after = clone[3]
    assert torch.equal(before["frames"], after["frames"]) and after["index"] == 3


def test_cache_reused_and_invalidated_by_file_change(tmp_path, monkeypatch):
    video = tmp_path / "v.mp4"
    video.write_bytes(FIXTURE.read_bytes())
    args = make_args(tmp_path, video_data_path=str(video), validation_split_fraction=0.0)
    first, _ = build_datasets(args)
    cache = Path(first.cache_files[0])
    stamp = cache.stat().st_mtime_ns

    def no_decode(*_a, **_k):
        raise AssertionError("cache should have been reused")

    with monkeypatch.context() as m:
        m.setattr(video_cache, "_decode_into", no_decode)
        second, _ = build_datasets(args)
    assert second.cache_files == first.cache_files and cache.stat().st_mtime_ns == stamp
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third, _ = build_datasets(args)
    assert third.cache_files != first.cache_files
    assert torch.equal(third[0]["frames"], first[0]["frames"])
    assert not [p for p in (tmp_path / "cache").iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("skip", [1, 2])
def test_flow_items_are_each_windows_own_flow_read_from_the_cache(tmp_path, monkeypatch, skip):
    """The flow of every pair is computed once per video into a float16 file; a window's item carries
    exactly the flow of its own frames (as computing it per window would give), for any frame skip."""
    args = make_args(tmp_path, use_wubu_motion_branch=True, optical_flow_net_type="dis", image_h=32,
                     image_w=48, frame_skip=skip)
    train, val = build_datasets(args, flow="dis")
    for ds in (train, val):
        for i in (0, len(ds) // 2, len(ds) - 1):
            item = ds[i]
            frames = np.ascontiguousarray(item["frames"].permute(0, 2, 3, 1).numpy())  # (T, H, W, C)
            assert item["flow"].shape == (3, 2, 32, 48) and item["flow"].dtype == torch.float32
            expected = flow.opencv_flow(frames, "dis")
            np.testing.assert_allclose(item["flow"].numpy(), expected, atol=0.01, rtol=1e-3)  # float16
    files = [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".f16"]
    assert len(files) == 1 and f"-k{skip}-" in files[0].name
    # a second build finds the complete file and computes nothing
    monkeypatch.setattr(flow, "opencv_flow", lambda *a: pytest.fail("the flow cache was recomputed"))
    again, _ = build_datasets(args, flow="dis")
    assert torch.equal(again[0]["flow"], train[0]["flow"])
    no_flow, _ = build_datasets(args)  # a RAFT motion branch: the model estimates flow itself
    assert "flow" not in no_flow[0]


def test_dataloader_batches_and_workers(tmp_path):
    args = make_args(tmp_path, image_h=32, image_w=32, validation_split_fraction=0.0, num_workers=1)
    train, _ = build_datasets(args)
    loader = build_dataloader(train, args, shuffle=True, drop_last=True)
    assert loader.persistent_workers and loader.pin_memory == torch.cuda.is_available()
    batch = next(iter(loader))
    assert batch["frames"].shape == (2, 4, 3, 32, 32) and batch["frames"].dtype == torch.uint8
    ref = torch.stack([train[int(i)]["frames"] for i in batch["index"]])
    assert torch.equal(batch["frames"], ref)
    clip = frames_to_model(batch["frames"])
    assert clip.dtype == torch.float32 and clip.min() >= -1 and clip.max() <= 1
    serial = build_dataloader(train, make_args(tmp_path, num_workers=0), shuffle=False)
    assert not serial.persistent_workers


def test_frames_to_model_endpoints():
    x = torch.tensor([0, 255, 128], dtype=torch.uint8)
    torch.testing.assert_close(frames_to_model(x), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]))


def test_error_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist.*--video_data_path"):
        build_datasets(make_args(tmp_path, video_data_path=str(tmp_path / "nothing.mp4")))


def test_error_corrupt_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="bad.mp4"):
        build_datasets(make_args(tmp_path, video_data_path=str(bad)))
    assert not list((tmp_path / "cache").glob("*"))


def test_error_too_short_video(tmp_path):
    short = make_demo_video(tmp_path / "short.mp4", 3, 32, 32, seed=0)
    with pytest.raises(DataError, match="too short.*3 frames.*needs 4"):
        build_datasets(make_args(tmp_path, video_data_path=str(short), image_h=32, image_w=32))


def test_error_validation_path_missing(tmp_path):
    args = make_args(tmp_path, validation_video_path=str(tmp_path / "val_missing"))
    with pytest.raises(DataError, match="--validation_video_path"):
        build_datasets(args)


def test_error_channels_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="--num_channels"):
        build_datasets(make_args(tmp_path, num_channels=4))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no video files"):
        build_datasets(make_args(tmp_path, video_data_path=str(tmp_path / "empty")))


def test_error_split_impossible(tmp_path):
    short = make_demo_video(tmp_path / "s.mp4", 6, 32, 32, seed=0)
    args = make_args(tmp_path, video_data_path=str(short), image_h=32, image_w=32)
    with pytest.raises(DataError, match="--validation_split_fraction"):
        build_datasets(args)


def test_module_exports():
    assert data.make_demo_video is make_demo_video and data.DataError is video_cache.DataError


def reads(**overrides):
    """The flow reads of the parser's defaults (the generator type resolved as the parser does)."""
    return flow_reads(defaults(**{"generator_type": "spatial", **overrides}))


@pytest.mark.parametrize("overrides, method", [
    ({}, "dis"),  # the default: the spatial generator's flow prior
    ({"gen_flow_prior": "farneback"}, "farneback"),
    ({"gen_flow_prior": "none"}, None),
    ({"gen_use_warp": False}, None),  # nothing to start a warp
    ({"num_input_frames": 1}, None),  # no context pair
    ({"generator_type": "global"}, None),
    # one flow for both
    ({"use_wubu_motion_branch": True, "optical_flow_net_type": "farneback"}, "farneback"),
    ({"use_wubu_motion_branch": True, "optical_flow_net_type": "raft_small"}, None),  # RAFT runs in the model
])
def test_the_loader_computes_flow_only_when_something_reads_it(overrides, method):
    assert reads(**overrides).loader_method == method


@pytest.mark.parametrize("overrides, pairs", [
    ({}, (1,)),  # 3 context + 1 target frames: pair I−2 = 1, which a time reversal maps onto itself
    ({"num_input_frames": 4, "num_predict_frames": 4}, (2, 4)),
    ({"num_input_frames": 4, "num_predict_frames": 2}, (2,)),  # reversal maps pair 2 onto itself
    ({"use_wubu_motion_branch": True, "optical_flow_net_type": "dis"}, None),  # the branch reads all
])
def test_loader_flow_pairs_name_the_pairs_a_clip_is_read_at(overrides, pairs):
    assert reads(**overrides).loader_pairs == pairs


@pytest.mark.parametrize("overrides", [
    {}, {"gen_flow_prior": "none"}, {"num_input_frames": 1}, {"gen_use_warp": False},
    {"use_wubu_motion_branch": True, "optical_flow_net_type": "dis"},
])
def test_the_generator_reads_the_flow_the_loader_is_asked_for(overrides):
    """The generator's own flags come from the same answer as the loader's: one owner."""
    settings = defaults(**{"generator_type": "spatial", **overrides})
    model, _ = build(settings)
    answer = flow_reads(settings)
    assert model.generator.use_flow_prior == answer.generator_prior
    assert model.generator.use_flow_input == answer.generator_input
    assert (answer.loader_method is not None) == answer.generator_input


def test_opencv_flow_computes_the_pairs_asked_for_and_marks_the_rest_not_computed():
    texture = np.random.default_rng(4).integers(0, 256, (32, 32, 1), dtype=np.uint8)
    frames = np.stack([np.roll(texture, t, axis=1) for t in range(5)])  # (5, 32, 32, 1), moving right
    full = flow.opencv_flow(frames)
    some = flow.opencv_flow(frames, pairs=(1, 3))
    np.testing.assert_array_equal(some[[1, 3]], full[[1, 3]])
    assert np.isnan(some[[0, 2]]).all() and np.isfinite(full).all()
    with pytest.raises(ValueError, match="outside 0..3"):
        flow.opencv_flow(frames, pairs=(4,))
