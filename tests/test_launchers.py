"""Launchers: every flag a .bat/.sh launcher can emit parses; phases chain through checkpoints; the
Windows launchers survive what double-click users meet.

The ``.sh`` launchers are run for real (``DRY_RUN=true`` prints the argv instead of training; the phase
chain trains a tiny model on the video fixture; ``setup.sh`` runs against fake nvidia-smi/nvcc/pip). The
``.bat`` launchers cannot run here: their ``SET`` defaults and one-line-per-flag ``SET "CMD=!CMD! --flag
..."`` lines are read statically, every branch is evaluated (booleans true and false, optional settings set
and empty), the command line is built as cmd.exe builds it and split as Windows splits it
(``tests/_winbatch.py``), and the resulting argv is parsed. A static checker reads every ``.bat`` for the
cmd.exe pitfalls (stale ``%VAR%`` in blocks, unquoted expansions, unnormalised paths, exits that skip the
pause logic) and each of its rules is shown to fire on a small bad snippet.
"""

from __future__ import annotations

import json
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
    lint_bat,
    lint_setup,
    normalise_path,
    strip_trailing_backslashes,
    windows_argv,
)
from wubugaad.train import config
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DRAFT = ROOT / "draftPY"
MASTER_SH, MASTER_BAT = ROOT / "run_vaegan.sh", ROOT / "run_vaegan.bat"
VIDEO = ROOT / "tests" / "data" / "bbb_excerpt.mp4"
VAL_VIDEO = ROOT / "tests" / "data" / "bbb_excerpt_val.mp4"
ENTRY_NAME = "WuBuGAADHybridGen_v0.1.py"

SH_DEFAULT = re.compile(r'^: "\$\{(\w+):=(.*)\}"$')
BAT_DEFAULT = re.compile(r'^IF NOT DEFINED (\w+) SET "\1=(.*)"$')
SH_FLAG = re.compile(r"CMD\+=\((--\w+)")
BAT_FLAG_LINE = re.compile(r'^(?:IF (?P<cond>.+?) )?SET "CMD=!CMD! (?P<rest>--.*)"$')
SH_CALL = re.compile(r'run_phase\.sh" (\S+) (\S+)(?: (\S+) (\S+))?$')
BAT_CALL = re.compile(r'run_phase\.bat" (\S+) (\S+)(?: (\S+) (\S+))?$')
LAUNCHER_ONLY = {"NPROC_PER_NODE", "PYTHON_EXE", "EXTRA_ARGS", "DRY_RUN", "PAUSE_AT_END"}
# the only entry-script flags without a setting line: the launchers' headers name them (EXTRA_ARGS)
LEFT_TO_EXTRA_ARGS = {"--optical_flow_random_init", "--wubu_s_output_dim", "--wubu_m_output_dim",
                      "--local_rank", "--local-rank", "--overwrite", "--help", "-h"}
ABLATE = "distances rotation"

# phase file stem -> (phase folder, previous phase, settings it must pre-set)
PHASES = {
    "phase1_reconstruction": ("phase1", None, {"LAMBDA_KL": "1e-4", "DISC_USE_GAAD_FILM_CONDITION": "false"}),
    "phase2a_kl_1e-3": ("phase2a", "phase1_reconstruction",
                        {"LAMBDA_KL": "1e-3", "DISC_USE_GAAD_FILM_CONDITION": "false"}),
    "phase2b_kl_1e-2": ("phase2b", "phase2a_kl_1e-3",
                        {"LAMBDA_KL": "1e-2", "DISC_USE_GAAD_FILM_CONDITION": "false"}),
    "phase2c_kl_1e-1": ("phase2c", "phase2b_kl_1e-2",
                        {"LAMBDA_KL": "1e-1", "DISC_USE_GAAD_FILM_CONDITION": "false"}),
    "phase3_disc_film": ("phase3", "phase2c_kl_1e-1",
                         {"DISC_USE_GAAD_FILM_CONDITION": "true", "LOAD_STRICT": "false"}),
    "phase4_finetune": ("phase4", "phase3_disc_film",
                        {"LEARNING_RATE_GEN": "5e-5", "LEARNING_RATE_DISC": "2e-5", "LAMBDA_GAN": "0.2"}),
}


def _lines(path: Path) -> list[str]:
    return path.read_text().replace("\r\n", "\n").splitlines()


def _settings(path: Path, pattern: re.Pattern) -> dict[str, str]:
    return {m[1]: m[2] for m in map(pattern.match, _lines(path)) if m}


def sh_defaults() -> dict[str, str]:
    return _settings(MASTER_SH, SH_DEFAULT)


def bat_defaults() -> dict[str, str]:
    return _settings(MASTER_BAT, BAT_DEFAULT)


def branch_values(defaults: dict[str, str], on: bool, tmp_path: Path) -> dict[str, str]:
    """Every boolean set to ``on``; every optional (empty-default) setting set to an existing path or
    value when ``on``, left empty otherwise. Paths the parser checks point at existing files."""
    dummy = tmp_path / "dummy.pt"
    dummy.write_bytes(b"0")
    optional = {"VALIDATION_VIDEO_PATH": str(VAL_VIDEO), "LOAD_CHECKPOINT": str(dummy),
                "OPTICAL_FLOW_WEIGHTS": str(dummy), "LPIPS_WEIGHTS": str(dummy), "WANDB_RUN_NAME": "run_x",
                "WUBU_S_ABLATE": ABLATE, "WUBU_M_ABLATE": ABLATE, "WUBU_T_ABLATE": ABLATE,
                "MNIST_PATH": str(tmp_path), "RUN_NAME": "run_y"}
    values = {}
    for name, value in defaults.items():
        if name in LAUNCHER_ONLY:
            continue
        if value in ("true", "false"):
            values[name] = "true" if on else "false"
        elif value == "":
            assert name in optional, f"add a test value for the optional launcher setting {name}"
            values[name] = optional[name] if on else ""
        else:
            values[name] = value
    return values


