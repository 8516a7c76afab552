"""Stop signals during validations: the validation is abandoned at its next batch, ``_last.pt`` is saved and
the run exits 130 (SIGINT) or 143 (SIGTERM), the final validation of a run ended by ``--max_steps``
included. The signal is sent by the process to itself at its first validation batch (no timing race).
"""

from __future__ import annotations

import signal

import pytest
from test_entry import tiny_run_argv
from test_reliability import run_patched
from test_trainer import read_metrics
from wubugaad.train import exits
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint


def _signal_at_first_validation_batch(signum: int) -> str:
    """Patch: every validation batch prints a marker (the copy-last baseline is computed once per batch, by
    validation only); the first one sends ``signum`` to the process."""
    return ("import os, sys\nimport wubugaad.train.metrics as m\nreal, seen = m.copy_last_baseline, []\n"
            "def marked(*a, **k):\n    seen.append(1)\n    print('validation batch', file=sys.stderr)\n"
            f"    if len(seen) == 1:\n        os.kill(os.getpid(), {int(signum)})\n"
            "    return real(*a, **k)\nm.copy_last_baseline = marked\n")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, exits.SIGTERM), (signal.SIGINT, exits.SIGINT)])
def test_signal_during_the_final_validation_saves_last_and_exits_with_its_code(tmp_path, signum, code):
    # --max_steps ends the loop; the only validation is the final one, after the loop
    argv = tiny_run_argv(tmp_path, "--max_steps", "2", "--val_interval", "100", "--val_max_clips", "8")
    done = run_patched(tmp_path, _signal_at_first_validation_batch(signum), argv)
    assert done.returncode == code, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr
    assert done.stderr.count("validation batch") == 1  # abandoned, not finished
    run = tmp_path / "run"
    assert load_checkpoint(run / checkpoint_name("last"))["step"] == 2
    assert not [r for r in read_metrics(run) if any(k.startswith("val/") for k in r)]
    assert f"stopped by signal {int(signum)} at step 2" in done.stdout


def test_sigterm_during_a_validation_in_the_loop_stops_there(tmp_path):
    argv = tiny_run_argv(tmp_path, "--max_steps", "6", "--val_interval", "2", "--val_max_clips", "8")
    done = run_patched(tmp_path, _signal_at_first_validation_batch(signal.SIGTERM), argv)
    assert done.returncode == exits.SIGTERM, (done.returncode, done.stderr[-3000:])
    assert done.stderr.count("validation batch") == 1
    assert load_checkpoint(tmp_path / "run" / checkpoint_name("last"))["step"] == 2

