"""Damaged or odd files met at start-up: a checkpoint whose bytes changed after writing (checksum), a
checkpoint holding code, ``metrics.jsonl`` with an undecodable byte, a corrupt ``.gz`` idx file, orphaned
report temporaries, and a finished run resumed again.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_entry import VIDEO
from test_reliability import _damaged_copy
from test_trainer import fake_build, read_metrics, tiny_argv
from wubugaad import tempfiles
from wubugaad.data import moving_objects, scene_cuts, video_cache
from wubugaad.data.video_cache import DataError
from wubugaad.train import checkpoint, config, session, tracking, trainer
from wubugaad.train.checkpoint import CheckpointError, checkpoint_name, load_checkpoint


@pytest.fixture
def fake(monkeypatch):
    """The trainer tests' tiny fake model instead of the real one."""
    monkeypatch.setattr(session.model_lib, "build", fake_build)


MARKER = torch.full((256,), 1.5)  # a run of bytes easy to find in the file


def _flip_a_tensor_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(struct.pack("<f", 1.5) * 64)
    assert at > 0
    data[at + 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_a_checkpoint_are_refused_naming_the_newest_intact_one(tmp_path):
    older = checkpoint.save_checkpoint(tmp_path / checkpoint_name("step", step=2),
                                       {"format_version": 1, "step": 2, "w": MARKER.clone()})
    newer = checkpoint.save_checkpoint(tmp_path / checkpoint_name("last"),
                                       {"format_version": 1, "step": 4, "w": MARKER.clone()})
    assert load_checkpoint(newer)["step"] == 4  # written with a checksum that matches
    _flip_a_tensor_byte(newer)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(newer)
    message = str(caught.value)
    assert str(newer) in message and "corrupt" in message and str(older) in message
    assert "\n" not in message
    _flip_a_tensor_byte(older)
    with pytest.raises(CheckpointError, match="no intact checkpoint is left"):
        load_checkpoint(newer)


def test_checkpoints_written_before_checksums_still_load(tmp_path):
    path = tmp_path / checkpoint_name("last")
    torch.save({"format_version": 1, "step": 3, "w": MARKER.clone()}, path)
    assert load_checkpoint(path)["step"] == 3


def test_resume_auto_from_a_damaged_newest_checkpoint_is_refused(tmp_path, fake):
    argv = tiny_argv(tmp_path, "--max_steps", "4", "--save_interval", "2", "--val_interval", "100")
    assert trainer.run(config.parse_args(argv)) == 0
    last = tmp_path / "run" / checkpoint_name("last")
    payload = load_checkpoint(last)
    payload["model"]["dec.weight"] = payload["model"]["dec.weight"] + 1.0  # what a flipped bit would do
    torch.save(payload, last)  # keeps the old checksum: the contents no longer match it
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "6", "--load_checkpoint", "auto"))
    with pytest.raises(CheckpointError, match=r"corrupt.*newest intact checkpoint there is") as caught:
        trainer.setup(args)
    assert str(last) in str(caught.value)
    assert [r["step"] for r in read_metrics(tmp_path / "run") if "train/loss_g_total" in r] == [1, 2, 3, 4]


class _Code:
    """Unpickling this runs a function: what a malicious checkpoint holds."""

    def __reduce__(self):
        return (print, ("this ran",))


def test_a_checkpoint_holding_code_is_refused_without_torchs_advice_to_load_it_anyway(tmp_path, capsys):
    path = tmp_path / checkpoint_name("last")
    torch.save({"format_version": 1, "step": 1, "hook": _Code()}, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert str(path) in message and "could run code" in message and "print" in message
    assert "weights_only" not in message and "\n" not in message
    assert "this ran" not in capsys.readouterr().out


def test_an_undecodable_byte_in_metrics_jsonl_is_dropped_on_resume(tmp_path, fake):
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, "--max_steps", "2", "--save_interval", "2",
                                                   "--val_interval", "100"))) == 0
    metrics = tmp_path / "run" / "metrics.jsonl"
    with open(metrics, "ab") as fh:
        fh.write(b'{"step": 1, "train/loss_recon": 1.0\xff}\n')
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "3", "--load_checkpoint", "auto",
                                       "--val_interval", "100"))
    assert trainer.run(args) == 0
    assert b"\xff" not in metrics.read_bytes()
    assert [r["step"] for r in read_metrics(tmp_path / "run") if "train/loss_g_total" in r] == [1, 2, 3]


