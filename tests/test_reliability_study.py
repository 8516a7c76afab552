"""The ablation runner's inputs and folder: bad grid files are one line, variant names that share a run
folder are refused, and a second runner on one ``--out`` is refused naming the first's PID and host.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys

import pytest
from test_ablation import ABLATE, _study
from wubugaad.study import lock
from wubugaad.study import runner as ablation


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("grid.yaml", "base: []\nsmall: [--latent_dim, 4\n", "not valid YAML"),
    ("grid.json", b'{"base": [], "x": "--run_name \xff"}', "UTF-8"),
    ("grid.json", '{"base": [], "quote": "--run_name \'open"}', "No closing quotation"),
    ("grid.json", '{"base": [], "nested": {"--latent_dim": 4}}', "one string or a list"),
])
def test_a_bad_grid_file_is_one_study_error(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ablation.StudyError, match=expected) as caught:
        ablation.load_grid(str(path))
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("second", ["x/.", "x//", "X", "./x"])
def test_variant_names_that_share_a_run_folder_are_refused(second):
    with pytest.raises(ablation.StudyError, match=r"would share the run folder runs/[xX]:"):
        ablation.validate(_study([], {"base": [], "x": ["--latent_dim", "4"], second: ["--latent_dim", "6"]}))


def test_a_variant_name_is_normalised_into_its_folder(tmp_path):
    runs = ablation.plan(_study([], {"base": [], "x/.": ["--latent_dim", "4"]}, seeds=1), tmp_path)
    assert runs[1].folder == tmp_path / "runs" / "x" / "seed0"


def test_a_second_runner_on_one_folder_is_refused_naming_the_first(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"base": []}))
    out = tmp_path / "out"
    spec = importlib.util.spec_from_file_location("ablate_under_test", ABLATE)
    ablate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablate)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # the first runner, as it looks while it works: the study folder and its lock
        ablation.prepare_folder(out, _study(["--latent_dim", "4"], {"base": []}, seeds=1, max_steps=2))
        (out / lock.LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        code = ablate.main(["--grid", str(grid), "--max_steps", "2", "--seeds", "1", "--out", str(out), "--",
                            "--latent_dim", "4"])
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error:") and "\n" not in line
    assert f"PID {holder.pid}" in line and socket.gethostname() in line
    assert not (out / "runs").exists()
    assert json.loads((out / lock.LOCK_NAME).read_text())["pid"] == holder.pid  # the first one's, kept


def test_a_lock_left_by_a_killed_runner_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / lock.LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with lock.folder_lock(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(lock.FolderLockedError, match=f"PID {os.getpid()}"):
            with lock.folder_lock(tmp_path):
                pass
    assert not (tmp_path / lock.LOCK_NAME).exists()
