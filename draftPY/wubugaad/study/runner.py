"""Ablation studies: every variant × seed trained through the real entry script, one subprocess each.

A study is a base configuration (training flags), a grid (variant name → extra flags; the first variant
is the base, normally with no extra flags), a number of seeds and a budget. Each run lives in
``OUT/runs/<variant>/seed<k>/`` (the run folder of the training script) and is finished once its
``result.json`` exists. Rerunning the same command skips finished runs and resumes unfinished ones from
their newest checkpoint (``--load_checkpoint auto``); a folder holding a different study is refused, and
so is a folder another runner is using (``study/lock.py``). Variant names are normalised into folder
names; two that map to one folder are refused.

Budgets are equal in optimizer steps: ``--max_steps N`` gives every run N steps; ``--minutes M`` first
trains the base variant's first seed for M minutes and gives every other run the steps it reached, so a
slower variant is not penalised by the wall clock. ``--equal_time`` gives every run M minutes instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from wubugaad.study.stats import SAMPLE_COLUMNS
from wubugaad.train import config

STACK_FLAGS = ("--wubu_s_ablate", "--wubu_t_ablate", "--wubu_m_ablate")
# flags the runner sets for every run; a base configuration or grid may not set them
RUNNER_FLAGS = ("--seed", "--checkpoint_dir", "--max_steps", "--max_train_minutes", "--load_checkpoint",
                "--overwrite")
MANY_EPOCHS = "1000000"  # the step budget ends a run; --epochs is absolute, so it must not end it first
OUTPUT_FILES = {"csv": "ablation.csv", "table": "ablation.md", "chart": "ablation.png"}  # in the study folder
SIGNAL_EXITS = (130, 143, -signal.SIGTERM, -signal.SIGINT, -signal.SIGKILL)


def _ablate_all_stacks(component: str) -> list[str]:
    return [token for flag in STACK_FLAGS for token in (flag, component)]


# every WuBu component on: the rotations between levels are off by default, so the study turns them on
ALL_ON = [f"--wubu_{key}_use_rotation" for key in "smt"]
PRESETS: dict[str, dict[str, list[str]]] = {
    "wubu": {"all_on": ALL_ON, "no_distances": ALL_ON + _ablate_all_stacks("distances"),
             "no_spread": ALL_ON + _ablate_all_stacks("spread"),
             "no_rotation": ALL_ON + _ablate_all_stacks("rotation"),
             "plain_mlp": ALL_ON + ["--wubu_replace_with_mlp"]},
    "gaad": {"hybrid": [], "subdivide": ["--gaad_decomposition_type", "subdivide"],
             "spiral": ["--gaad_decomposition_type", "spiral"], "no_paint": ["--no_gen_use_gaad_paint"]},
    "motion": {"no_motion": [], "motion_dis": ["--use_wubu_motion_branch", "--optical_flow_net_type", "dis"]},
    "generator": {"spatial": [], "global": ["--generator_type", "global"], "no_warp": ["--no_gen_use_warp"],
                  "joint": ["--no_gen_rollout"], "no_flow_prior": ["--gen_flow_prior", "none"],
                  "no_latent_map": ["--latent_map_channels", "0"], "synthesis": ["--gen_synthesis"]},
    "optimizer": {"riemannian_adam": ["--optimizer", "riemannian_adam"], "risgd": ["--optimizer", "risgd"]},
    # matched controls of the geometry (docs/ARCHITECTURE.md): is it the curvature, the bounded norm, the
    # nesting at all; the golden ratio, or any boxes of that count and coverage
    "theory": {"default": [], "euclidean_limit": ["--wubu_geometry", "euclidean_limit"],
               "euclidean_bounded": ["--wubu_geometry", "euclidean_bounded"],
               "plain_mlp": ["--wubu_replace_with_mlp"],
               "stacks_off": ["--wubu_s_num_levels", "0", "--wubu_m_num_levels", "0",
                              "--wubu_t_num_levels", "0"],
               "gaad_grid": ["--gaad_box_layout", "grid"], "gaad_random": ["--gaad_box_layout", "random"],
               "no_paint": ["--no_gen_use_gaad_paint"]},
}
# The generative half: which of the latent and the adversarial term make the samples better and
# varied. Every arm scores 10 sampled futures per validation clip (val/sample_*), so the study can rank by
# --metric sample_best_psnr; the deterministic arm's N samples are one prediction N times (diversity 0).
# GAN arms start the adversarial term at step 50 over 50 steps (defaults: 300 + 200), so a study of a few
# hundred steps trains most of its steps with it; --latent_dim 0 is the model without a latent, the
# latent arms use the grid code the decoder reads (LATENT, as bench/bench_stochastic.py), and every arm
# trains without the copy blend, as that benchmark does (a hedge towards copying halves the samples' variety).
SAMPLED = ["--val_num_samples", "10", "--no_gen_copy_blend"]
GAN_ON = ["--lambda_gan", "0.1", "--gan_start_step", "50", "--gan_ramp_steps", "50"]
LATENT = ["--latent_layout", "grid", "--latent_dim", "8", "--lambda_kl", "10"]
PRESETS["vaegan"] = {"deterministic": ["--latent_dim", "0", "--lambda_gan", "0", *SAMPLED],
                     "vae": [*LATENT, "--lambda_gan", "0", *SAMPLED],
                     "gan": ["--latent_dim", "0", *GAN_ON, *SAMPLED],
                     "vaegan": [*LATENT, *GAN_ON, *SAMPLED]}
# not in `all`: its arms compare objectives against its own deterministic base, not components against
# the all-on model (whose defaults already are the vaegan arm)
OWN_BASE_PRESETS = ("vaegan",)


def _all_preset() -> dict[str, list[str]]:
    """Every preset's variants against one base with every WuBu component on."""
    grid = {"base": list(ALL_ON)}
    for name, preset in PRESETS.items():
        if name in OWN_BASE_PRESETS:
            continue
        for variant, flags in list(preset.items())[1:]:
            grid[f"{name}/{variant}"] = flags if flags[:len(ALL_ON)] == ALL_ON else ALL_ON + flags
    return grid


