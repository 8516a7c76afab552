"""The moving-object test-set cache behaves like the video caches: free space checked first, a full disk
is one error (not SIGBUS), temporaries of dead writers are removed, an unwritable folder is one error
naming ``--cache_dir``, a damaged cached file is named and generated again. And the demo folder only ever
holds the demo: a folder with the user's files is read, never written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import namedtuple

import numpy as np
import pytest
from test_entry import ROOT
from test_moving_objects import make_cfg
from test_trainer import tiny_argv
from wubugaad import tempfiles
from wubugaad.data import datasets
from wubugaad.data import moving_objects as mo
from wubugaad.data.video_cache import DataError
from wubugaad.train import config, session

DRAFT_PY = ROOT / "draftPY"


def test_too_little_free_space_is_refused_before_generating(tmp_path, monkeypatch):
    cfg = make_cfg(tmp_path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(mo.shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DataError, match=r"--cache_dir: the moving_fmnist test set needs \d+ MB") as caught:
        mo.ensure_test_set(cfg)
    assert cfg.cache_dir in str(caught.value) and "1000" not in str(caught.value)
    assert not list((tmp_path / "cache").iterdir())


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE")
def test_a_full_disk_while_generating_is_one_error_and_leaves_nothing(tmp_path):
    cfg = make_cfg(tmp_path, test_sequences=64, height=64, width=64)  # 5 MB, beyond the limit below
    code = ("import resource, signal, sys\n"
            f"sys.path.insert(0, {str(DRAFT_PY)!r})\n"
            "from wubugaad.data import moving_objects as mo\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))\n"
            f"cfg = mo.MovingObjectsConfig(name='moving_fmnist', path={cfg.path!r}, frames=20, "
            f"test_sequences=64, cache_dir={cfg.cache_dir!r})\n"
            "try:\n    mo.ensure_test_set(cfg)\n"
            "except mo.DataError as err:\n    print('error:', err, file=sys.stderr)\n    sys.exit(2)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "--cache_dir" in done.stderr and "File too large" in done.stderr
    assert not list((tmp_path / "cache").iterdir())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_dead_writers_are_removed_before_generating(tmp_path):
    cfg = make_cfg(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    target = mo._test_cache_path(cfg, mo._find_file(tmp_path / "idx", "test"))
    fresh = tempfiles.temp_path(target, ext=".npy").name
    dead = cache / re.sub(r"-\d+-", f"-{_dead_pid()}-", fresh, count=1)
    old_style = cache / f"{target.stem}.tmp{_dead_pid()}.npy"  # what a killed run of older versions left
    for path in (dead, old_style):
        path.write_bytes(b"\0" * 1000)
    os.utime(old_style, (time.time() - 2 * tempfiles.LEGACY_AGE_S,) * 2)
    assert mo.ensure_test_set(cfg) == target
    assert sorted(p.name for p in cache.iterdir()) == [target.name]


def test_an_unwritable_cache_folder_is_one_error_naming_the_flag(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    with pytest.raises(DataError, match=r"--cache_dir: cannot use .*a_file"):
        mo.ensure_test_set(make_cfg(tmp_path, cache_dir=str(blocker / "cache")))
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("damage", ["pickle", "short", "garbage"])
def test_a_damaged_cached_test_set_is_generated_again(tmp_path, damage):
    cfg = make_cfg(tmp_path)
    path = mo.ensure_test_set(cfg)
    good = np.load(path).copy()
    if damage == "pickle":
        np.save(path, np.array([{"not": "an array"}], dtype=object), allow_pickle=True)
    elif damage == "short":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        path.write_bytes(b"\x93NUMPY garbage")
    assert mo.ensure_test_set(cfg) == path
    assert np.array_equal(np.load(path), good)
    assert len(mo.MovingObjectsTest(path, 1)) == cfg.test_sequences


def test_a_demo_named_folder_holding_the_users_files_is_read_not_written(tmp_path, monkeypatch):
    folder = tmp_path / "demo_video_data"
    folder.mkdir()
    (folder / "holiday.mpg").write_bytes(b"the user's video")
    monkeypatch.setattr(session.model_lib, "build", lambda *a, **k: pytest.fail("set-up went on"))
    args = config.parse_args(tiny_argv(tmp_path, "--video_data_path", str(folder)))
    with pytest.raises(DataError, match=r"no video files .*holds other files \(\.mpg\)"):
        session.setup(args)
    assert [p.name for p in folder.iterdir()] == ["holiday.mpg"]


def test_an_empty_demo_folder_still_gets_the_demo(tmp_path):
    folder = tmp_path / "demo_video_data"
    folder.mkdir()
    videos = datasets._resolve_sources(str(folder), "training video", "--video_data_path", (40, 16, 16, 0))
    assert [p.name for p in videos] == ["demo_video.mp4"]
