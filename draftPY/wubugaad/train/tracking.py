"""Console, tqdm, WandB and local run-folder logging (docs/ARCHITECTURE.md, "Validation and outputs").

Run folder: ``--checkpoint_dir`` itself, or ``--checkpoint_dir/--run_name`` when a run name is given
(``run_dir``). It holds the checkpoints, ``config.json`` (resolved settings), ``metrics.jsonl`` (one JSON
object per logged step: ``{"step": S, "epoch": E, key: value, ...}``; a resumed run first drops the lines
logged after its step, ``drop_metrics_after``), ``samples/`` and, with ``--wandb``, the ``wandb/`` folder.
Progress bars are drawn only when stderr is a terminal (a redirected log would collect one carriage-return
fragment per refresh); console lines go through ``tqdm.write`` so they never cut a bar.

WandB is imported lazily (only with ``--wandb``) and only on rank 0. Mode: ``WANDB_MODE`` when set;
otherwise online when a login exists (``WANDB_API_KEY`` or a ``api.wandb.ai`` netrc entry), else offline,
so a machine without a login never blocks on a prompt.
"""

from __future__ import annotations

import json
import math
import netrc
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from tqdm import tqdm

from wubugaad import tempfiles
from wubugaad.model.losses import LOSS_KEYS
from wubugaad.train import exits
from wubugaad.train.grad_norms import KEYS as GRAD_NORM_KEYS
from wubugaad.train.sample_metrics import sample_key_names
from wubugaad.train.validation import (
    BENCH_METRIC_KEYS,
    LEARNED_GAIN_KEY,
    PER_VIDEO_METRICS,
    VAL_METRIC_KEYS,
    per_video_key,
)

__all__ = ["LOSS_TO_KEY", "WANDB_SCALAR_KEYS", "VAL_METRIC_KEYS", "BENCH_METRIC_KEYS", "VAL_PER_STEP_PATTERN",
           "VAL_PER_VIDEO_PATTERN", "SAMPLE_METRIC_KEYS",
           "GEOMETRY_KEY_PATTERNS", "WANDB_IMAGE_KEYS", "is_declared_key", "run_dir", "wandb_mode",
           "format_step_line", "Tracker"]

# Breakdown key of the losses module → its logged name (v0.1's names).
LOSS_TO_KEY = dict(zip(LOSS_KEYS, (
    "train/loss_recon", "train/loss_forecast", "train/loss_prior", "train/loss_kl", "train/loss_kl_map",
    "train/loss_g_adv",
    "train/loss_g_total",
    "train/loss_d_real", "train/loss_d_fake", "train/loss_d_total",
), strict=True))
# Scalar keys logged every --log_interval steps.
TRAIN_SCALAR_KEYS = (
    *LOSS_TO_KEY.values(), "train/lr_gen", "train/lr_disc", "train/lambda_kl_eff", "train/lambda_gan_eff",
    "train/grad_norm_gen", "train/grad_norm_disc", "train/nonfinite_skipped", "train/seconds_per_step",
)
MODEL_SIZE_KEYS = ("model/params_gen", "model/params_disc")  # logged once, at step 0 of a fresh run
Q_SCALAR_KEYS = tuple(f"q_ctrl_{role}/{name}" for role in ("gen", "disc")
                      for name in ("epsilon", "lrscale", "momentumscale", "avgreward", "qtablesize"))
# Validation metrics are logged as val/<metric>; the benchmark-definition ones and the sampled futures'
# (--val_num_samples > 0: best / mean / worst of N and diversity, train/sample_metrics.py) also per future
# step k = 1 … P as VAL_PER_STEP_PATTERN.
VAL_PER_STEP_PATTERN = "val/{metric}_t{k}"
SAMPLE_METRIC_KEYS = tuple(sample_key_names(with_lpips=True))
WANDB_SCALAR_KEYS = (TRAIN_SCALAR_KEYS + MODEL_SIZE_KEYS + Q_SCALAR_KEYS + GRAD_NORM_KEYS
                     + tuple(f"val/{k}" for k in VAL_METRIC_KEYS + BENCH_METRIC_KEYS + SAMPLE_METRIC_KEYS))
