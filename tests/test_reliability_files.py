"""Damaged or odd files met at start-up: a checkpoint whose bytes changed after writing (checksum), a
checkpoint holding code, ``metrics.jsonl`` with an undecodable byte, a corrupt ``.gz`` idx file, orphaned
report temporaries, and a finished run resumed again.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch
from test_trainer import fake_build, read_metrics, tiny_argv
from wubugaad.train import checkpoint, config, session, trainer
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
