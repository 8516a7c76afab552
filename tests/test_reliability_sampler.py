"""The sampler on this machine: its own ``--cache_dir`` (never the training machine's stored in the
checkpoint), bounded ``--num_samples``, and no silent repetition of clips. Its ``main`` runs in-process
(none of these failures is native); the exit codes are its return values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_checkpoint_fixtures import sampler
from test_entry import VAL_VIDEO, tiny_run_argv
from wubugaad.model import vaegan as model_lib
from wubugaad.train import checkpoint, config, exits
from wubugaad.train.checkpoint import checkpoint_name


@pytest.fixture(scope="module")
def foreign_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint whose stored --cache_dir cannot exist here (under a regular file)."""
    folder = tmp_path_factory.mktemp("ckpt")
    blocker = folder / "a_file"
    blocker.write_text("keep me")
    args = config.parse_args(tiny_run_argv(folder, "--cache_dir", str(blocker / "training_cache")))
    model, _ = model_lib.build(args)
    payload = checkpoint.build_payload(model, None, None, None, None, None, 1, 0, None,
                                       config.resolved_config(args))
    return checkpoint.save_checkpoint(folder / checkpoint_name("last"), payload)


def _sample(tmp_path: Path, ckpt: Path, capsys, *extra: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the sampler's main."""
    argv = ["--checkpoint", str(ckpt), "--mode", "predict", "--video", str(VAL_VIDEO), "--num_samples", "2",
            "--output_dir", str(tmp_path / "out"), "--device", "cpu", *extra]
    code = sampler().main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_sampler_decodes_into_its_own_cache_dir(tmp_path, foreign_checkpoint, capsys, monkeypatch):
    code, _, err = _sample(tmp_path, foreign_checkpoint, capsys, "--cache_dir", str(tmp_path / "here"))
    assert code == 0, err
    assert list((tmp_path / "here").glob("*.u8"))
    assert (foreign_checkpoint.parent / "a_file").read_text() == "keep me"
    monkeypatch.chdir(tmp_path)  # the default: the trainer's cache folder, relative to where it runs
    code, _, err = _sample(tmp_path, foreign_checkpoint, capsys)
    assert code == 0, err
    assert list((tmp_path / ".wubugaad_cache").glob("*.u8"))


@pytest.mark.parametrize("count", ["0", "100000"])
def test_num_samples_out_of_bounds_is_one_line(tmp_path, foreign_checkpoint, capsys, count):
    code, _, err = _sample(tmp_path, foreign_checkpoint, capsys, "--num_samples", count)
    assert code == exits.BAD_INPUT
    assert err.count("\n") == 1 and err.startswith("error: --num_samples must be between 1 and")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_video_with_fewer_clips_is_sampled_once_each_and_said(tmp_path, foreign_checkpoint, capsys):
    code, out, err = _sample(tmp_path, foreign_checkpoint, capsys, "--num_samples", "200", "--cache_dir",
                             str(tmp_path / "c"))
    assert code == 0, err
    note = re.search(r"has (\d+) clips .*sampling those \1, not 200", out)
    assert note, out
    assert 0 < int(note.group(1)) < 200