def training_argv(tokens: list[str]) -> list[str]:
    """The tokens after the entry script (drops python / torchrun and their options)."""
    index = next(i for i, t in enumerate(tokens) if t.endswith(ENTRY_NAME))
    return tokens[index + 1:]


def parse(argv: list[str]):
    return config.parse_args(argv)


# ---------------------------------------------------------------- .sh: real dry runs -----------------------


def run_sh(script: Path, env_extra: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in sh_defaults() and k != "RUN_DIR"}
    env.update({"PYTHON_EXE": sys.executable, "WANDB_MODE": "disabled", **env_extra})
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=timeout)


def dry_run_tokens(script: Path, env_extra: dict[str, str]) -> list[str]:
    done = run_sh(script, {"DRY_RUN": "true", **env_extra})
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("DRY_RUN:"))
    return shlex.split(line[len("DRY_RUN:"):])


def test_sh_every_flag_in_every_branch_parses(tmp_path):
    static = set()
    for line in _lines(MASTER_SH):
        static.update(SH_FLAG.findall(line))
    emitted = set()
    for on in (True, False):
        argv = training_argv(dry_run_tokens(MASTER_SH, branch_values(sh_defaults(), on, tmp_path)))
        args = parse(argv)
        emitted.update(t for t in argv if t.startswith("--"))
        assert args.disc_use_gaad_film_condition is on and args.wubu_s_tangent_flow is on
        assert args.wubu_m_ablate == (sorted(ABLATE.split()) if on else [])
        assert (args.validation_video_path == str(VAL_VIDEO)) is on
    assert static == emitted, f"flags never emitted: {static - emitted}; unexpected: {emitted - static}"


def test_every_parser_flag_is_a_setting_or_documented_as_left_to_extra_args():
    parser_flags = set(config.build_parser()._option_string_actions)
    for path in (MASTER_SH, MASTER_BAT):
        text = path.read_text()
        emitted = set(re.findall(r"(--\w+)", "\n".join(x for x in _lines(path) if "CMD" in x)))
        missing = parser_flags - emitted - LEFT_TO_EXTRA_ARGS
        assert missing == set(), f"{path.name}: flags without a setting line: {sorted(missing)}"
        assert LEFT_TO_EXTRA_ARGS & emitted == set()
        header = text[:text.index("EXTRA_ARGS", text.index("Launcher-only")) + 700]
        for flag in LEFT_TO_EXTRA_ARGS - {"--local-rank", "-h"}:
            assert flag in header, f"{path.name}: the header must name {flag} as left to EXTRA_ARGS"


def test_optimizer_setting_selects_the_optimizer_and_risgd_lines_reach_it():
    args = parse(training_argv(dry_run_tokens(MASTER_SH, {"OPTIMIZER": "risgd", "RISGD_MOMENTUM": "0.8"})))
    assert (args.optimizer, args.risgd_momentum) == ("risgd", 0.8)
    assert parse(training_argv(dry_run_tokens(MASTER_SH, {}))).optimizer == "riemannian_adam"


def test_sh_research_defaults_are_the_v01_configuration():
    args = parse(training_argv(dry_run_tokens(MASTER_SH, {})))
    assert (args.image_h, args.image_w, args.num_input_frames, args.num_predict_frames) == (256, 256, 10, 3)
    assert (args.latent_dim, args.gaad_num_regions, args.encoder_initial_tangent_dim) == (512, 24, 192)
    assert args.wubu_s_hyperbolic_dims == [128, 64] and args.wubu_t_hyperbolic_dims == [256, 128]
    assert args.wubu_m_initial_curvatures == [1.0, 0.8]
    assert args.wubu_s_use_rotation and args.wubu_m_use_rotation and args.wubu_t_use_rotation
    assert args.use_wubu_motion_branch and args.freeze_flow_net and args.disc_apply_spectral_norm
    assert (args.lambda_kl, args.learning_rate_gen, args.learning_rate_disc) == (1e-4, 3e-4, 1e-4)
    assert args.q_controller_enabled and args.wandb and args.load_strict and not args.use_amp
    assert args.wandb_project == "WuBuGAADHybridGenV01_Comprehensive" and args.epochs == 100


