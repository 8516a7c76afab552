"""Moving-object sequences from idx files: reading, the recipe, the fixed test set, epoch keys, wiring.

Every test writes its own tiny idx files, so no system package is needed.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_trainer import _assert_resume_equivalent, fake_build, read_metrics
from torch.utils.data import DataLoader, default_collate
from wubugaad.data import moving_objects as mo
from wubugaad.data.augment import Choices, apply_choices
from wubugaad.data.datasets import frames_to_model
from wubugaad.data.video_cache import DataError
from wubugaad.model import vaegan
from wubugaad.train import config, distributed, session
from wubugaad.train.validation import prepare_batch

SIDE = 28


def write_idx(path: Path, images: np.ndarray, compress: bool = True) -> Path:
    header = np.array([mo.IDX_IMAGE_MAGIC, *images.shape], dtype=">u4").tobytes()
    raw = header + images.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def textured(n: int, seed: int) -> np.ndarray:
    """n distinct 28 × 28 objects with a black margin, like the real images."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    images[:, 4:24, 4:24] = rng.integers(1, 256, size=(n, 20, 20))
    return images


def make_source(tmp_path: Path, train: np.ndarray | None = None, test: np.ndarray | None = None) -> Path:
    folder = tmp_path / "idx"
    folder.mkdir(exist_ok=True)
    write_idx(folder / mo.IMAGE_FILES["train"], textured(7, 1) if train is None else train)
    write_idx(folder / mo.IMAGE_FILES["test"], textured(5, 2) if test is None else test, compress=False)
    return folder


def make_cfg(tmp_path: Path, **overrides) -> mo.MovingObjectsConfig:
    base = mo.MovingObjectsConfig(name="moving_fmnist", path=str(make_source(tmp_path)), frames=20,
                                  train_sequences=12, test_sequences=6, seed=3,
                                  cache_dir=str(tmp_path / "cache"))
    return replace(base, **overrides)


def test_idx_roundtrip_gz_and_plain(tmp_path):
    images = textured(3, 0)
    for compress in (True, False):
        path = write_idx(tmp_path / f"x{compress}", images, compress)
        np.testing.assert_array_equal(mo.read_idx_images(path), images)