def test_resuming_a_finished_run_adds_no_second_validation(tmp_path, fake):
    argv = tiny_argv(tmp_path, "--max_steps", "2", "--val_interval", "100")
    assert trainer.run(config.parse_args(argv)) == 0
    assert trainer.run(config.parse_args([*argv, "--load_checkpoint", "auto"])) == 0
    validations = [r["step"] for r in read_metrics(tmp_path / "run") if "val/pred_psnr" in r]
    assert validations == [2]


def test_a_damaged_gz_idx_file_is_one_data_error_naming_it(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = bytearray(gzip.compress(bytes(range(256)) * 64))
    data[40:60] = bytes(20)  # the deflate stream, not the header
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=str(path)):
        moving_objects.read_idx_images(path)


def test_orphaned_report_temporaries_are_removed_at_start_up(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    orphan, fresh = run / ".report.html.4242.tmp", run / ".report.html.4343.tmp"
    for path in (orphan, fresh):
        path.write_text("<html>")
    os.utime(orphan, (time.time() - 2 * tempfiles.LEGACY_AGE_S,) * 2)
    tracking.Tracker(config.parse_args(tiny_argv(tmp_path)), True).close()
    assert not orphan.exists() and fresh.exists()  # a report being written right now is kept


# ---- caches of decoded videos --------------------------------------------------------------------

def test_a_frame_cache_cut_to_whole_frames_is_decoded_again(tmp_path):
    out, n = video_cache.ensure_cached(VIDEO, tmp_path, 32, 16, 3, "crop")
    assert n == 72
    with open(out, "r+b") as fh:
        fh.truncate(30 * 32 * 16 * 3)
    again, n = video_cache.ensure_cached(VIDEO, tmp_path, 32, 16, 3, "crop")
    assert again == out and n == 72 and out.stat().st_size == 72 * 32 * 16 * 3


def test_a_video_replaced_with_the_same_size_and_mtime_gets_a_new_cache(tmp_path):
    video = tmp_path / "clip.mp4"
    shutil.copy(VIDEO, video)
    stamp = video.stat().st_mtime_ns
    assert video_cache.ensure_cached(video, tmp_path / "cache", 32, 16, 3, "crop", 0.0)[1] == 72
    damaged = _damaged_copy(tmp_path / "other.mp4")  # same size, most frames gone
    assert damaged.stat().st_size == video.stat().st_size
    os.replace(damaged, video)
    os.utime(video, ns=(stamp, stamp))
    assert video_cache.ensure_cached(video, tmp_path / "cache", 32, 16, 3, "crop", 0.0)[1] < 72


def test_scene_cut_series_in_a_read_only_cache_is_used_unstored(tmp_path, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(scene_cuts, "open", read_only, raising=False)
    frames = np.zeros((5, 8, 8, 3), np.uint8)
    series = scene_cuts.cached_difference_series(tmp_path / "x.u8", frames)
    assert series.shape == (4,) and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("field", "value"), [("step", "abc"), ("config", [1, 2]), ("model", [1]),
                                              ("extra", [1]), ("epoch", True)])
def test_a_checkpoint_field_of_the_wrong_type_is_one_error(tmp_path, field, value):
    path = checkpoint.save_checkpoint(tmp_path / checkpoint_name("last"),
                                      {"format_version": 1, "step": 1, "epoch": 0, field: value})
    with pytest.raises(CheckpointError, match=rf"'{field}' field of type") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)


def test_resuming_from_a_checkpoint_without_a_step_is_one_error(tmp_path, fake):
    path = checkpoint.save_checkpoint(tmp_path / "foreign.pt", {"format_version": 1, "model": {}})
    args = config.parse_args(tiny_argv(tmp_path, "--load_checkpoint", str(path)))
    with pytest.raises(CheckpointError, match="no step or epoch field"):
        trainer.setup(args)
