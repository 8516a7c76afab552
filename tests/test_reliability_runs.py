"""Run folders have an owner: a fresh run into a folder holding another run's outputs is refused before
anything is written, ``--overwrite`` moves those outputs aside, a failed start keeps the folder's
``config.json``, pruning never touches checkpoints of later steps, and ``--run_name`` stays inside
``--checkpoint_dir``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from test_entry import ENTRY, run_script
from test_reliability import one_error_line
from test_trainer import fake_build, read_metrics, tiny_argv
from wubugaad.data import datasets
from wubugaad.train import checkpoint, config, exits, run_folder, session, trainer
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint


@pytest.fixture
def fake(monkeypatch):
    """The trainer tests' tiny fake model instead of the real one."""
    monkeypatch.setattr(session.model_lib, "build", fake_build)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` → a digest of its bytes ('dir' for folders)."""
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


def _run_a(tmp_path: Path) -> Path:
    """Run A: 4 steps with periodic checkpoints, validation and a best checkpoint."""
    argv = tiny_argv(tmp_path, "--max_steps", "4", "--save_interval", "2", "--val_interval", "2")
    assert trainer.run(config.parse_args(argv)) == 0
    return tmp_path / "run"


def test_a_fresh_run_into_a_used_folder_is_refused_before_anything_is_written(tmp_path, fake):
    run = _run_a(tmp_path)
    before = _snapshot(run)
    argv = tiny_argv(tmp_path, "--max_steps", "5", "--save_interval", "2", "--keep_last_n", "2",
                     "--lambda_kl", "0.5")
    done = run_script(ENTRY, argv, tmp_path)
    assert done.returncode == exits.BAD_INPUT, (done.returncode, done.stderr[-3000:])
    line = one_error_line(done)
    assert str(run) in line and "another run" in line
    for way_out in ("--load_checkpoint auto", "--run_name", "--overwrite"):
        assert way_out in line
    assert _snapshot(run) == before  # config.json, metrics.jsonl, checkpoints, samples: all as they were


def test_resuming_the_folder_itself_is_allowed(tmp_path, fake):
    _run_a(tmp_path)
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "6", "--load_checkpoint", "auto"))
    assert trainer.run(args) == 0
    steps = [r["step"] for r in read_metrics(tmp_path / "run") if "train/loss_g_total" in r]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_overwrite_moves_the_old_outputs_aside_and_the_new_run_owns_the_folder(tmp_path, fake):
    run = _run_a(tmp_path)
    old_best = load_checkpoint(run / checkpoint_name("best"))
    old_files = {p.name for p in run_folder.outputs_in(run)}
    argv = tiny_argv(tmp_path, "--max_steps", "3", "--save_interval", "1", "--keep_last_n", "2",
                     "--val_interval", "1", "--overwrite", "--seed", "7")
    assert trainer.run(config.parse_args(argv)) == 0
    aside = [p for p in run.iterdir() if p.name.startswith("replaced-")]
    assert len(aside) == 1 and {p.name for p in aside[0].iterdir()} == old_files
    assert load_checkpoint(aside[0] / checkpoint_name("best"))["step"] == old_best["step"]
    # the new run's own periodic checkpoints survive (the old run's higher steps are gone), its lines only
    assert sorted(p.name for p in run.glob("*_step*.pt")) == [checkpoint_name("step", step=s) for s in (2, 3)]
    assert [r["step"] for r in read_metrics(run) if "train/loss_g_total" in r] == [1, 2, 3]
    assert load_checkpoint(run / checkpoint_name("best"))["config"]["seed"] == 7
    assert checkpoint.find_latest_checkpoint(run).name == checkpoint_name("last")
    assert json.loads((run / "config.json").read_text())["seed"] == 7


def test_overwrite_together_with_resuming_the_same_folder_is_refused(tmp_path, fake):
    _run_a(tmp_path)
    args = config.parse_args(tiny_argv(tmp_path, "--load_checkpoint", "auto", "--overwrite"))
    with pytest.raises(run_folder.RunFolderInUseError, match="drop one"):
        trainer.setup(args)


def test_a_failed_start_keeps_the_folders_config_json(tmp_path, fake, monkeypatch):
    run = _run_a(tmp_path)
    kept = (run / "config.json").read_text()

    def no_data(*a, **k):
        raise datasets.DataError("--video_data_path: simulated unreadable video")

    monkeypatch.setattr(session, "_loaders", no_data)
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "8", "--load_checkpoint", "auto",
                                       "--lambda_kl", "0.5"))
    with pytest.raises(datasets.DataError):
        trainer.setup(args)
    assert (run / "config.json").read_text() == kept


def test_pruning_leaves_checkpoints_of_later_steps_alone(tmp_path):
    for step in (2, 4, 10, 12):
        checkpoint.save_checkpoint(tmp_path / checkpoint_name("step", step=step), {"format_version": 1})
    # a run resumed at step 4 saved step 5: it keeps 2 of its own (4, 5); 10 and 12 are not its files
    checkpoint.save_checkpoint(tmp_path / checkpoint_name("step", step=5), {"format_version": 1})
    deleted = checkpoint.prune_checkpoints(tmp_path, 2, up_to_step=5)
    assert [p.name for p in deleted] == [checkpoint_name("step", step=2)]
    assert {p.name for p in tmp_path.iterdir()} == {checkpoint_name("step", step=s) for s in (4, 5, 10, 12)}


@pytest.mark.parametrize("name", ["../x", "/abs/x", "x/.", "..", "a/b"])
def test_run_name_must_stay_inside_the_checkpoint_dir(tmp_path, name):
    with pytest.raises(SystemExit) as caught:
        config.parse_args(tiny_argv(tmp_path, "--run_name", name))
    assert caught.value.code == exits.BAD_INPUT
    assert not (tmp_path / "x").exists()
