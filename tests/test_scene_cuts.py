"""Scene cuts: detection (hard cut vs smooth pan), the stored series, windows that never cross a cut."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_data import FIXTURE, FIXTURE_VAL, decode_all, make_args
from wubugaad.data import datasets as data
from wubugaad.data import scene_cuts, video_cache
from wubugaad.data.datasets import DataError, build_datasets
from wubugaad.train import config


def texture(seed: int, size: int) -> np.ndarray:
    """A smooth random RGB texture (size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 3.0)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def pan(seed: int, frames: int, speed: float, size: int = 64, start: int = 0) -> np.ndarray:
    """``frames`` views of a large texture, the window moving ``speed`` px per frame from ``start`` on."""
    big = texture(seed, size * 4)
    out = []
    for t in range(frames):
        x = speed * max(t - start, 0)
        m = np.float32([[1, 0, x], [0, 1, 0.5 * x]])
        out.append(cv2.warpAffine(big, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return np.stack(out)  # (T, size, size, 3) RGB


def write_video(path: Path, frames_rgb: np.ndarray) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, frames_rgb.shape[2:0:-1])
    for f in frames_rgb:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def brute_force_starts(n: int, span: int, cuts) -> list[int]:
    """Windows by the definition: frames s … s+span−1 all in one shot."""
    shot = np.cumsum(np.isin(np.arange(n), cuts))  # shot index of every frame
    return [s for s in range(n - span + 1) if shot[s] == shot[s + span - 1]]


def test_hard_cut_found_smooth_and_sudden_pans_are_not():
    video = np.concatenate([pan(1, 30, 2.0), pan(2, 30, 1.0)])  # a cut at frame 30, both halves panning
    series = scene_cuts.difference_series(video)
    assert series.shape == (59,)
    assert scene_cuts.cut_starts(series, scene_cuts.DEFAULT_THRESHOLD).tolist() == [30]
    # a fast pan that starts suddenly (static for 20 frames, then 4 px/frame) is motion, not a cut
    sudden = scene_cuts.difference_series(pan(3, 50, 4.0, start=20))
    assert sudden[20] > 10 * max(sudden[19], 0.1)  # the statistic does jump where the pan starts
    assert scene_cuts.cut_starts(sudden, scene_cuts.DEFAULT_THRESHOLD).size == 0
    assert scene_cuts.cut_starts(series, 0).size == 0  # 0 disables


def test_two_frame_and_one_frame_videos():
    a, b = texture(1, 32)[None], texture(2, 32)[None]
    assert scene_cuts.cut_starts(scene_cuts.difference_series(np.concatenate([a, b])), 3.0).tolist() == [1]
    assert scene_cuts.difference_series(a).shape == (0,)
    assert scene_cuts.cut_starts(np.zeros(0, np.float32), 3.0).size == 0


def test_series_is_chunk_independent_and_grey_works(monkeypatch):
    video = np.concatenate([pan(1, 12, 2.0, size=40), pan(2, 9, 1.0, size=40)])
    whole = scene_cuts.difference_series(video)
    monkeypatch.setattr(scene_cuts, "CHUNK_FRAMES", 4)
    np.testing.assert_allclose(scene_cuts.difference_series(video), whole, rtol=1e-6)
    grey = scene_cuts.thumbnails(video[..., :1])
    assert grey.shape == (21, 40 // 2, 40 // 2)


@pytest.mark.parametrize("n,span,cuts", [(20, 4, [10]), (20, 4, [10, 12]), (20, 4, [1, 19]), (7, 7, [3]),
                                         (30, 5, [5, 6, 7, 20]), (9, 3, [])])
def test_window_count_arithmetic(n, span, cuts):
    starts = scene_cuts.window_starts(n, span, np.array(cuts, np.int64))
    assert starts.tolist() == brute_force_starts(n, span, cuts)


def test_window_count_for_a_cut_far_from_others():
    # each cut with a long shot on both sides removes exactly span − 1 windows
    starts = scene_cuts.window_starts(100, 6, np.array([40]))
    assert len(starts) == (100 - 6 + 1) - 5
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, span = int(rng.integers(5, 60)), int(rng.integers(1, 8))
        cuts = np.unique(rng.integers(1, n, size=int(rng.integers(0, 5))))
        assert scene_cuts.window_starts(n, span, cuts).tolist() == brute_force_starts(n, span, cuts)


def test_windows_never_cross_a_cut_end_to_end(tmp_path, capsys):
    video = write_video(tmp_path / "cut.mp4", np.concatenate([pan(1, 30, 2.0), pan(2, 30, 1.0)]))
    args = make_args(tmp_path, video_data_path=str(video), validation_split_fraction=0.0, frame_skip=2)
    train, _ = build_datasets(args)
    span = 3 * 2 + 1
    assert len(train) == 2 * (30 - span + 1)
    assert all(s + span <= 30 or s >= 30 for s in train.starts.tolist())
    assert train.notes == ["scene cuts in training data (--scene_cut_threshold 3): 1 found in 1 of 1 videos; "
                           f"{span - 1} of {60 - span + 1} windows dropped"]
    off, _ = build_datasets(make_args(tmp_path, video_data_path=str(video), validation_split_fraction=0.0,
                                      frame_skip=2, scene_cut_threshold=0.0))
    assert len(off) == 60 - span + 1 and off.notes == []


def test_fixture_has_no_cut_and_a_spliced_fixture_has_one(tmp_path):
    """The Big Buck Bunny excerpts are single shots (no cut at the default threshold); splicing the excerpt
    with its mirror image makes one hard cut, found exactly where it is."""
    for video in (FIXTURE, FIXTURE_VAL):
        train, _ = build_datasets(make_args(tmp_path, video_data_path=str(video),
                                            validation_split_fraction=0.0))
        assert train.notes[0].endswith(f"0 found in 0 of 1 videos; 0 of {len(train)} windows dropped")
    src = decode_all(FIXTURE)[..., ::-1]  # BGR -> RGB
    spliced = write_video(tmp_path / "spliced.mp4", np.concatenate([src, src[:, :, ::-1]]))
    train, _ = build_datasets(make_args(tmp_path, video_data_path=str(spliced), validation_split_fraction=0))
    assert len(train) == 2 * (72 - 4 + 1)
    cache = train.cache_files[0]
    series = np.load(scene_cuts.series_path(cache))
    assert scene_cuts.cut_starts(series, 3.0).tolist() == [72]


def test_series_stored_once_and_reused_across_thresholds(tmp_path, monkeypatch):
    args = make_args(tmp_path, validation_split_fraction=0.0)
    first, _ = build_datasets(args)
    stored = scene_cuts.series_path(first.cache_files[0])
    assert stored.is_file()
    stamp = stored.stat().st_mtime_ns

    def no_compute(*_a, **_k):
        raise AssertionError("the stored series should have been reused")

    with monkeypatch.context() as m:
        m.setattr(scene_cuts, "difference_series", no_compute)
        m.setattr(video_cache, "_decode_into", no_compute)
        for threshold in (3.0, 1.2, 10.0):
            build_datasets(make_args(tmp_path, validation_split_fraction=0.0, scene_cut_threshold=threshold))
    assert stored.stat().st_mtime_ns == stamp
    assert not [p for p in (tmp_path / "cache").iterdir() if ".tmp-" in p.name]


def test_detection_off_computes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(scene_cuts, "difference_series", lambda *_: pytest.fail("computed while off"))
    build_datasets(make_args(tmp_path, scene_cut_threshold=0.0))
    assert not list((tmp_path / "cache").glob("*.npy"))


def test_new_statistic_version_or_damaged_file_recomputes(tmp_path, monkeypatch):
    args = make_args(tmp_path, validation_split_fraction=0.0)
    first, _ = build_datasets(args)
    old = scene_cuts.series_path(first.cache_files[0])
    expected = np.load(old)
    old.write_bytes(b"not a numpy file")
    build_datasets(args)
    np.testing.assert_array_equal(np.load(old), expected)
    monkeypatch.setattr(scene_cuts, "STAT_VERSION", scene_cuts.STAT_VERSION + 1)
    build_datasets(args)
    new = scene_cuts.series_path(first.cache_files[0])
    assert new != old and new.is_file()
    np.testing.assert_array_equal(np.load(new), expected)


def test_every_window_across_a_cut_is_an_error(tmp_path):
    # 3 + 3 frames with a cut at 3: no window of 4 frames fits in one shot
    video = write_video(tmp_path / "two_shots.mp4", np.concatenate([pan(1, 3, 1.0), pan(2, 3, 1.0)]))
    args = make_args(tmp_path, video_data_path=str(video), validation_split_fraction=0.0)
    with pytest.raises(DataError, match="crosses a scene cut.*--scene_cut_threshold"):
        build_datasets(args)


def test_validation_video_windows_avoid_cuts_too(tmp_path):
    video = write_video(tmp_path / "val_cut.mp4", np.concatenate([pan(4, 20, 1.0), pan(5, 20, 1.0)]))
    _, val = build_datasets(make_args(tmp_path, validation_video_path=str(video)))
    assert len(val) == 2 * (20 - 4 + 1)
    note = val.notes[0]
    assert note.startswith("scene cuts in validation data") and "3 of 37 windows dropped" in note


def test_flag_default_and_validation():
    assert config.parse_args([]).scene_cut_threshold == scene_cuts.DEFAULT_THRESHOLD
    assert data.scene_cuts is scene_cuts
    with pytest.raises(SystemExit):
        config.parse_args(["--scene_cut_threshold", "-1"])