def test_sh_nproc_selects_torchrun_standalone_without_master_address():
    plain = dry_run_tokens(MASTER_SH, {"NPROC_PER_NODE": "1"})
    assert plain[0] == sys.executable and plain[1].endswith(ENTRY_NAME)
    multi = dry_run_tokens(MASTER_SH, {"NPROC_PER_NODE": "2"})
    assert multi[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    text = MASTER_SH.read_text() + MASTER_BAT.read_text()
    assert "master_addr" not in text and "master_port" not in text
    assert run_sh(MASTER_SH, {"DRY_RUN": "true", "NPROC_PER_NODE": "two"}).returncode == 2


def test_sh_reports_the_real_exit_code(tmp_path):
    done = run_sh(MASTER_SH, {"BATCH_SIZE": "0", "CHECKPOINT_OUTPUT_DIR": str(tmp_path / "run"),
                              "CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 2
    assert "--batch_size" in done.stderr and "FAILED with exit code 2" in done.stderr


def _python_seeing(tmp_path: Path, gpu: bool) -> Path:
    """The real interpreter, except that the launcher's GPU check gets the answer of a machine with (or
    without) a GPU."""
    fake = tmp_path / ("python_gpu" if gpu else "python_cpu")
    answer = 0 if gpu else 3
    fake.write_text(f'#!/bin/bash\nif [[ "$*" == *torch.cuda.is_available* ]]; then exit {answer}; fi\n'
                    f'exec "{sys.executable}" "$@"\n')
    fake.chmod(0o755)
    return fake


def test_sh_without_a_gpu_states_the_cpu_cost_and_suggests_the_demo_without_asking(tmp_path):
    seconds = int(re.search(r"^CPU_SECONDS_PER_STEP=(\d+)$", MASTER_SH.read_text(), re.M)[1])
    assert f'SET "CPU_SECONDS_PER_STEP={seconds}"' in MASTER_BAT.read_text()
    env = {"BATCH_SIZE": "0", "MAX_STEPS": "2000", "CHECKPOINT_OUTPUT_DIR": str(tmp_path / "run"),
           "CACHE_DIR": str(tmp_path / "cache")}
    cpu = run_sh(MASTER_SH, {**env, "PYTHON_EXE": str(_python_seeing(tmp_path, gpu=False))})
    note = cpu.stdout[cpu.stdout.index("NOTE:"):]
    assert f"{seconds} s a step" in note and "bench/RESULTS.md" in note and "hours per 1000 steps" in note
    assert f"MAX_STEPS=2000: about {2000 * seconds // 3600} hours" in note and "./run_demo.sh" in note
    # no terminal: nobody is asked, the training starts (and stops at the bad batch size)
    assert "anyway?" not in cpu.stdout + cpu.stderr and "Not started" not in cpu.stdout
    assert cpu.returncode == 2 and "--batch_size" in cpu.stderr
    gpu = run_sh(MASTER_SH, {**env, "PYTHON_EXE": str(_python_seeing(tmp_path, gpu=True))})
    assert gpu.returncode == 2 and "NOTE:" not in gpu.stdout


# ---------------------------------------------------------------- .bat: static reading --------------------


# where the emulated project lives: spaces, (x86) and & in the project folder itself
WIN_ROOT = "C:\\Program Files (x86)\\R&D lab\\WuBu GAAD"
WIN_PYTHON = WIN_ROOT + "\\venv\\Scripts\\python.exe"
NORMALISE_LINE = re.compile(
    r'^(?:IF /I NOT "!(\w+)!"=="(\w+)" )?CALL :(normalise_path|strip_trailing_backslashes) (\w+)$')
LAUNCH_LINE = re.compile(r'^SET "CMD=(".*)"$')


def bat_command_line(values: dict[str, str], lines: list[str] | None = None, nproc: int = 1,
                     python: str = WIN_PYTHON) -> str:
    """The command line run_vaegan.bat runs (``%CMD%``) for these setting values: %SCRIPT_DIR% is
    WIN_ROOT, the path settings go through the file's own :normalise_path / :strip_trailing_backslashes
    calls (relative paths from the project root, where the launcher pushd-s to), then the launch line
    and every flag line are appended as the SET lines do."""
    lines = _lines(MASTER_BAT) if lines is None else lines
    values = {k: v.replace("%SCRIPT_DIR%", WIN_ROOT) for k, v in values.items()}
    values.update({"PYTHON_EXE": python, "NPROC_PER_NODE": str(nproc),
                   "ENTRY": WIN_ROOT + "\\draftPY\\" + ENTRY_NAME})
    for line in lines:
        m = NORMALISE_LINE.match(line.strip())
        if not m or not values.get(m[4]):
            continue
        if m[1] and values[m[1]].lower() == m[2].lower():
            continue
        value = values[m[4]]
        values[m[4]] = normalise_path(value, WIN_ROOT) if m[3] == "normalise_path" else \
            strip_trailing_backslashes(value)
    launches = [LAUNCH_LINE.match(x.strip()) for x in lines]
    launches = [m[1] for m in launches if m]
    assert len(launches) == 2, "run_vaegan.bat: expected the torchrun and the python launch lines"
    cmd = launches[0] if nproc > 1 else launches[1]
    for line in lines:
        m = BAT_FLAG_LINE.match(line.strip())
        if not m:
            continue
        if flag_line_taken(m["cond"], values):
            cmd += " " + m["rest"]
    return re.sub(r"!(\w+)!", lambda v: values[v[1]], cmd)


def bat_argv(values: dict[str, str], **kwargs) -> list[str]:
    """The argv Python receives (after the entry script) from the command run_vaegan.bat builds."""
    line = bat_command_line(values, **kwargs)
    assert cmd_unquoted_specials(line) == [], f"cmd.exe would act on {cmd_unquoted_specials(line)} in {line}"
    return training_argv(windows_argv(line))


def test_bat_every_flag_in_every_branch_parses(tmp_path):
    static = {m["rest"].split()[0] for m in map(BAT_FLAG_LINE.match, map(str.strip, _lines(MASTER_BAT))) if m}
    emitted = set()
    for on in (True, False):
        argv = bat_argv(branch_values(bat_defaults(), on, tmp_path))
        args = parse(argv)
        emitted.update(t for t in argv if t.startswith("--"))
        assert args.use_wubu_motion_branch is on and args.residual_generator is on
    assert static == emitted
    sh_static = set()
    for line in _lines(MASTER_SH):
        sh_static.update(SH_FLAG.findall(line))
    assert static == sh_static, "run_vaegan.bat and run_vaegan.sh must emit the same flags"


def test_bat_and_sh_share_settings_and_defaults():
    # the interpreter is found differently (python on Windows, python3 here); everything else is shared
    bat = {k: v.replace("%SCRIPT_DIR%\\", "$SCRIPT_DIR/").replace("\\", "/")
           for k, v in bat_defaults().items() if k != "PYTHON_EXE"}
    assert bat == {k: v for k, v in sh_defaults().items() if k != "PYTHON_EXE"}
    for name in ("LAMBDA_KL", "LEARNING_RATE_GEN", "DISC_USE_GAAD_FILM_CONDITION", "WUBU_S_HYPERBOLIC_DIMS",
                 "LOAD_CHECKPOINT", "CHECKPOINT_OUTPUT_DIR", "VIDEO_DATA_PATH", "VALIDATION_VIDEO_PATH",
                 "NPROC_PER_NODE", "USE_AMP", "PAUSE_AT_END", "DRY_RUN"):
        assert name in bat, f"v0.1 launcher variable {name} missing"


def test_bat_runs_python_or_torchrun_and_reports_exit_code():
    text = MASTER_BAT.read_text()
    assert "setlocal EnableExtensions EnableDelayedExpansion" in text
    assert 'venv\\Scripts\\python.exe' in text
    assert "IF !NPROC_PER_NODE! GTR 1" in text and "--standalone --nproc_per_node=!NPROC_PER_NODE!" in text
    assert 'SET "EXIT_CODE=%ERRORLEVEL%"' in text and "exit /b %EXIT_CODE%" in text
    plain = windows_argv(bat_command_line(bat_defaults()))
    assert plain[0] == WIN_PYTHON and plain[1] == WIN_ROOT + "\\draftPY\\" + ENTRY_NAME
    multi = windows_argv(bat_command_line(bat_defaults(), nproc=2))
    assert multi[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", plain[1]]


# ---------------------------------------------------------------- phase launchers -------------------------


@pytest.mark.parametrize("stem", sorted(PHASES))
def test_phase_launchers_pair_up_and_chain(stem):
    folder, previous, expected = PHASES[stem]
    sh, bat = DRAFT / f"{stem}.sh", DRAFT / f"{stem}.bat"
    assert os.access(sh, os.X_OK)
    sh_set = {k: v for k, v in _settings(sh, SH_DEFAULT).items() if k != "RUN_DIR"}
    bat_set = {k: v for k, v in _settings(bat, BAT_DEFAULT).items() if k != "RUN_DIR"}
    assert sh_set == bat_set
    assert set(sh_set) <= set(sh_defaults()), "a phase pre-sets a variable run_vaegan does not know"
    assert expected.items() <= sh_set.items()
    sh_call = next(SH_CALL.search(x) for x in _lines(sh) if SH_CALL.search(x))
    bat_call = next(BAT_CALL.search(x) for x in _lines(bat) if BAT_CALL.search(x))
    prev_folder = PHASES[previous][0] if previous else None
    # the first argument names the phase file itself: the exit-3 hint tells the user to edit it
    assert sh_call.groups() == (f"{stem}.sh", folder, prev_folder, previous and f"{previous}.sh")
    assert bat_call.groups() == (f"{stem}.bat", folder, prev_folder, previous and f"{previous}.bat")
    # where a phase reads and writes is set in the phase file (run_phase sets these two before run_vaegan
    # reads its own lines); the run folder's default lives in run_phase only
    for name in ("RUN_DIR", "LOAD_CHECKPOINT", "CHECKPOINT_OUTPUT_DIR"):
        assert _settings(bat, BAT_DEFAULT)[name] == "" and _settings(sh, SH_DEFAULT)[name] == ""
    header = "\n".join(x for x in _lines(bat) if x.startswith("REM"))
    assert "LOAD_CHECKPOINT" in header and "run_vaegan.bat has no effect" in header
    # the .bat phase on top of run_vaegan.bat's defaults builds a command the parser accepts
    values = {**{k: v for k, v in bat_defaults().items() if k not in LAUNCHER_ONLY},
              **{k: v for k, v in bat_set.items() if v}}
    args = parse(bat_argv(values))
    assert args.lambda_kl == float(sh_set["LAMBDA_KL"])


def test_training_guide_phase_table_lists_every_setting_each_phase_sets():
    guide = (ROOT / "TRAINING_GUIDE.md").read_text(encoding="utf-8")
    for stem in PHASES:
        row = next(x for x in guide.splitlines() if x.startswith("| ") and f"`draftPY/{stem}.sh`" in x)
        listed = dict(re.findall(r"`(\w+)=([^`]*)`", row.split(" | ")[3]))
        own = {k: v for k, v in _settings(DRAFT / f"{stem}.sh", SH_DEFAULT).items()
               if k not in ("RUN_DIR", "LOAD_CHECKPOINT", "CHECKPOINT_OUTPUT_DIR")}
        assert listed == own, f"TRAINING_GUIDE.md's row for {stem} differs from the phase file"


@pytest.mark.parametrize("stem", sorted(PHASES))
def test_phase_sh_loads_previous_best_or_names_the_phase_to_run_first(stem, tmp_path):
    folder, previous, _ = PHASES[stem]
    run_dir = tmp_path / "run"
    env = {"RUN_DIR": str(run_dir)}
    if previous:
        missing = run_sh(DRAFT / f"{stem}.sh", {**env, "DRY_RUN": "true"})
        assert missing.returncode == 3
        assert f"draftPY/{previous}.sh first" in missing.stderr
        assert "LOAD_CHECKPOINT" in missing.stderr and f"draftPY/{stem}.sh" in missing.stderr
        best = run_dir / PHASES[previous][0] / checkpoint_name("best")
        best.parent.mkdir(parents=True)
        best.write_bytes(b"0")
    args = parse(training_argv(dry_run_tokens(DRAFT / f"{stem}.sh", env)))
    assert Path(args.checkpoint_dir) == run_dir / folder
    assert args.load_checkpoint == (str(best) if previous else None)
    assert args.disc_use_gaad_film_condition is stem.startswith(("phase3", "phase4"))
    assert args.load_strict is not stem.startswith("phase3")
    # a user-chosen checkpoint wins over the previous phase's
    own = tmp_path / "own.pt"
    own.write_bytes(b"0")
    args = parse(training_argv(dry_run_tokens(DRAFT / f"{stem}.sh", {**env, "LOAD_CHECKPOINT": str(own)})))
    assert args.load_checkpoint == str(own)


TINY = {
    "VIDEO_DATA_PATH": str(VIDEO), "VALIDATION_VIDEO_PATH": str(VAL_VIDEO), "WANDB_ENABLED": "false",
    "USE_WUBU_MOTION_BRANCH": "false", "USE_LPIPS_FOR_VERIFICATION": "false", "NUM_WORKERS": "0",
    "IMAGE_H": "32", "IMAGE_W": "32", "NUM_INPUT_FRAMES": "2", "NUM_PREDICT_FRAMES": "1", "BATCH_SIZE": "2",
    "LOG_INTERVAL": "1", "VAL_MAX_CLIPS": "2", "NUM_VAL_SAMPLES_TO_LOG": "1", "DEMO_NUM_SAMPLES": "1",
    "GAAD_NUM_REGIONS": "3", "WUBU_S_HYPERBOLIC_DIMS": "8", "WUBU_T_HYPERBOLIC_DIMS": "8",
    "WUBU_M_HYPERBOLIC_DIMS": "8", "ENCODER_INITIAL_TANGENT_DIM": "8", "GEN_BASE_CHANNELS": "8",
    "DISC_BASE_DISC_CHANNELS": "8", "DISC_MAX_DISC_CHANNELS": "16", "ENCODER_SHALLOW_CNN_CHANNELS": "8",
    "ENCODER_PIXEL_PATCH_SIZE": "4", "DISC_MIN_HIDDEN_FC_DIM": "8", "DISC_MAX_HIDDEN_FC_DIM": "16",
    "LATENT_DIM": "8", "DISC_GAAD_CONDITION_DIM_DISC": "8", "WANDB_LOG_TRAIN_RECON_INTERVAL": "0",
    "WANDB_LOG_FIXED_NOISE_SAMPLES_INTERVAL": "0",
}


def test_phase1_then_phase2a_resumes_from_phase1_best_with_phase2_lambda_kl(tmp_path):
    run_dir = tmp_path / "run"
    env = {**TINY, "RUN_DIR": str(run_dir), "CACHE_DIR": str(tmp_path / "cache")}
    first = run_sh(DRAFT / "phase1_reconstruction.sh", {**env, "MAX_STEPS": "2"}, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    best1 = run_dir / "phase1" / checkpoint_name("best")
    saved1 = load_checkpoint(best1)
    assert saved1["step"] == 2 and saved1["config"]["lambda_kl"] == 1e-4
    # MAX_STEPS is absolute, like EPOCHS: phase 2a trains steps 3 and 4
    second = run_sh(DRAFT / "phase2a_kl_1e-3.sh", {**env, "MAX_STEPS": "4"}, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Training finished successfully" in second.stdout
    phase2 = run_dir / "phase2a"
    resolved = json.loads((phase2 / "config.json").read_text())
    assert resolved["load_checkpoint"] == str(best1) and resolved["lambda_kl"] == 1e-3
    log = second.stdout + second.stderr
    assert f"resumed from {best1}" in log and "lambda_kl: 0.0001 -> 0.001" in log
    steps = [json.loads(x)["step"] for x in (phase2 / "metrics.jsonl").read_text().splitlines()]
    assert min(steps) == 3 and max(steps) == 4
    saved2 = load_checkpoint(phase2 / checkpoint_name("last"))
    assert saved2["step"] == 4 and saved2["config"]["lambda_kl"] == 1e-3
    assert load_checkpoint(run_dir / "phase1" / checkpoint_name("last"))["step"] == 2  # phase 1 untouched


# ---------------------------------------------------------------- Windows: static checks and emulation ----

ALL_BAT = sorted([*ROOT.glob("*.bat"), *DRAFT.glob("*.bat")])


def _tail(path: Path = MASTER_BAT) -> str:
    """The shared ending of every launcher: :finish and :pause_if_asked."""
    text = "\n".join(_lines(path)) + "\n"
    start = text.index("\n:finish\n") + 1
    end = text.index("GOTO :EOF\n", text.index(":pause_if_asked\n")) + len("GOTO :EOF\n")
    return text[start:end]


@pytest.mark.parametrize("path", ALL_BAT, ids=lambda p: p.name)
def test_bat_files_pass_the_static_checker(path):
    assert lint_bat(path.read_text(), whole_line_ok=frozenset({"CMD"})) == []
    assert _tail(path) == _tail(), f"{path.name}: the pause logic differs from run_vaegan.bat's"
    assert "*.bat text eol=crlf" in (ROOT / ".gitattributes").read_text()   # cmd.exe needs CRLF for labels


HEAD = """@ECHO OFF
setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"
"""

# rule -> (body that breaks it, the same body fixed); each bad body is a row of the original launchers
BAD_AND_GOOD = {
    "exit: setup.bat never pauses": (
        'python -m venv venv\nIF ERRORLEVEL 1 GOTO :fail\nendlocal & exit /b 0\n:fail\n'
        'IF /I "%PAUSE_AT_END%"=="true" PAUSE\nendlocal & exit /b 1\n',
        'python -m venv venv\nIF ERRORLEVEL 1 GOTO :finish\nSET "EXIT_CODE=0"\nGOTO :finish\n'),
    "exit: run_phase.bat's exit 3 before PAUSE_AT_END is set": (
        'IF EXIST "x.pt" GOTO :launch\nECHO ERROR: run phase 1 first 1>&2\n'
        'IF /I "%PAUSE_AT_END%"=="true" PAUSE\nendlocal & exit /b 3\n:launch\nSET "EXIT_CODE=0"\n',
        'IF EXIST "x.pt" GOTO :launch\nECHO ERROR: run phase 1 first 1>&2\nSET "EXIT_CODE=3"\nGOTO :finish\n'
        ':launch\nSET "EXIT_CODE=0"\n'),
    "exit: DRY_RUN leaves from inside a block": (
        'IF /I "!DRY_RUN!"=="true" (\n    ECHO DRY_RUN: !CMD!\n    endlocal & exit /b 0\n)\n',
        'IF /I "!DRY_RUN!"=="true" (\n    ECHO DRY_RUN: !CMD!\n    SET "EXIT_CODE=0"\n    GOTO :finish\n)\n'),
    "exit: GOTO :EOF in the main body": (
        'IF NOT EXIST "venv" GOTO :EOF\nSET "EXIT_CODE=0"\n',
        'IF NOT EXIST "venv" GOTO :finish\nSET "EXIT_CODE=0"\n'),
    "exit: falling through into a subroutine": (
        'CALL :helper\nSET "EXIT_CODE=0"\n:helper\nECHO helping\nGOTO :EOF\n',
        'CALL :helper\nSET "EXIT_CODE=0"\nGOTO :finish\n:helper\nECHO helping\nGOTO :EOF\n'),
    "exit: a PAUSE of its own": (
        'ECHO No venv here yet\nPAUSE\n',
        'ECHO No venv here yet\n'),
    "stale: %VAR% set in the same block": (
        'IF NOT EXIST "venv" (\n    SET "PY=venv\\Scripts\\python.exe"\n    "%PY%" -m venv venv\n)\n',
        'IF NOT EXIST "venv" (\n    SET "PY=venv\\Scripts\\python.exe"\n    "!PY!" -m venv venv\n)\n'),
    "stale: %VAR% set earlier on the same line": (
        'SET "TAG=cu126" & ECHO "%TAG%"\n',
        'SET "TAG=cu126" & ECHO "!TAG!"\n'),
    "unquoted: ECHO %PYTHON_EXE% in a block, (x86) ends it": (
        'IF NOT DEFINED PYTHON_EXE SET "PYTHON_EXE=python"\nIF NOT EXIST "venv" (\n'
        '    ECHO Creating venv with %PYTHON_EXE% ...\n    "%PYTHON_EXE%" -m venv venv\n)\n',
        'IF NOT DEFINED PYTHON_EXE SET "PYTHON_EXE=python"\nIF NOT EXIST "venv" (\n'
        '    ECHO Creating venv with "%PYTHON_EXE%" ...\n    "%PYTHON_EXE%" -m venv venv\n)\n'),
    "unquoted: IF %CUDA_MAJOR% EQU 12 with an unreadable version": (
        'FOR /F "tokens=1 delims=." %%A IN ("!V!") DO SET "CUDA_MAJOR=%%A"\n'
        'IF %CUDA_MAJOR% EQU 12 SET "TAG=cu128"\n',
        'SET /A "CUDA_MAJOR=0"\nFOR /F "tokens=1 delims=." %%A IN ("!V!") DO SET /A "CUDA_MAJOR=%%A"\n'
        'IF %CUDA_MAJOR% EQU 12 SET "TAG=cu128"\n'),
    "unquoted: & in an echoed folder name": (
        'ECHO === phase1: checkpoints in %CHECKPOINT_OUTPUT_DIR%\n',
        'ECHO === phase1: checkpoints in "%CHECKPOINT_OUTPUT_DIR%"\n'),
    "unquoted: a script argument": (
        'ECHO phase %~1\n',
        'ECHO phase "%~1"\n'),
    "path: an unquoted path flag": (
        'SET "CMD=python"\nSET "CMD=!CMD! --checkpoint_dir !CHECKPOINT_OUTPUT_DIR!"\n',
        'SET "CMD=python"\nCALL :normalise_path CHECKPOINT_OUTPUT_DIR\n'
        'SET "CMD=!CMD! --checkpoint_dir "!CHECKPOINT_OUTPUT_DIR!""\n'),
    "path: a quoted path that can end in a backslash": (
        'SET "CMD=python"\nSET "CMD=!CMD! --video_data_path "!VIDEO_DATA_PATH!""\n',
        'SET "CMD=python"\nCALL :normalise_path VIDEO_DATA_PATH\n'
        'SET "CMD=!CMD! --video_data_path "!VIDEO_DATA_PATH!""\n'),
    "path: a quoted name that can end in a backslash": (
        'SET "CMD=python"\nSET "CMD=!CMD! --wandb_run_name "!WANDB_RUN_NAME!""\n',
        'SET "CMD=python"\nCALL :strip_trailing_backslashes WANDB_RUN_NAME\n'
        'SET "CMD=!CMD! --wandb_run_name "!WANDB_RUN_NAME!""\n'),
}


def _stubs(body: str) -> str:
    """Empty versions of the subroutines a snippet CALLs."""
    return "".join(f":{label}\nGOTO :EOF\n" for label in ("normalise_path", "strip_trailing_backslashes")
                   if f"CALL :{label}" in body)


@pytest.mark.parametrize("rule", sorted(BAD_AND_GOOD))
def test_static_checker_rule_fires_on_the_bad_snippet_only(rule):
    bad, good = BAD_AND_GOOD[rule]
    kind = rule.split(":")[0]
    bad_problems = lint_bat(HEAD + bad + "GOTO :finish\n" + _stubs(bad) + _tail())
    assert any(p.startswith(kind + ":") for p in bad_problems), bad_problems
    assert lint_bat(HEAD + good + "GOTO :finish\n" + _stubs(good) + _tail()) == []


def test_static_checker_needs_delayed_expansion_for_bang_variables():
    body = 'ECHO !X!\nGOTO :finish\n' + _tail()
    text = (HEAD.replace(" EnableDelayedExpansion", "") + body).replace("setlocal EnableDelayedExpansion", "")
    assert any(p.startswith("delayed:") for p in lint_bat(text))
    assert not any(p.startswith("delayed:") for p in lint_bat(HEAD + body))


def test_static_checker_pause_logic_must_read_cmdcmdline():
    body = 'SET "EXIT_CODE=0"\n'
    weak = _tail().replace('IF /I "!PAUSE_AT_END!"=="auto" IF NOT DEFINED CI',
                           'IF /I "!PAUSE_AT_END!"=="never"')
    assert any("CMDCMDLINE" in p for p in lint_bat(HEAD + body + weak))
    assert lint_bat(HEAD + body + _tail()) == []
    no_call = _tail().replace('IF "%LAUNCHER_OUTER%"=="1" CALL :pause_if_asked', 'REM no pause')
    assert any("does not CALL :pause_if_asked" in p for p in lint_bat(HEAD + body + no_call))


OLD_SETUP_BAT = r"""@ECHO OFF
setlocal EnableExtensions
cd /d "%~dp0"
SET "PY=venv\Scripts\python.exe"
SET "TAG=cpu"
WHERE nvcc >NUL 2>&1
IF ERRORLEVEL 1 GOTO :cpu
SET "TAG=cu126"
:cpu
SET "TORCH_INDEX_URL=https://download.pytorch.org/whl/%TAG%"
"%PY%" -m pip install torch==%TORCH_VERSION% torchvision==%TORCHVISION_VERSION% --index-url %TORCH_INDEX_URL%
"""


def test_setup_scripts_find_gpus_by_driver_and_switch_torch_builds():
    assert lint_setup((ROOT / "setup.bat").read_text(), windows=True) == []
    assert lint_setup((ROOT / "setup.sh").read_text(), windows=False) == []
    old = lint_setup(OLD_SETUP_BAT, windows=True)
    for kind in ("gpu: nvidia-smi", "torch:", "folder:"):
        assert any(p.startswith(kind) for p in old), (kind, old)
    # with --force-reinstall the reinstall rule is satisfied too
    forced = OLD_SETUP_BAT.replace("--index-url", "--force-reinstall --index-url")
    assert not any(p.startswith("torch:") for p in lint_setup(forced, windows=True))


def test_setup_bat_and_sh_choose_the_same_wheel_for_a_cuda_version():
    bat = dict(re.findall(r'IF %CUDA_CODE% GEQ (\d+) SET "TAG=(cu\d+)"', (ROOT / "setup.bat").read_text()))
    sh = dict(re.findall(r"code >= (\d+) \)\); then tag=(cu\d+)", (ROOT / "setup.sh").read_text()))
    assert bat == sh == {"1208": "cu128", "1300": "cu130"}
    for text in ((ROOT / "setup.bat").read_text(), (ROOT / "setup.sh").read_text()):
        assert "1200" in text and "cu126" in text   # 12.0-12.7: cu126; older drivers: the CPU build


FAKE_TORCH = """import os
_state = os.environ["FAKE_TORCH_STATE"]
if not os.path.exists(_state):
    raise ImportError("torch is not installed")
__version__, _cuda = (open(_state).read().split() + [""])[:2]
class version:
    cuda = _cuda or None
class cuda:
    @staticmethod
    def is_available():
        return version.cuda is not None
"""
# pip as far as setup.sh needs it: an installed torch==2.14.1 of any build satisfies the requirement
FAKE_PYTHON = """#!/bin/bash
echo "python $*" >> "$FAKE_LOG"
state="$FAKE_TORCH_STATE"
case "$1 $2 $3" in
    "-c "*) exec "$REAL_PYTHON" "$@" ;;
    "-m pip show") [[ -f "$state" ]]; exit ;;
    "-m pip uninstall") rm -f "$state"; exit 0 ;;
    "-m pip install")
        if [[ "$*" == *torch==* && ! -f "$state" ]]; then
            tag="${@: -1}"; tag="${tag##*/}"; cuda=""
            [[ "$tag" == cu* ]] && cuda="${tag:2:2}.${tag:4}"
            echo "2.14.1+$tag $cuda" > "$state"
        fi
        exit 0 ;;
esac
exit 0
"""


def _setup_sh(tmp_path, smi: str | None, nvcc: str | None, installed: tuple[str, str] | None):
    """Run setup.sh in a copy of the project with a fake venv python, pip, torch, nvidia-smi and nvcc.
    Returns its output, the pip calls and the torch build installed at the end."""
    project = tmp_path / "project"
    (project / "draftPY" / "wubugaad").mkdir(parents=True)
    (project / "draftPY" / "wubugaad" / "__init__.py").write_text("")
    (project / "setup.sh").write_text((ROOT / "setup.sh").read_text())
    (project / "requirements.txt").write_text("torch==2.14.1\n")
    fakes = tmp_path / "fakes"
    (fakes / "torch").mkdir(parents=True)
    (fakes / "torch" / "__init__.py").write_text(FAKE_TORCH)
    (fakes / "torchvision.py").write_text("")
    python = project / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sed", "head", "dirname", "cat", "rm"):
        real = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True)
        (bin_dir / tool).symlink_to(real.stdout.strip())
    for name, output in (("nvidia-smi", smi), ("nvcc", nvcc)):
        if output is not None:
            (bin_dir / name).write_text(f"#!/bin/bash\ncat <<'OUT'\n{output}\nOUT\n")
            (bin_dir / name).chmod(0o755)
    log, state = tmp_path / "log", tmp_path / "torch_state"
    if installed:
        state.write_text(f"{installed[0]} {installed[1]}")
    env = {"PATH": str(bin_dir), "FAKE_LOG": str(log), "REAL_PYTHON": sys.executable,
           "PYTHONPATH": str(fakes), "HOME": str(tmp_path), "FAKE_TORCH_STATE": str(state)}
    done = subprocess.run(["/bin/bash", str(project / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    calls = [x for x in log.read_text().splitlines() if " -m pip " in x]
    return done.stdout, calls, state.read_text().split()[0]


def _smi(cuda: str) -> str:
    return ("+-----------------------------------------------------------------------------------------+\n"
            f"| NVIDIA-SMI 570.86.15    Driver Version: 570.86.15    CUDA Version: {cuda}     |\n"
            "|-------------------------------+----------------------+----------------------+")


NVCC = "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.6, V12.6.85"


@pytest.mark.parametrize("smi, nvcc, installed, wheel, replaced", [
    (_smi("12.8"), None, ("2.14.1+cpu", ""), "cu128", True),      # a GPU appeared: the CPU build goes
    (_smi("12.8"), None, ("2.14.1+cu128", "12.8"), "cu128", False),
    (_smi("13.0"), NVCC, None, "cu130", False),                    # the driver wins over the toolkit
    (_smi("12.4"), None, ("2.14.1+cu128", "12.8"), "cu126", True),
    (_smi("11.8"), None, None, "cpu", False),                      # driver too old for torch 2.14
    (None, NVCC, None, "cu126", False),                            # toolkit only
    (None, None, ("2.14.1+cu128", "12.8"), "cpu", True),           # no GPU any more
    ("NVIDIA-SMI has failed", None, None, "cu126", False),         # unreadable: a CUDA build anyway
])
def test_setup_sh_picks_the_wheel_for_the_driver_and_replaces_other_builds(tmp_path, smi, nvcc, installed,
                                                                          wheel, replaced):
    out, calls, final = _setup_sh(tmp_path, smi, nvcc, installed)
    assert final == f"2.14.1+{wheel}", out
    install = [c for c in calls if "torch==2.14.1" in c]
    assert len(install) == 1 and install[0].endswith(f"--index-url https://download.pytorch.org/whl/{wheel}")
    uninstall = [i for i, c in enumerate(calls) if "uninstall -y torch torchvision" in c]
    assert bool(uninstall) is replaced, out
    if replaced:
        assert uninstall[0] < calls.index(install[0])


def test_windows_argv_follows_the_documented_rules():
    # the examples of Microsoft's "Parsing C command-line arguments"
    cases = {
        '"a b c" d e': ["a b c", "d", "e"],
        r'"ab\"c" "\\" d': ['ab"c', "\\", "d"],
        r'a\\\b d"e f"g h': [r"a\\\b", "de fg", "h"],
        r'a\\\"b c d': [r'a\"b', "c", "d"],
        r'a\\\\"b c" d e': [r"a\\b c", "d", "e"],
        'a"b"" c d': ['ab" c d'],
    }
    for line, expected in cases.items():
        assert windows_argv("prog " + line)[1:] == expected, line
    program = r"C:\Program Files (x86)\py\python.exe"
    assert windows_argv(f'"{program}" x') == [program, "x"]
    assert cmd_unquoted_specials('a "b&c" d&e ^') == ["&", "^"]


def _values(**overrides) -> dict[str, str]:
    values = {k: v for k, v in bat_defaults().items() if k not in LAUNCHER_ONLY}
    values.update(overrides)
    return values


AWKWARD = {
    "VIDEO_DATA_PATH": "D:\\videos\\",                                       # trailing backslash
    "VALIDATION_VIDEO_PATH": "C:\\Program Files (x86)\\clips & more\\val.mp4",
    "CHECKPOINT_OUTPUT_DIR": "runs\\my run (x86) & co\\",                   # relative, from the project root
    "CACHE_DIR": "E:\\",                                                     # a drive root
    "LOAD_CHECKPOINT": "\\\\nas\\share\\R&D\\best.pt",
    "LPIPS_WEIGHTS": "D:\\weights\\\\",
    "WANDB_PROJECT": "Wu Bu & GAAD",
    "WANDB_RUN_NAME": "run (x86) & more\\",
}
INTENDED = {
    "--video_data_path": "D:\\videos",
    "--validation_video_path": "C:\\Program Files (x86)\\clips & more\\val.mp4",
    "--checkpoint_dir": WIN_ROOT + "\\runs\\my run (x86) & co",
    "--cache_dir": "E:\\.",
    "--load_checkpoint": "\\\\nas\\share\\R&D\\best.pt",
    "--lpips_weights": "D:\\weights",
    "--wandb_project": "Wu Bu & GAAD",
    "--wandb_run_name": "run (x86) & more",
}


@pytest.mark.parametrize("nproc", [1, 2])
def test_bat_command_reaches_python_as_the_intended_argv(nproc):
    python = "C:\\Program Files (x86)\\Python 3.12\\python.exe"
    argv = bat_argv(_values(**AWKWARD), nproc=nproc, python=python)
    assert windows_argv(bat_command_line(_values(**AWKWARD), nproc=nproc, python=python))[0] == python
    for flag, value in INTENDED.items():
        assert argv[argv.index(flag) + 1] == value, flag
    # nothing merged or split: every flag is followed by its own value, and the parser reads them back
    reference = bat_argv(_values(**{k: "C:\\plain" for k in AWKWARD}))
    assert [t for t in argv if t.startswith("--")] == [t for t in reference if t.startswith("--")]
    assert len(argv) == len(reference)
    # LOAD_CHECKPOINT=auto stays the keyword
    assert bat_argv(_values(LOAD_CHECKPOINT="auto"))[bat_argv(_values(LOAD_CHECKPOINT="auto")).index(
        "--load_checkpoint") + 1] == "auto"


def test_emulation_catches_the_original_quoting():
    """Without the normalisation lines a trailing backslash escapes the closing quote and the rest of the
    command merges into one argument; an unquoted project name with & splits the command in cmd.exe."""
    lines = [x for x in _lines(MASTER_BAT) if not NORMALISE_LINE.match(x.strip())]
    argv = training_argv(windows_argv(bat_command_line(_values(**AWKWARD), lines=lines)))
    value = argv[argv.index("--video_data_path") + 1]
    assert value.startswith('D:\\videos" --validation_video_path')
    assert "--validation_video_path" not in argv
    with pytest.raises(SystemExit):
        parse(argv)
    unquoted = [x.replace('"!WANDB_PROJECT!"', "!WANDB_PROJECT!") for x in _lines(MASTER_BAT)]
    assert "&" in cmd_unquoted_specials(bat_command_line(_values(**AWKWARD), lines=unquoted))


def test_phase_bat_chain_sets_checkpoints_after_run_folder_normalised():
    text = (DRAFT / "run_phase.bat").read_text()
    assert text.count('IF NOT DEFINED RUN_DIR SET "RUN_DIR=') == 1 and "CALL :normalise_path RUN_DIR" in text
    checkpoint_dir = text.index('SET "CHECKPOINT_OUTPUT_DIR=!RUN_DIR!\\!PHASE!"')
    assert text.index("CALL :normalise_path RUN_DIR") < checkpoint_dir
    assert "LOAD_CHECKPOINT line of draftPY\\!PHASE_FILE!" in text
    assert text.index('SET "EXIT_CODE=3"') < text.index("\n:finish\n")
    for path in DRAFT.glob("phase*.bat"):
        assert 'SET "RUN_DIR=%' not in path.read_text(), f"{path.name} defines the run folder again"