def test_bad_idx_files_are_one_clear_error(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 12)
    with pytest.raises(DataError, match="not an idx3-ubyte"):
        mo.read_idx_images(bad)
    short = write_idx(tmp_path / "short", textured(2, 0), compress=False)
    short.write_bytes(short.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        mo.read_idx_images(short)


def test_missing_folder_names_the_package_and_the_flag(tmp_path, monkeypatch):
    monkeypatch.setitem(mo.SOURCES, "moving_fmnist", (str(tmp_path / "absent"), "dataset-fashion-mnist"))
    message = mo.source_problem("moving_fmnist", None)
    assert "apt-get install dataset-fashion-mnist" in message and "--mnist_path" in message
    assert "apt-get" not in mo.source_problem("moving_fmnist", str(tmp_path / "nowhere"))
    assert "--mnist_path" in mo.source_problem("moving_mnist", None)
    assert mo.source_problem("moving_mnist", str(make_source(tmp_path))) is None
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        mo.build_datasets(mo.MovingObjectsConfig(cache_dir=str(tmp_path / "cache")))


def test_parser_rejects_a_missing_idx_folder_with_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        config.parse_args(["--dataset", "moving_fmnist", "--mnist_path", str(tmp_path / "none")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--mnist_path" in err and "t10k-images-idx3-ubyte" in err
    folder = str(make_source(tmp_path))
    with pytest.raises(SystemExit):
        config.parse_args(["--dataset", "moving_mnist", "--mnist_path", folder, "--frame_skip", "2"])
    args = config.parse_args(["--dataset", "moving_mnist", "--mnist_path", folder])
    assert config.moving_objects_config(args).folder == folder


def test_items_shape_range_and_grey_replication(tmp_path):
    cfg = make_cfg(tmp_path, channels=3)
    train, test = mo.build_datasets(cfg)
    for item in (train[(2, 4)], test[1]):
        frames = item["frames"]
        assert frames.shape == (20, 3, 64, 64) and frames.dtype == torch.uint8
        assert torch.equal(frames[:, 0], frames[:, 1]) and torch.equal(frames[:, 0], frames[:, 2])
        clip = frames_to_model(frames)
        assert clip.min() >= -1 and clip.max() <= 1 and clip.max() > 0
    assert len(train) == 12 and len(test) == 6


def test_reflection_keeps_whole_objects_inside_at_3_6_px_per_frame(tmp_path):
    white = np.full((4, SIDE, SIDE), 255, dtype=np.uint8)
    folder = make_source(tmp_path, train=white, test=white)
    cfg = make_cfg(tmp_path, path=str(folder), num_objects=1, frames=40)
    seqs = mo.generate(white, cfg, mo.STREAM_TRAIN, 0, 0, np.arange(200))  # (200, 40, 64, 64)
    assert ((seqs > 0).sum(axis=(2, 3)) == SIDE * SIDE).all()  # never clipped by a border
    rows = np.argmax(seqs.max(axis=3) > 0, axis=2)                # top edge per frame
    cols = np.argmax(seqs.max(axis=2) > 0, axis=2)
    step = np.hypot(np.diff(rows, axis=1), np.diff(cols, axis=1))
    assert step.max() <= 3.6 + np.sqrt(2) + 1e-9                 # int() truncation adds < 1 px per axis
    assert abs(np.median(step) - 3.6) < 0.6


def test_trajectory_bounces_off_the_border():
    pos = mo.trajectories(np.array([[0.5, 0.95]]), np.array([0.0]), 4)[0]  # moving +x
    np.testing.assert_allclose(pos[:, 1], [1.0, 0.9, 0.8, 0.7])
    np.testing.assert_allclose(pos[:, 0], [0.5, 0.5, 0.5, 0.5])
    pos = mo.trajectories(np.array([[0.02, 0.5]]), np.array([-np.pi / 2]), 2)[0]  # moving −y
    np.testing.assert_allclose(pos[:, 0], [0.0, 0.1], atol=1e-12)


def test_objects_composite_by_maximum():
    images = np.stack([np.full((SIDE, SIDE), 100, np.uint8), np.full((SIDE, SIDE), 200, np.uint8)])
    offsets = np.array([[[[0, 0]], [[10, 10]]]])  # (S=1, K=2, T=1, 2)
    canvas = mo.render(images, np.array([[0, 1]]), offsets, 64, 64)[0, 0]
    assert canvas[5, 5] == 100 and canvas[15, 15] == 200 and canvas[30, 30] == 200 and canvas[50, 50] == 0
    canvas = mo.render(images, np.array([[1, 0]]), offsets, 64, 64)[0, 0]
    assert canvas[15, 15] == 200 and canvas[30, 30] == 100


def test_training_sequences_are_keyed_by_epoch_and_index(tmp_path):
    train, _ = mo.build_datasets(make_cfg(tmp_path))
    a, b = train[(0, 3)]["frames"], train[(0, 3)]["frames"]
    assert torch.equal(a, b) and torch.equal(train[3]["frames"], a)
    assert not torch.equal(train[(1, 3)]["frames"], a)   # fresh every epoch
    assert not torch.equal(train[(0, 4)]["frames"], a)
    batch = train.__getitems__([(1, 3), (0, 3), (1, 5)])  # one vectorised call per epoch, order kept
    assert torch.equal(batch[1]["frames"], a) and torch.equal(batch[2]["frames"], train[(1, 5)]["frames"])
    other_seed, _ = mo.build_datasets(replace(train.cfg, seed=4))
    assert not torch.equal(other_seed[(0, 3)]["frames"], a)
    clone = pickle.loads(pickle.dumps(train))
    assert clone._images is None and torch.equal(clone[(0, 3)]["frames"], a)


def test_uniforms_are_uniform_and_stream_separated():
    u = mo.uniforms(1, 42, 0, np.arange(20000), 4)
    assert u.shape == (20000, 4) and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01 and abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.03
    assert not np.array_equal(u, mo.uniforms(2, 42, 0, np.arange(20000), 4))


def test_fixed_test_set_is_deterministic_cached_atomically_and_a_prefix(tmp_path):
    cfg = make_cfg(tmp_path)
    path = mo.ensure_test_set(cfg)
    first = np.load(path).copy()
    assert first.shape == (6, 20, 64, 64) and first.dtype == np.uint8
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left behind
    mtime = path.stat().st_mtime_ns
    assert mo.ensure_test_set(cfg) == path and path.stat().st_mtime_ns == mtime  # reused
    path.unlink()
    np.testing.assert_array_equal(np.load(mo.ensure_test_set(cfg)), first)  # regenerated identically
    bigger = np.load(mo.ensure_test_set(replace(cfg, test_sequences=9)))
    np.testing.assert_array_equal(bigger[:6], first)
    # training seed and test set are independent: seed 0 for the test set whatever --seed says
    np.testing.assert_array_equal(np.load(mo.ensure_test_set(replace(cfg, seed=99))), first)
    test = mo.MovingObjectsTest(path, 1)
    assert torch.equal(test[2]["frames"][:, 0], torch.from_numpy(first[2]))


def test_canvas_too_small_is_an_error(tmp_path):
    with pytest.raises(DataError, match="--image_h"):
        mo.build_datasets(make_cfg(tmp_path, height=20, width=20))


def test_epoch_sampler_hands_out_epoch_keys():
    sampler = session.EpochSampler(10, rank=1, world=2, seed=0, with_epoch=True)
    sampler.set_epoch(3, skip=1)
    keys = list(sampler)
    assert len(keys) == len(sampler) == 4 and all(k[0] == 3 for k in keys)
    plain = session.EpochSampler(10, rank=1, world=2, seed=0)
    plain.set_epoch(3, skip=1)
    assert [k[1] for k in keys] == list(plain)


def test_session_loaders_dispatch_on_dataset(tmp_path):
    folder = make_source(tmp_path)
    args = config.parse_args(["--dataset", "moving_fmnist", "--mnist_path", str(folder),
                              "--num_input_frames", "10", "--num_predict_frames", "10", "--num_channels", "1",
                              "--moving_train_sequences", "8", "--moving_test_sequences", "5",
                              "--cache_dir", str(tmp_path / "cache"), "--num_workers", "0",
                              "--batch_size", "4", "--val_max_clips", "3"])
    info = distributed.DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    train_loader, sampler, val_loader, sample_batch = session._loaders(args, info)
    sampler.set_epoch(1)
    batches = list(train_loader)
    assert len(batches) == 2 and batches[0]["frames"].shape == (4, 20, 1, 64, 64)
    sampler.set_epoch(1)
    assert torch.equal(next(iter(train_loader))["frames"], batches[0]["frames"])  # resumable
    sampler.set_epoch(2)
    assert not torch.equal(next(iter(train_loader))["frames"], batches[0]["frames"])
    assert sum(b["frames"].shape[0] for b in val_loader) == 3
    assert sample_batch["frames"].shape[1:] == (20, 1, 64, 64)


def test_training_batches_with_worker_processes(tmp_path):
    train, _ = mo.build_datasets(make_cfg(tmp_path))
    sampler = session.EpochSampler(len(train), 0, 1, seed=0, with_epoch=True)
    loader = DataLoader(train, batch_size=4, sampler=sampler, num_workers=1)
    batches = list(loader)
    assert [b["frames"].shape[0] for b in batches] == [4, 4, 4]
    keys = list(sampler)
    assert torch.equal(batches[0]["frames"][1], train[keys[1]]["frames"])


def test_training_resumes_exactly_and_logs_bench_metrics_per_step(tmp_path, monkeypatch):
    monkeypatch.setattr(session.model_lib, "build", fake_build)
    extra = ("--dataset", "moving_fmnist", "--mnist_path", str(make_source(tmp_path)), "--image_h", "32",
             "--image_w", "32", "--num_channels", "1", "--num_input_frames", "2", "--num_predict_frames", "2",
             "--moving_train_sequences", "6", "--moving_test_sequences", "3")
    _assert_resume_equivalent(tmp_path, extra, steps=4)  # 3 batches per epoch: the resume crosses an epoch
    records = [r for r in read_metrics(tmp_path / "full") if "val/bench_mse" in r]
    assert records and {"val/bench_mse_t2", "val/copy_last_bench_mae_t1"} <= set(records[-1])
    assert "val/bench_mse_t3" not in records[-1]


def test_items_carry_the_loaders_flow_when_the_generator_reads_it(tmp_path):
    cfg = make_cfg(tmp_path, frames=6, flow="dis")
    train, test = mo.build_datasets(cfg)
    for item in (train[(0, 1)], test[0]):
        assert item["flow"].shape == (5, 2, 64, 64) and item["flow"].dtype == torch.float32
    args = config.parse_args(["--dataset", "moving_fmnist", "--mnist_path", cfg.path, "--num_channels", "1",
                              "--image_h", "64", "--image_w", "64"])
    assert config.moving_objects_config(args).flow == "dis"
    args.gen_flow_prior = "none"
    assert config.moving_objects_config(args).flow is None


def test_items_compute_only_the_pairs_the_model_reads(tmp_path):
    """Fresh sequences carry the flow of the pairs the generator's prior reads (pair I−2, and T−I that time
    reversal turns into it), the others NaN (not computed): the model's output, reversed or not, in training
    and prediction, is exactly the one it gives with every pair computed."""
    args = config.parse_args(["--dataset", "moving_fmnist", "--mnist_path", str(make_source(tmp_path)),
                              "--num_channels", "1", "--image_h", "32", "--image_w", "32",
                              "--num_input_frames", "4", "--num_predict_frames", "4",
                              "--cache_dir", str(tmp_path / "cache")])
    cfg = config.moving_objects_config(args)
    assert cfg.flow == "dis" and cfg.flow_pairs == (2, 4)
    keys, choices = [(0, 0), (0, 1)], Choices({"time_reverse": torch.tensor([True, False])}, None)
    torch.manual_seed(0)
    model, _ = vaegan.build(args, pretrained_flow=False)
    outputs = []
    for pairs in (cfg.flow_pairs, None):
        train, test = mo.build_datasets(replace(cfg, flow_pairs=pairs))
        batch = default_collate(train.__getitems__(keys))
        assert torch.isnan(batch["flow"][:, [0, 1, 3, 5, 6]]).all() == (pairs is not None)
        assert torch.isfinite(batch["flow"][:, [2, 4]]).all() and torch.isfinite(test[0]["flow"][2]).all()
        clip, flow = apply_choices(*prepare_batch(batch, torch.device("cpu")), choices)
        with torch.no_grad():
            for mode in ("train", "predict"):
                torch.manual_seed(1)
                outputs.append(model(clip, mode=mode, flow=flow).prediction)
    for partial, full in zip(outputs[:2], outputs[2:], strict=True):
        torch.testing.assert_close(partial, full, rtol=0, atol=0)
    args.use_wubu_motion_branch, args.optical_flow_net_type = True, "dis"
    assert config.moving_objects_config(args).flow_pairs is None  # the motion branch reads every pair


def test_stochastic_source_turns_at_bounces_and_otherwise_follows_the_deterministic_recipe(tmp_path):
    """Same keys, same objects and starts; the paths agree until the first bounce, then the stochastic one
    leaves the border in a direction pointing away from it, at the same speed, and differs from the mirror
    reflection; positions stay inside [0, 1]."""
    det = make_cfg(tmp_path)
    sto = replace(det, name="stochastic_moving_fmnist")
    index = np.arange(64)
    p_det = mo._positions(mo._draws(det, mo.STREAM_TRAIN, 3, 0, index), det.frames)  # (S, K, T, 2)
    p_sto = mo._positions(mo._draws(sto, mo.STREAM_TRAIN, 3, 0, index), sto.frames)
    assert p_sto.min() >= 0.0 and p_sto.max() <= 1.0
    hit = ((p_det <= 0.0) | (p_det >= 1.0)).any(axis=-1)  # (S, K, T)
    first = np.where(hit.any(axis=-1), hit.argmax(axis=-1), det.frames)  # first bounce per object
    t = np.arange(det.frames)
    before = t[None, None, :] <= first[..., None]
    np.testing.assert_array_equal(p_sto[before], p_det[before])
    # the step after the first bounce: same speed where it did not hit again, new direction away from the
    # border, and not the deterministic mirror in general
    s, k = np.nonzero(first < det.frames - 1)
    f = first[s, k]
    step = p_sto[s, k, f + 1] - p_sto[s, k, f]
    free = (p_sto[s, k, f + 1] > 0.0).all(axis=-1) & (p_sto[s, k, f + 1] < 1.0).all(axis=-1)
    np.testing.assert_allclose(np.linalg.norm(step[free], axis=-1), mo.STEP_LENGTH, rtol=1e-9)
    at_low = p_sto[s, k, f] <= 0.0
    at_high = p_sto[s, k, f] >= 1.0
    assert (step[at_low] > 0).all() and (step[at_high] < 0).all()
    mirror = p_det[s, k, f + 1] - p_det[s, k, f]
    assert np.abs(step[free] - mirror[free]).max() > 0.05


def test_stochastic_sequences_are_keyed_and_their_test_set_is_its_own(tmp_path):
    sto = make_cfg(tmp_path, name="stochastic_moving_fmnist")
    images = mo._load_images(sto, "train")
    a = mo.generate(images, sto, mo.STREAM_TRAIN, 3, 1, np.arange(4))
    np.testing.assert_array_equal(a, mo.generate(images, sto, mo.STREAM_TRAIN, 3, 1, np.arange(4)))
    assert not np.array_equal(a, mo.generate(images, make_cfg(tmp_path), mo.STREAM_TRAIN, 3, 1, np.arange(4)))
    path = mo.ensure_test_set(sto)
    assert path.name.startswith("stochastic_moving_fmnist_test_")
    assert path != mo.ensure_test_set(make_cfg(tmp_path))
    args = config.parse_args(["--dataset", "stochastic_moving_fmnist", "--mnist_path", sto.path])
    assert args.dataset == "stochastic_moving_fmnist"
