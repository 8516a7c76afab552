"""Job launchers (run_demo, run_sample, run_report, run_ablation, run_benchmark; .sh and .bat twins over
draftPY/run_job.sh / run_job.bat): every command they build reaches its script as an argv its parser
accepts, with the settings' values.

The ``.sh`` launchers run for real with ``DRY_RUN=true``; the ``.bat`` command is built from the front
file's ``SET`` defaults and run_job.bat's lines as cmd.exe builds it and split as Windows splits it
(``tests/_winbatch.py``). The static checker covers the .bat files in tests/test_launchers.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from _winbatch import (
    cmd_unquoted_specials,
    flag_line_taken,
    normalise_path,
    strip_trailing_backslashes,
    windows_argv,
)
from wubugaad.train import config

ROOT = Path(__file__).resolve().parents[1]
JOB_SH, JOB_BAT = ROOT / "draftPY" / "run_job.sh", ROOT / "draftPY" / "run_job.bat"
WIN_ROOT = "C:\\Program Files (x86)\\R&D lab\\WuBu GAAD"
WIN_PYTHON = WIN_ROOT + "\\venv\\Scripts\\python.exe"
SH_DEFAULT = re.compile(r'^: "\$\{(\w+):=(.*)\}"$')
BAT_DEFAULT = re.compile(r'^IF NOT DEFINED (\w+) SET "\1=(.*)"$')
LAUNCH_LINE = re.compile(r'^SET "CMD=(".*)"$')
FLAG_LINE = re.compile(r'^(?:IF (?P<cond>.+?) )?SET "CMD=!CMD! (?P<rest>--.*)"$')
NORMALISE_LINE = re.compile(r"^CALL :(normalise_path|strip_trailing_backslashes) (\w+)$")

# launcher -> (JOB in run_job.bat, script, settings other than the defaults, what the script then reads)
JOBS = {
    "run_demo": ("demo", "draftPY/WuBuGAADHybridGen_v0.1.py", {}, {}),
    "run_sample": ("sample", "draftPY/wubugaad_sample.py",
                   {"MODE": "generate", "NUM_SAMPLES": "2", "FORMAT": "gif", "SEED": "7", "DEVICE": "cpu",
                    "NUM_CLIPS": "3", "NUM_FRAMES": "5"},
                   {"mode": "generate", "num_samples": 2, "format": "gif", "seed": 7, "device": "cpu",
                    "num_clips": 3, "num_frames": 5}),
    "run_report": ("report", "draftPY/wubugaad_report.py", {"REPORT_FILE": "cmp.html"}, {}),
    "run_ablation": ("ablation", "draftPY/wubugaad_ablate.py",
                     {"GRID": "gaad", "SEEDS": "2", "MAX_STEPS": "0", "MINUTES": "5", "EQUAL_TIME": "true",
                      "JOBS": "2", "RETRY_FAILED": "true"},
                     {"grid": "gaad", "seeds": 2, "max_steps": 0, "minutes": 5.0, "equal_time": True,
                      "jobs": 2, "retry_failed": True}),
    "run_benchmark": ("benchmark", "bench/bench_train.py", {"BENCHMARK": "train"}, {}),
}


def script_of(launcher: str, values: dict[str, str]) -> str:
    """The script a launcher runs, relative to the project root (the benchmark's is picked by BENCHMARK)."""
    if launcher == "run_benchmark":
        return f"bench/bench_{values['BENCHMARK']}.py"
    return JOBS[launcher][1]


def _lines(path: Path) -> list[str]:
    return path.read_text().replace("\r\n", "\n").splitlines()


def _settings(path: Path, pattern: re.Pattern) -> dict[str, str]:
    return {m[1]: m[2] for m in map(pattern.match, _lines(path)) if m}


def _module(relative: str):
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_job(launcher: str, argv: list[str]):
    """The job's own parser on the argv after its script (the benchmarks take EXTRA_ARGS only)."""
    if launcher == "run_demo":
        return config.parse_args(argv)
    if launcher == "run_ablation":
        return _module("draftPY/wubugaad_ablate.py").parse(argv)[0]
    if launcher == "run_benchmark":
        return argv
    return _module(JOBS[launcher][1]).build_parser().parse_args(argv)


# ---------------------------------------------------------------- .sh: real dry runs -----------------------


def run_sh(launcher: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    names = set(_settings(ROOT / f"{launcher}.sh", SH_DEFAULT)) | {"EXTRA_ARGS", "DRY_RUN", "PAUSE_AT_END"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update({"PYTHON_EXE": sys.executable, **env_extra})
    return subprocess.run(["bash", str(ROOT / f"{launcher}.sh")], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT / "tests")


def sh_argv(launcher: str, env_extra: dict[str, str]) -> list[str]:
    done = run_sh(launcher, {"DRY_RUN": "true", **env_extra})
    assert done.returncode == 0, done.stderr
    tokens = shlex.split(next(x for x in done.stdout.splitlines() if x.startswith("DRY_RUN:"))[8:])
    assert tokens[0] == sys.executable
    assert tokens[1] == script_of(launcher, {**_settings(ROOT / f"{launcher}.sh", SH_DEFAULT), **env_extra})
    return tokens[2:]


@pytest.mark.parametrize("launcher", sorted(JOBS))
def test_sh_job_launchers_build_commands_their_scripts_accept(launcher):
    job, script, changed, expected = JOBS[launcher]
    assert os.access(ROOT / f"{launcher}.sh", os.X_OK) and (ROOT / script).is_file()
    defaults = parse_job(launcher, sh_argv(launcher, {}))
    args = parse_job(launcher, sh_argv(launcher, changed))
    assert {k: getattr(args, k) for k in expected} == expected
    if launcher == "run_report":
        assert (args.run_dirs, args.output) == ([Path("runs/wubugaad_run")], Path("cmp.html"))
    if launcher == "run_demo":
        assert vars(defaults) == vars(config.parse_args([])), "the demo launcher must be the README's command"
    if launcher == "run_ablation":
        _, base = _module("draftPY/wubugaad_ablate.py").parse(sh_argv(launcher, {"EXTRA_ARGS": "--seed 3"}))
        assert base == ["--seed", "3"]


def test_sh_benchmark_launcher_refuses_an_unknown_benchmark():
    done = run_sh("run_benchmark", {"BENCHMARK": "nope", "DRY_RUN": "true"})
    assert done.returncode == 2 and "BENCHMARK='nope'" in done.stderr and "quality" in done.stderr


def test_run_job_sh_alone_says_to_start_a_launcher():
    done = subprocess.run(["bash", str(JOB_SH)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "start one of those" in done.stderr


# ---------------------------------------------------------------- .bat: static reading --------------------


def bat_job_argv(launcher: str, overrides: dict[str, str]) -> list[str]:
    """The argv the job's script receives from the command run_job.bat builds for this front file's
    settings (with ``overrides``), the project living in WIN_ROOT."""
    job = JOBS[launcher][0]
    values = {**_settings(ROOT / f"{launcher}.bat", BAT_DEFAULT), **overrides,
              "PYTHON_EXE": WIN_PYTHON, "ROOT": WIN_ROOT + "\\draftPY\\..", "EXTRA_ARGS": ""}
    lines = [x.strip() for x in _lines(JOB_BAT)]
    for line in lines:
        m = NORMALISE_LINE.match(line)
        if m and values.get(m[2]):
            values[m[2]] = normalise_path(values[m[2]], WIN_ROOT) if m[1] == "normalise_path" else \
                strip_trailing_backslashes(values[m[2]])
    start = lines.index(f":job_{job}")
    section = lines[start + 1:lines.index("GOTO :launch", start)]
    launch = [LAUNCH_LINE.match(x)[1] for x in section if LAUNCH_LINE.match(x)]
    assert len(launch) == 1, f"run_job.bat :job_{job}: expected one launch line"
    cmd = launch[0]
    for m in filter(None, map(FLAG_LINE.match, section)):
        if flag_line_taken(m["cond"], values):
            cmd += " " + m["rest"]
    line = re.sub(r"!(\w+)!", lambda v: values[v[1]], cmd)
    assert cmd_unquoted_specials(line) == [], line
    tokens = windows_argv(line)
    assert tokens[0] == WIN_PYTHON
    assert tokens[1] == WIN_ROOT + "\\" + script_of(launcher, values).replace("/", "\\")
    return tokens[2:]


@pytest.mark.parametrize("launcher", sorted(JOBS))
def test_bat_job_launchers_build_commands_their_scripts_accept(launcher):
    job, script, changed, expected = JOBS[launcher]
    text = (ROOT / f"{launcher}.bat").read_text()
    assert f'SET "JOB={job}"' in text and 'CALL "%~dp0draftPY\\run_job.bat"' in text
    parse_job(launcher, bat_job_argv(launcher, {}))
    args = parse_job(launcher, bat_job_argv(launcher, changed))
    assert {k: getattr(args, k) for k in expected} == expected
    if launcher == "run_report":
        assert args.output == Path(WIN_ROOT + "\\cmp.html")
    if launcher == "run_sample":
        assert args.checkpoint == WIN_ROOT + "\\runs\\wubugaad_run\\wubugaad_hybridgen_ckpt_v01_best.pt"
    if launcher == "run_ablation":
        assert args.equal_time and args.retry_failed and args.out == WIN_ROOT + "\\runs\\ablation_wubu"
    if launcher == "run_demo":
        assert bat_job_argv(launcher, {}) == []


@pytest.mark.parametrize("launcher", sorted(JOBS))
def test_bat_and_sh_job_launchers_share_settings_and_defaults(launcher):
    bat = {k: v.replace("\\", "/") for k, v in _settings(ROOT / f"{launcher}.bat", BAT_DEFAULT).items()}
    assert bat == _settings(ROOT / f"{launcher}.sh", SH_DEFAULT)