# Geometry scalars: {stack} ∈ wubu_s, wubu_m, wubu_t; {i} the level index.
GEOMETRY_KEY_PATTERNS = (
    "geometry/{stack}/level{i}/curvature", "geometry/{stack}/level{i}/scale",
    "geometry/{stack}/level{i}/spread", "geometry/{stack}/rotation_orthogonality_error",
    "geometry/{stack}/boundary_saturation",
)
WANDB_IMAGE_KEYS = (
    "samples/train_recon", "samples/train_context", "samples/train_ground_truth",
    "samples/val_reconstruction_samples", "samples/val_prediction_samples", "samples/fixed_noise_generated",
    "samples/val_sampled_futures",
)
# With several validation videos, each one's PSNRs and learned gain: {name} is the video's path below the
# folder given (validation.per_video_key).
VAL_PER_VIDEO_PATTERN = "val/" + per_video_key("{name}", "{metric}")
_PER_STEP_METRICS = "|".join(map(re.escape, BENCH_METRIC_KEYS + SAMPLE_METRIC_KEYS))
_PER_VIDEO_METRICS = "|".join(map(re.escape, (*PER_VIDEO_METRICS, LEARNED_GAIN_KEY)))
_DECLARED_PATTERNS = (
    *(re.compile(re.escape(p).replace(r"\{stack\}", "wubu_[smt]").replace(r"\{i\}", r"\d+"))
      for p in GEOMETRY_KEY_PATTERNS),
    re.compile(VAL_PER_STEP_PATTERN.format(metric=f"(?:{_PER_STEP_METRICS})", k=r"\d+")),
    re.compile(re.escape(VAL_PER_VIDEO_PATTERN).replace(r"\{name\}", ".+")
               .replace(r"\{metric\}", f"(?:{_PER_VIDEO_METRICS})")),
)


def is_declared_key(key: str) -> bool:
    """Whether ``key`` is one this module declares (the one list of what a run logs; a test runs a training
    and requires every key it writes to be declared)."""
    if key in WANDB_SCALAR_KEYS or key in WANDB_IMAGE_KEYS:
        return True
    return any(p.fullmatch(key) for p in _DECLARED_PATTERNS)


def run_dir(args) -> Path:
    """``checkpoint_dir`` or ``checkpoint_dir/run_name``."""
    base = Path(args.checkpoint_dir)
    return base / args.run_name if args.run_name else base


