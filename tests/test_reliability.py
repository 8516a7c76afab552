"""Breaking a run on purpose: unwritable folders, a full disk, failed clip writes, resumed logs, orphaned
temporaries, non-finite aborts, --compile on the CPU, file modes, damaged videos, tqdm (the sampler's
cases are in test_reliability_sampler.py, later rounds in the other test_reliability_*.py files).

Each test checks the message, the exit code (or the error raised) and that nothing written before is lost.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_entry import ENTRY, ROOT, VIDEO, run_script, tiny_run_argv
from test_trainer import fake_build, read_metrics, tiny_argv
from wubugaad import tempfiles
from wubugaad.data import video_cache
from wubugaad.train import checkpoint, config, exits, session, tracking, trainer, validation
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint

DRAFT_PY = ROOT / "draftPY"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and len(lines[0]) < 600, done.stderr[-3000:]
    return lines[0]


@pytest.fixture
def fake(monkeypatch):
    """The trainer tests' tiny fake model instead of the real one."""
    monkeypatch.setattr(session.model_lib, "build", fake_build)


def run_patched(tmp_path: Path, patch: str, argv: list[str]) -> subprocess.CompletedProcess:
    """The training entry with ``patch`` (Python source) applied first, in a fresh process."""
    code = (f"import runpy, sys\nsys.path.insert(0, {str(DRAFT_PY)!r})\n{patch}\n"
            f"sys.argv = ['entry'] + {argv!r}\nrunpy.run_path({str(ENTRY)!r}, run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "WANDB_MODE": "disabled"})


# ---- 1. output or cache folder under a regular file ----------------------------------------------

@pytest.mark.parametrize("flag", ["--checkpoint_dir", "--cache_dir"])
def test_output_folder_under_a_file_is_one_line_exit_2(tmp_path, flag):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    argv = tiny_run_argv(tmp_path, "--max_steps", "1", flag, str(blocker / "sub"))
    done = run_script(ENTRY, argv, tmp_path)
    assert done.returncode == exits.BAD_INPUT, done.stderr[-3000:]
    line = one_error_line(done)
    assert flag in line and str(blocker) in line
    assert blocker.read_text() == "keep me"


# ---- 2. full disk --------------------------------------------------------------------------------

def test_full_disk_during_training_stops_cleanly_keeping_the_previous_checkpoint(tmp_path):
    patch = ("import errno, os, torch\nreal, calls = torch.save, []\n"
             "def full(obj, f, *a, **k):\n    calls.append(1)\n    if len(calls) >= 2:\n"
             "        f.write(b'PK half')\n        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
             "    return real(obj, f, *a, **k)\ntorch.save = full\n")
    argv = tiny_run_argv(tmp_path, "--max_steps", "4", "--save_interval", "1", "--val_interval", "100")
    done = run_patched(tmp_path, patch, argv)
    assert done.returncode == exits.WRITE_FAILED, done.stderr[-3000:]
    line = one_error_line(done)
    run = tmp_path / "run"
    first, second = checkpoint_name("step", step=1), checkpoint_name("step", step=2)
    assert "No space left on device" in line and second in line and first in line and "intact" in line
    assert load_checkpoint(run / first)["step"] == 1
    assert not [p for p in run.iterdir() if ".tmp" in p.name]
    assert [r["step"] for r in read_metrics(run) if "train/loss_g_total" in r] == [1, 2]


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE")
def test_file_size_limit_while_saving_names_the_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / checkpoint_name("last")
    checkpoint.save_checkpoint(path, {"format_version": 1, "step": 1, "w": torch.ones(10)})
    code = (
        "import resource, signal, sys, torch\n"
        f"sys.path.insert(0, {str(DRAFT_PY)!r})\n"
        "from wubugaad.train import checkpoint, exits\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))\n"
        "try:\n"
        "    big = {'format_version': 1, 'step': 2, 'w': torch.zeros(100_000)}\n"
        "    checkpoint.save_checkpoint(sys.argv[1], big)\n"
        "except exits.OutputWriteError as err:\n"
        "    print(err)\n"
        "    sys.exit(exits.WRITE_FAILED)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == exits.WRITE_FAILED, done.stderr[-3000:]
    assert str(path) in done.stdout and "File too large" in done.stdout and "intact" in done.stdout
    assert "Traceback" not in done.stderr
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# ---- 3. clip writer ------------------------------------------------------------------------------

def test_clip_too_wide_for_mp4_falls_back_to_a_verified_gif(tmp_path):
    frames = torch.rand(3, 3, 16, 9000) * 2 - 1  # (T, C, H, W): wider than MPEG-4 allows
    written = validation.write_clip(frames, tmp_path / "wide", "mp4")
    assert written is not None and written.suffix == ".gif" and written.stat().st_size > 0
    from PIL import Image

    with Image.open(written) as gif:
        assert gif.n_frames == 3 and gif.size == (9000, 16)
    assert not (tmp_path / "wide.mp4").exists()


def test_clip_writer_that_writes_nothing_is_an_error_not_a_success(tmp_path, monkeypatch):
    class DeadWriter:  # opens, but every frame is lost
        def __init__(self, *a):
            pass

        def isOpened(self):  # noqa: N802 - OpenCV's name
            return True

        def write(self, frame):
            pass

        def release(self):
            pass

    monkeypatch.setattr(validation.cv2, "VideoWriter", DeadWriter)
    written = validation.write_clip(torch.zeros(4, 3, 8, 8), tmp_path / "clip", "mp4")
    assert written.suffix == ".gif" and written.is_file()


# ---- 4. metrics.jsonl on resume ------------------------------------------------------------------

def test_resume_drops_metrics_lines_beyond_the_resumed_step(tmp_path, fake):
    run = tmp_path / "run"
    first = tiny_argv(tmp_path, "--max_steps", "6", "--save_interval", "3")
    assert trainer.run(config.parse_args(first)) == 0
    before = read_metrics(run)
    step3 = run / checkpoint_name("step", step=3)
    resume = tiny_argv(tmp_path, "--max_steps", "6", "--load_checkpoint", str(step3))
    assert trainer.run(config.parse_args(resume)) == 0
    records = read_metrics(run)
    steps = [r["step"] for r in records if "train/loss_g_total" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert [r for r in records if r["step"] <= 3] == [r for r in before if r["step"] <= 3]
    assert not [p for p in run.iterdir() if ".tmp" in p.name]


def test_metrics_rewrite_failure_keeps_the_old_file(tmp_path, monkeypatch):
    args = config.parse_args(tiny_argv(tmp_path))
    t = tracking.Tracker(args, True)
    for step in (1, 2, 3):
        t.log_scalars(step, {"train/loss_recon": float(step)})
    t.close()
    text = (t.dir / "metrics.jsonl").read_text()
    t = tracking.Tracker(args, True)
    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tracking.os, "replace", full)
    with pytest.raises(exits.OutputWriteError, match="metrics.jsonl"):
        t.drop_metrics_after(1)
    assert (t.dir / "metrics.jsonl").read_text() == text
    assert not [p for p in t.dir.iterdir() if ".tmp" in p.name]


# ---- 5. stale temporaries ------------------------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temp_of(target: Path, pid: int, host: str | None = None) -> Path:
    name = tempfiles.temp_path(target).name
    own_host, own_pid = re.search(r"\.([0-9a-f]{8})-(\d+)-", name).groups()
    name = name.replace(f".{own_host}-{own_pid}-", f".{host or own_host}-{pid}-")
    path = target.with_name(name)
    path.write_bytes(b"partial")
    return path


def test_stale_temporaries_of_dead_writers_are_removed_at_start_up(tmp_path):
    args = config.parse_args(tiny_argv(tmp_path))
    run = tracking.run_dir(args)
    run.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        target = run / checkpoint_name("last")
        dead = _temp_of(target, _dead_pid())
        alive = _temp_of(target, live.pid)
        other_host = _temp_of(target, _dead_pid(), host="0badc0de")
        legacy_old, legacy_new = run / f".{target.name}.ab12_x9z.tmp", run / f".{target.name}.zz99zz99.tmp"
        for path in (legacy_old, legacy_new):
            path.write_bytes(b"partial")
        os.utime(legacy_old, (time.time() - 2 * tempfiles.LEGACY_AGE_S,) * 2)
        keep = run / "notes.tmp.txt"
        keep.write_text("mine")
        tracking.Tracker(args, True).close()
        left = {p.name for p in run.iterdir()}
        assert dead.name not in left and legacy_old.name not in left
        assert {alive.name, other_host.name, legacy_new.name, keep.name} <= left
    finally:
        live.kill()
        live.wait()


def test_stale_cache_temporaries_are_removed_before_decoding(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    target = video_cache.cache_path_for(VIDEO, cache, 32, 16, 3, "crop")
    dead = _temp_of(target, _dead_pid())
    mine = _temp_of(target, os.getpid())
    legacy = cache / f"{target.name}.tmp-{_dead_pid()}-0123abcd"
    legacy.write_bytes(b"x")
    os.utime(legacy, (time.time() - 2 * tempfiles.LEGACY_AGE_S,) * 2)
    out, n = video_cache.ensure_cached(VIDEO, cache, 32, 16, 3, "crop")
    assert n == 72 and out.is_file()
    left = {p.name for p in cache.iterdir()}
    assert dead.name not in left and legacy.name not in left and mine.name in left


# ---- 6. non-finite abort -------------------------------------------------------------------------

NAN_LOSSES = ("import wubugaad.train.trainer as t\nreal = t.generator_losses\n"
              "def nan_losses(*a, **k):\n    loss, parts = real(*a, **k)\n"
              "    return loss * float('nan'), parts\n"
              "t.generator_losses = nan_losses\n")


def test_nonfinite_abort_saves_last_finite_state_and_exits_with_its_code(tmp_path):
    # the Q-controller reads the losses every step: the limit is checked exactly there
    argv = tiny_run_argv(tmp_path, "--max_steps", "20", "--max_consecutive_nonfinite", "3", "--log_interval",
                         "7", "--q_controller_enabled",
                         "--val_interval", "100", "--save_interval", "2")
    done = run_patched(tmp_path, NAN_LOSSES, argv)
    assert done.returncode == exits.NONFINITE, done.stderr[-3000:]
    line = one_error_line(done)
    assert "--max_consecutive_nonfinite 3" in line and checkpoint_name("last") in line
    last = load_checkpoint(tmp_path / "run" / checkpoint_name("last"))
    assert last["step"] == 3  # the limit, exactly: not the next log step (7)
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert load_checkpoint(tmp_path / "run" / checkpoint_name("step", step=2))["step"] == 2


def test_nonfinite_limit_read_at_log_steps_names_the_step_it_was_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(session.model_lib, "build", lambda args, **kw: fake_build(args, nan=True, **kw))
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "20", "--max_consecutive_nonfinite", "3",
                                       "--log_interval", "5"))
    s = trainer.setup(args)
    with pytest.raises(trainer.NonFiniteError, match=r"reached at step 3.*checked at step 5"):
        trainer.train(s)
    assert s.step == 5
    assert load_checkpoint(tmp_path / "run" / checkpoint_name("last"))["step"] == 5


def test_nonfinite_weights_are_never_saved_as_last(tmp_path, fake):
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "2"))
    assert trainer.run(args) == 0
    before = load_checkpoint(tmp_path / "run" / checkpoint_name("last"))
    s = trainer.setup(config.parse_args(tiny_argv(tmp_path, "--max_steps", "9", "--max_consecutive_nonfinite",
                                                  "2", "--load_checkpoint", "auto")))
    with torch.no_grad():
        s.model.curvature.fill_(float("inf"))
    with pytest.raises(trainer.NonFiniteError, match="not finite") as caught:
        trainer.train(s)
    assert checkpoint_name("last") in str(caught.value)
    after = load_checkpoint(tmp_path / "run" / checkpoint_name("last"))
    assert after["step"] == before["step"] == 2