class StudyError(ValueError):
    """A study that cannot run as asked (the message names the problem and the fix)."""


@dataclass(frozen=True)
class Study:
    base: tuple[str, ...]
    grid: dict[str, list[str]]
    seeds: int
    max_steps: int = 0
    minutes: float = 0.0
    equal_time: bool = False

    @property
    def base_variant(self) -> str:
        return next(iter(self.grid))

    def identity(self) -> dict:
        """What makes two studies the same one (a rerun must match it exactly)."""
        return asdict(self) | {"base": list(self.base)}


def load_grid(spec: str) -> dict[str, list[str]]:
    """A preset name, or a JSON/YAML file mapping variant names to flag lists (or one flag string)."""
    if spec == "all":
        return _all_preset()
    if spec in PRESETS:
        return {name: list(flags) for name, flags in PRESETS[spec].items()}
    path = Path(spec)
    if not path.is_file():
        raise StudyError(f"--grid {spec!r} is neither a preset ({', '.join([*PRESETS, 'all'])}) nor a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise StudyError(f"--grid {path}: cannot read it as UTF-8 text ({err})") from err
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as err:
            raise StudyError("--grid: reading YAML needs PyYAML (pip install pyyaml); or write the grid "
                             "as JSON") from err
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            reason = " ".join(str(err).split())
            raise StudyError(f"--grid {path}: not valid YAML ({reason})") from err
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise StudyError(f"--grid {path}: not valid JSON ({err})") from err
    if not isinstance(raw, Mapping) or not raw:
        raise StudyError(f"--grid {path}: expected a mapping of variant name to flags, first one the base")
    return {str(name): _variant_flags(path, name, flags) for name, flags in raw.items()}


def _variant_flags(path: Path, name, flags) -> list[str]:
    """A variant's flags: one string split like a shell line, or a list of plain values (None: none)."""
    if isinstance(flags, str):
        try:
            return shlex.split(flags)
        except ValueError as err:  # an unclosed quote
            raise StudyError(f"--grid {path}: variant {name!r}: {err} in {flags!r}") from err
    if flags is None:
        return []
    if isinstance(flags, list) and all(isinstance(x, str | int | float) and not isinstance(x, bool)
                                       for x in flags):
        return [str(x) for x in flags]
    raise StudyError(f"--grid {path}: variant {name!r} has {flags!r}; give its flags as one string or a "
                     f"list of strings")


def _flags_in(argv: Sequence[str]) -> set[str]:
    return {token.split("=", 1)[0] for token in argv if token.startswith("--")}


def _parse_or_explain(argv: list[str], who: str) -> None:
    """Parse like the training script; a rejection becomes one StudyError naming ``who``."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            config.parse_args(argv)
    except SystemExit as err:
        lines = [line for line in captured.getvalue().splitlines() if line.strip()]
        reason = lines[-1].split("error:", 1)[-1].strip() if lines else f"exit code {err.code}"
        raise StudyError(f"{who}: the training parser rejects its flags: {reason}") from None


def validate(study: Study) -> None:
    """Every problem the study can be checked for before anything runs."""
    if study.seeds < 1:
        raise StudyError(f"--seeds must be >= 1, got {study.seeds}")
    if (study.max_steps > 0) == (study.minutes > 0):
        raise StudyError("give exactly one budget: --max_steps N (optimizer steps) or --minutes M")
    if study.equal_time and study.minutes <= 0:
        raise StudyError("--equal_time needs --minutes M")
    taken = _flags_in(study.base) & set(RUNNER_FLAGS)
    if taken:
        raise StudyError(f"the base configuration sets {', '.join(sorted(taken))}, which the study sets for "
                         "every run: drop it from the base flags")
    folders: dict[str, str] = {}
    for name, flags in study.grid.items():
        folder = variant_folder(name)
        if not name or folder in (".", "") or ".." in folder.split("/") or name.startswith("/") \
                or "\\" in name:
            raise StudyError(f"variant name {name!r} must be a plain name (it becomes a folder name)")
        other = folders.setdefault(folder.casefold(), name)
        if other != name:  # `x` and `x/.` (or `X` on a case-insensitive disk) would share one run folder
            raise StudyError(f"variants {other!r} and {name!r} would share the run folder runs/{folder}: "
                             f"rename one of them")
        clash = _flags_in(flags) & (_flags_in(study.base) | set(RUNNER_FLAGS))
        if clash:
            raise StudyError(f"variant {name!r} sets {', '.join(sorted(clash))}, which the base "
                             "configuration (or the study itself) also sets: remove it from one of them")
        _parse_or_explain([*study.base, *flags], f"variant {name!r}")


def prepare_folder(out: Path, study: Study) -> None:
    """Create ``out`` with ``study.json``, or check that it holds this very study."""
    record = out / "study.json"
    if record.exists():
        held = json.loads(record.read_text(encoding="utf-8"))
        if held != study.identity():
            raise StudyError(f"{out} holds a different study (its study.json differs from this command): "
                             "use another --out folder, or delete that one to start over")
        return
    if out.exists() and any(out.iterdir()):
        raise StudyError(f"{out} is not empty and holds no study.json: choose an empty or new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(record, study.identity())


def _write_json(path: Path, value) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class Run:
    variant: str
    seed: int
    folder: Path


def variant_folder(name: str) -> str:
    """The folder of variant ``name`` under ``runs/``: the name normalised (``x/.`` and ``x//`` are ``x``)."""
    return posixpath.normpath(name) if name else ""


def plan(study: Study, out: Path) -> list[Run]:
    return [Run(name, seed, out / "runs" / variant_folder(name) / f"seed{seed}") for name in study.grid
            for seed in range(study.seeds)]


def read_metrics(folder: Path) -> dict:
    """Last validation scores, step count, mean seconds per step and parameter counts of a run folder."""
    path = folder / "metrics.jsonl"
    found: dict = {"steps": 0}
    step_times = []
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        found["steps"] = max(found["steps"], int(record.get("step", 0)))
        if "val/pred_psnr" in record:
            found.update(pred_psnr=record["val/pred_psnr"], pred_ssim=record.get("val/pred_ssim"),
                         recon_psnr=record.get("val/avg_val_psnr"), recon_ssim=record.get("val/avg_val_ssim"),
                         copy_last_psnr=record.get("val/copy_last_psnr"),
                         flow_extrap_psnr=record.get("val/flow_extrap_psnr"),
                         learned_gain_db=record.get("val/learned_gain_db"),
                         **{key: record.get(f"val/{key}") for key in SAMPLE_COLUMNS})
        if "train/seconds_per_step" in record:
            step_times.append(record["train/seconds_per_step"])
        for key in ("params_gen", "params_disc"):
            if f"model/{key}" in record:
                found[key] = record[f"model/{key}"]
    if step_times:
        found["s_per_step"] = sum(step_times) / len(step_times)
    return found


def _die_with_parent() -> None:
    """Linux: the training process gets SIGTERM (it saves ``_last.pt``) when the runner dies."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Runner:
    """Executes the runs of a study (``jobs`` at a time) and records one ``result.json`` per run."""

    def __init__(self, study: Study, out: Path, entry: Path, jobs: int = 1, retry_failed: bool = False,
                 on_finish: Callable[[dict], None] | None = None):
        self.study, self.out, self.entry = study, out, entry
        self.jobs, self.retry_failed, self.on_finish = max(1, jobs), retry_failed, on_finish
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": str(threads),
                    "MKL_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def result(self, run: Run) -> dict | None:
        path = run.folder / "result.json"
        if not path.exists():
            return None
        done = json.loads(path.read_text(encoding="utf-8"))
        return None if self.retry_failed and done["status"] != "ok" else done

    def _budget(self, steps: int | None) -> list[str]:
        if self.study.equal_time or steps is None:
            return ["--max_train_minutes", repr(self.study.minutes)]
        return ["--max_steps", str(steps)]

    def execute(self, run: Run, steps: int | None) -> dict | None:
        """Train one run to its budget (resuming when it has a checkpoint); returns its result row, or
        None when the study is stopping and the run was not started."""
        with self._lock:
            if self._stopping:
                return None
        run.folder.mkdir(parents=True, exist_ok=True)
        flags = self.study.grid[run.variant]
        argv = [*self.study.base, *flags, "--seed", str(run.seed), "--checkpoint_dir", str(run.folder),
                *self._budget(steps)]
        if "--epochs" not in _flags_in(argv):
            argv += ["--epochs", MANY_EPOCHS]
        # the runner owns its run folders: it resumes a run with a checkpoint, and moves aside what an attempt
        # killed before its first checkpoint left (`train/run_folder.py` refuses such a folder otherwise)
        argv += ["--load_checkpoint", "auto"] if any(run.folder.glob("*.pt")) else ["--overwrite"]
        started = time.monotonic()
        with open(run.folder / "train.log", "a", encoding="utf-8") as log:
            with self._lock:
                if self._stopping:
                    return None
                child = subprocess.Popen([sys.executable, str(self.entry), *argv], stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env, cwd=self.out,
                                         preexec_fn=_die_with_parent if os.name == "posix" else None)
                self._children.add(child)
            code = child.wait()
            with self._lock:
                self._children.discard(child)
        row = {"variant": run.variant, "seed": run.seed, "exit_code": code, "flags": shlex.join(flags),
               "status": "ok" if code == 0 else f"exit {code}", **read_metrics(run.folder)}
        if code == 0 and "pred_psnr" not in row:
            row["status"] = "no validation scores"
        if "s_per_step" not in row and row["steps"] > 0:
            row["s_per_step"] = (time.monotonic() - started) / row["steps"]
        if code not in SIGNAL_EXITS:  # a signalled run is unfinished: the next invocation resumes it
            _write_json(run.folder / "result.json", row)
            if self.on_finish is not None:
                self.on_finish(row)
        return row

    def stop_children(self) -> None:
        """No new runs; running ones get SIGTERM (they save ``_last.pt``) and resume next time."""
        with self._lock:
            self._stopping = True
            for child in self._children:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)

    def run_all(self) -> list[dict]:
        runs = plan(self.study, self.out)
        rows = {run: self.result(run) for run in runs}
        steps = self.study.max_steps or None
        if self.study.minutes > 0 and not self.study.equal_time:
            first = runs[0]  # the base variant's first seed sets everyone's step budget
            if rows[first] is None:
                rows[first] = self.execute(first, None)
            if rows[first] is None or rows[first]["exit_code"] in SIGNAL_EXITS:
                return [row for row in rows.values() if row is not None]
            steps = int(rows[first].get("steps") or 0)
            if steps < 1:
                raise StudyError(f"the base run {first.folder} reached no optimizer step in "
                                 f"{self.study.minutes} minutes ({rows[first]['status']}); see its train.log")
        todo = [run for run in runs if rows[run] is None]
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for run, row in zip(todo, pool.map(lambda r: self.execute(r, steps), todo), strict=True):
                rows[run] = row
        return [rows[run] for run in runs
                if rows[run] is not None and rows[run]["exit_code"] not in SIGNAL_EXITS]