def wandb_mode(environ: Mapping[str, str] | None = None) -> str:
    """``WANDB_MODE`` if set, ``online`` when logged in (API key or netrc), else ``offline``."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_MODE"):
        return env["WANDB_MODE"]
    if env.get("WANDB_API_KEY"):
        return "online"
    try:
        if netrc.netrc().authenticators("api.wandb.ai"):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        pass
    return "offline"


def _fmt(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.4f}"


def format_step_line(epoch: int, step: int, scalars: Mapping[str, float]) -> str:
    """v0.1-style console line from the ``train/`` and ``q_ctrl_*`` scalars of one log step."""
    s = lambda k: _fmt(scalars.get(k, float("nan")))  # noqa: E731
    line = (f"E{epoch} S{step} | G_tot:{s('train/loss_g_total')} (Rec:{s('train/loss_recon')} "
            f"KL:{s('train/loss_kl')}")
    if "train/loss_d_total" not in scalars:  # a run without a discriminator (--lambda_gan 0)
        return line + f") | D: off | LR(G):{scalars.get('train/lr_gen', 0.0):.1e}"
    line += (f" Adv:{s('train/loss_g_adv')}) | D_tot:{s('train/loss_d_total')} "
             f"(Real:{s('train/loss_d_real')} Fake:{s('train/loss_d_fake')}) | "
             f"LR(G/D):{scalars.get('train/lr_gen', 0.0):.1e}/{scalars.get('train/lr_disc', 0.0):.1e}")
    if "q_ctrl_gen/epsilon" in scalars:
        q = lambda k: scalars.get(k, float("nan"))  # noqa: E731
        line += (f" | Q_Eps(G/D):{q('q_ctrl_gen/epsilon'):.2f}/{q('q_ctrl_disc/epsilon'):.2f}"
                 f" Q_Scl(G/D):{q('q_ctrl_gen/lrscale'):.2f}/{q('q_ctrl_disc/lrscale'):.2f}")
    return line


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class Tracker:
    """Rank-0 sink for console lines, scalars, images and files; every method is a no-op elsewhere.

    Start-up makes the run folder (``OutputFolderError`` naming the flag when it cannot be a folder) and
    removes temporaries left there by killed writers (``wubugaad.tempfiles``).
    """

    def __init__(self, args, is_main: bool, resolved_config: Mapping | None = None):
        self.args = args
        self.is_main = is_main
        self.dir = run_dir(args)
        self.wandb = None
        if not is_main:
            return
        self._make_folders()
        tempfiles.remove_stale(self.dir)
        self.metrics_path = self.dir / "metrics.jsonl"
        with exits.writing(self.metrics_path):
            self._metrics = open(self.metrics_path, "a", encoding="utf-8")  # noqa: SIM115
        if args.wandb:
            import wandb  # lazy: only runs with --wandb pay for the import

            self.wandb = wandb
            wandb.init(project=args.wandb_project, name=args.wandb_run_name,
                       config=dict(resolved_config or {}), dir=str(self.dir), mode=wandb_mode())

    def _make_folders(self) -> None:
        flag = "--checkpoint_dir/--run_name" if getattr(self.args, "run_name", None) else "--checkpoint_dir"
        try:
            (self.dir / "samples").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise exits.OutputFolderError(
                f"{flag}: cannot create the run folder '{self.dir}': {err.strerror} (a file is in the way or "
                f"the folder is not writable; choose another folder)") from err
        if not os.access(self.dir, os.W_OK | os.X_OK):
            raise exits.OutputFolderError(f"{flag}: the run folder '{self.dir}' is not writable "
                                          f"(choose another folder or fix its permissions)")

    def write_config(self, resolved_config: Mapping) -> None:
        """``config.json``: the resolved settings (written once set-up has succeeded, so a start that fails
        leaves the folder's earlier one in place)."""
        if not self.is_main:
            return
        path = self.dir / "config.json"
        with exits.writing(path):
            path.write_text(json.dumps(resolved_config, indent=2, sort_keys=True, default=str))

    def info(self, message: str) -> None:
        """A console line (tqdm-safe)."""
        if self.is_main:
            tqdm.write(message)

    def progress(self, iterable: Iterable, desc: str, total: int | None = None, leave: bool = False):
        """A tqdm bar on rank 0 when it draws on a terminal; the bare iterable elsewhere (a log file
        would collect one carriage-return fragment per refresh)."""
        if not self.is_main or not _is_terminal(sys.stderr):
            return iterable
        return tqdm(iterable, desc=desc, total=total, leave=leave, dynamic_ncols=True, file=sys.stderr)

    def log_scalars(self, step: int, scalars: Mapping[str, float], epoch: int | None = None) -> None:
        """Append one ``metrics.jsonl`` line and log the same dict to WandB."""
        if not self.is_main or not scalars:
            return
        clean = {k: float(v) for k, v in scalars.items()}
        record = {"step": step, **({"epoch": epoch} if epoch is not None else {}), **clean}
        with exits.writing(self.metrics_path):
            self._metrics.write(json.dumps(record) + "\n")
            self._metrics.flush()
        if self.wandb is not None:
            self.wandb.log(clean, step=step)

    def drop_metrics_after(self, step: int) -> int:
        """Rewrite ``metrics.jsonl`` without the lines logged after ``step`` (a resumed run logs them
        again) and without a line cut short by a kill or damaged (not JSON, not UTF-8); atomic (temp file +
        rename). Returns the number of lines dropped."""
        if not self.is_main:
            return 0
        self._metrics.close()
        kept, dropped = [], 0
        for raw in self.metrics_path.read_bytes().splitlines():
            try:
                line = raw.decode("utf-8")
                record = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                dropped += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] > step:
                dropped += 1
            else:
                kept.append(line + "\n")
        try:
            if dropped:
                self._replace_metrics("".join(kept))
        finally:
            self._metrics = open(self.metrics_path, "a", encoding="utf-8")  # noqa: SIM115
        return dropped

    def validated_at(self, step: int) -> bool:
        """Whether ``metrics.jsonl`` holds validation scores logged at ``step`` (rank 0; False elsewhere)."""
        if not self.is_main or not self.metrics_path.is_file():
            return False
        self._metrics.flush()
        for raw in self.metrics_path.read_bytes().splitlines():
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict) and record.get("step") == step and any(
                    str(k).startswith("val/") for k in record):
                return True
        return False

    def _replace_metrics(self, text: str) -> None:
        tmp = None
        try:
            with exits.writing(self.metrics_path):
                handle, tmp = tempfiles.open_temp(self.metrics_path)
                with handle:
                    handle.write(text.encode("utf-8"))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.metrics_path)
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise

    def log_images(self, step: int, images: Mapping[str, torch.Tensor]) -> None:
        """Log image grids ``(C, H, W)`` in [0, 1] to WandB (the local PNGs are written by the sampler)."""
        if not self.is_main or self.wandb is None or not images:
            return
        to_np = lambda g: (g.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())  # noqa: E731
        self.wandb.log({k: self.wandb.Image(to_np(v)) for k, v in images.items()}, step=step)

    def close(self) -> None:
        if not self.is_main:
            return
        try:
            self._metrics.close()
        except OSError:  # a full disk: what could be flushed was written; closing must not mask the error
            pass
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None
