"""The sampler on this machine: its own ``--cache_dir`` (never the training machine's stored in the
checkpoint), bounded ``--num_samples``, and no silent repetition of clips. Its ``main`` runs in-process
(none of these failures is native); the exit codes are its return values.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import torch
from test_checkpoint_fixtures import sampler
from test_entry import SAMPLER, VAL_VIDEO, _short_video, run_script, tiny_run_argv
from test_reliability import one_error_line
from wubugaad.data import video_cache
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


# ---- the sampler's input, through the script (earlier round) -----------------------------------------

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    args = config.parse_args(tiny_run_argv(folder))
    model, _ = model_lib.build(args)
    payload = checkpoint.build_payload(model, None, None, None, None, None, 1, 0, None,
                                       config.resolved_config(args))
    return checkpoint.save_checkpoint(folder / checkpoint_name("last"), payload)


def _sample_script(tmp_path: Path, ckpt: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = ["--checkpoint", str(ckpt), "--mode", "predict", "--video", str(VAL_VIDEO), "--num_samples", "2",
            "--output_dir", str(tmp_path / "out"), "--device", "cpu", *extra]
    return run_script(SAMPLER, argv, tmp_path)


@pytest.mark.parametrize("case", ["missing_checkpoint", "short_video", "missing_video", "output_under_file",
                                  "cuda_without_gpu"])
def test_sampler_errors_name_its_own_flags(tmp_path, tiny_checkpoint, case):
    if case == "cuda_without_gpu" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    extra, flag = {
        "missing_checkpoint": (["--checkpoint", str(tmp_path / "nope.pt")], "--checkpoint"),
        "short_video": (["--video", str(_short_video(tmp_path / "short.mp4", 2))], "--video"),
        "missing_video": (["--video", str(tmp_path / "nope.mp4")], "--video"),
        "output_under_file": (["--output_dir", str(blocker / "out")], "--output_dir"),
        "cuda_without_gpu": (["--device", "cuda"], "--device"),
    }[case]
    done = _sample_script(tmp_path, tiny_checkpoint, *extra)
    assert done.returncode == exits.BAD_INPUT, done.stderr[-3000:]
    line = one_error_line(done)
    assert flag in line
    for training_word in ("--load_checkpoint", "--checkpoint_dir", "--video_data_path", "training"):
        assert training_word not in line
    assert blocker.read_text() == "keep me" and "wrote" not in done.stdout


def test_sampler_reports_the_clip_it_really_wrote(tmp_path, tiny_checkpoint):
    # 300 clips side by side: too wide for MPEG-4 (a video long enough for 300 distinct clips)
    long_video = video_cache.make_demo_video(tmp_path / "long.mp4", 320, 32, 16)
    done = _sample_script(tmp_path, tiny_checkpoint, "--num_samples", "300", "--video", str(long_video))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Failed to initialize VideoWriter" not in done.stderr
    written = re.search(r"wrote predict samples: (\S+) and (\S+)", done.stdout)
    assert written, done.stdout
    for path in written.groups():
        assert Path(path).is_file() and Path(path).stat().st_size > 0
    assert written.group(2).endswith(".gif")