# ---- 8. --compile on the CPU ---------------------------------------------------------------------

def test_compile_on_cpu_is_ignored_with_a_note(tmp_path, fake, capsys):
    s = session.setup(config.parse_args(tiny_argv(tmp_path, "--compile")))
    assert s.model_fwd is s.model and s.disc_fwd is s.disc
    assert "--compile applies on CUDA only" in capsys.readouterr().out


# ---- 9. checkpoint file mode ---------------------------------------------------------------------

@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_checkpoint_mode_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = checkpoint.save_checkpoint(tmp_path / checkpoint_name("last"),
                                          {"format_version": 1, "step": 1})
        other = tmp_path / "other.txt"
        other.write_text("x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == other.stat().st_mode & 0o777 == 0o644


# ---- 10. partly corrupt video --------------------------------------------------------------------

def _damaged_copy(path: Path, keep: float = 0.3) -> Path:
    """The fixture with its media data zeroed after ``keep`` of it: decoding stops after ~25 of 72 frames."""
    data = bytearray(VIDEO.read_bytes())
    start = data.index(b"mdat") - 4
    size = int.from_bytes(data[start:start + 4], "big")
    cut = start + 8 + int(size * keep)
    data[cut:start + size] = bytes(start + size - cut)
    path.write_bytes(bytes(data))
    return path


def _decode_in_subprocess(video: Path, cache: Path, fraction: float) -> subprocess.CompletedProcess:
    code = (f"import sys\nsys.path.insert(0, {str(DRAFT_PY)!r})\n"
            "from wubugaad.data import video_cache as vc\n"
            "try:\n"
            f"    out = vc.ensure_cached(vc.Path(sys.argv[1]), sys.argv[2], 32, 16, 3, 'crop', {fraction})\n"
            "    print(out[1])\n"
            "except vc.DataError as err:\n"
            "    print('error:', err, file=sys.stderr)\n    sys.exit(2)\n")
    return subprocess.run([sys.executable, "-c", code, str(video), str(cache)], capture_output=True,
                          text=True, timeout=120)


def test_partly_corrupt_video_is_summarised_in_one_line_and_refused_by_default(tmp_path):
    video = _damaged_copy(tmp_path / "damaged.mp4")
    done = _decode_in_subprocess(video, tmp_path / "cache", video_cache.DEFAULT_MIN_DECODED_FRACTION)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr[-3000:]  # no decoder noise
    assert re.search(rf"decoded \d+ of 72 frames of {re.escape(str(video))}", done.stderr)
    assert "--min_decoded_fraction" in done.stderr
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    used = _decode_in_subprocess(video, tmp_path / "cache", 0.0)
    assert used.returncode == 0, used.stderr[-3000:]
    n = int(used.stdout.strip())
    assert 0 < n < 72
    assert used.stderr.count("\n") == 1 and f"decoded {n} of 72 frames of {video}" in used.stderr


def test_partly_corrupt_video_refused_in_training_before_any_step(tmp_path):
    video = _damaged_copy(tmp_path / "damaged.mp4")
    argv = tiny_run_argv(tmp_path, "--max_steps", "1", "--video_data_path", str(video))
    done = run_script(ENTRY, argv, tmp_path)
    assert done.returncode == exits.BAD_INPUT
    line = one_error_line(done)
    assert "of 72 frames" in line and "--min_decoded_fraction" in line
    assert "[mpeg4" not in done.stderr


# ---- tqdm when the log is a file -----------------------------------------------------------------

def test_progress_bars_stay_out_of_a_redirected_log(tmp_path, capsys):
    t = tracking.Tracker(config.parse_args(tiny_argv(tmp_path)), True)
    for i in t.progress(range(50), desc="epochs"):
        if i == 25:
            t.info("a log line")
    t.close()
    out = capsys.readouterr()
    assert "\r" not in out.err and "\r" not in out.out and "a log line" in out.out


# ---- exit-code table -----------------------------------------------------------------------------

def test_training_guide_lists_every_exit_code():
    guide = (ROOT / "TRAINING_GUIDE.md").read_text(encoding="utf-8")
    table = guide[guide.index("## Exit codes"):]
    rows = set(re.findall(r"^\| `?(\d+)`? \|", table, flags=re.M))
    assert {str(c) for c in (*exits.EXIT_CODES, 3)} <= rows
    assert len(set(exits.EXIT_CODES)) == len(exits.EXIT_CODES)
