"""Launchers: every flag a .bat/.sh launcher can emit parses; phases chain through checkpoints.

The ``.sh`` launchers are run for real (``DRY_RUN=true`` prints the argv instead of training; the phase
chain trains a tiny model on the video fixture). The ``.bat`` launchers cannot run here: their ``SET``
defaults and one-line-per-flag ``SET "CMD=!CMD! --flag ..."`` lines are read statically, every branch is
evaluated (booleans true and false, optional settings set and empty) and the resulting argv is parsed.
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
SH_CALL = re.compile(r'run_phase\.sh" (\S+)(?: (\S+) (\S+))?$')
BAT_CALL = re.compile(r'run_phase\.bat" (\S+)(?: (\S+) (\S+))?$')
LAUNCHER_ONLY = {"NPROC_PER_NODE", "PYTHON_EXE", "EXTRA_ARGS", "DRY_RUN", "PAUSE_AT_END"}
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
                        {"LEARNING_RATE_GEN": "5e-5", "LEARNING_RATE_DISC": "2e-5"}),
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
                "WUBU_S_ABLATE": ABLATE, "WUBU_M_ABLATE": ABLATE, "WUBU_T_ABLATE": ABLATE}
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


def test_sh_research_defaults_are_the_v01_configuration():
    args = parse(training_argv(dry_run_tokens(MASTER_SH, {})))
    assert (args.image_h, args.image_w, args.num_input_frames, args.num_predict_frames) == (256, 256, 10, 3)
    assert (args.latent_dim, args.gaad_num_regions, args.encoder_initial_tangent_dim) == (512, 24, 192)
    assert args.wubu_s_hyperbolic_dims == [128, 64] and args.wubu_t_hyperbolic_dims == [256, 128]
    assert args.wubu_m_initial_curvatures == [1.0, 0.8] and args.wubu_m_use_rotation
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


# ---------------------------------------------------------------- .bat: static reading --------------------


def bat_argv(values: dict[str, str]) -> list[str]:
    """The argv run_vaegan.bat builds for these setting values (every flag line evaluated)."""
    argv = []
    for line in _lines(MASTER_BAT):
        m = BAT_FLAG_LINE.match(line.strip())
        if not m:
            continue
        cond = m["cond"]
        if cond is not None:
            c = re.fullmatch(r'/I (NOT )?"!(\w+)!"=="true"|DEFINED (\w+)', cond)
            assert c, f"unreadable condition in run_vaegan.bat: {line}"
            if c[3]:
                take = values[c[3]] != ""
            else:
                take = (values[c[2]].lower() == "true") != bool(c[1])
            if not take:
                continue
        rest = re.sub(r"!(\w+)!", lambda v: values[v[1]], m["rest"])
        argv += shlex.split(rest)
    return argv


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
    assert "IF %NPROC_PER_NODE% GTR 1" in text and "--standalone --nproc_per_node=!NPROC_PER_NODE!" in text
    assert 'SET "EXIT_CODE=%ERRORLEVEL%"' in text and "exit /b %EXIT_CODE%" in text
    for path in [MASTER_BAT, *DRAFT.glob("*.bat")]:
        for line in _lines(path):
            if re.search(r"\bPAUSE\s*$", line):
                assert '"%PAUSE_AT_END%"=="true"' in line, f"{path.name}: unconditional pause: {line}"


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
    assert sh_call.groups() == (folder, prev_folder, previous and f"{previous}.sh")
    assert bat_call.groups() == (folder, prev_folder, previous and f"{previous}.bat")
    # the .bat phase on top of run_vaegan.bat's defaults builds a command the parser accepts
    values = {**{k: v for k, v in bat_defaults().items() if k not in LAUNCHER_ONLY}, **bat_set}
    args = parse(bat_argv(values))
    assert args.lambda_kl == float(sh_set["LAMBDA_KL"])


@pytest.mark.parametrize("stem", sorted(PHASES))
def test_phase_sh_loads_previous_best_or_names_the_phase_to_run_first(stem, tmp_path):
    folder, previous, _ = PHASES[stem]
    run_dir = tmp_path / "run"
    env = {"RUN_DIR": str(run_dir)}
    if previous:
        missing = run_sh(DRAFT / f"{stem}.sh", {**env, "DRY_RUN": "true"})
        assert missing.returncode == 3
        assert f"{previous}.sh" in missing.stderr
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
