"""Who owns a run folder: a fresh run never writes into the outputs of another one.

A folder is *used* when it holds a checkpoint or a non-empty ``metrics.jsonl``. A run may start there only
when it continues that run: ``--load_checkpoint auto`` or a checkpoint file of that folder. Otherwise it is
refused at start-up, before anything is written (a second run would mix its lines into ``metrics.jsonl``,
replace a better ``_best.pt``, have its own periodic checkpoints pruned in favour of the old run's higher
steps, and a later ``auto`` would resume the wrong run). ``--overwrite`` moves the earlier outputs into a
sub-folder ``replaced-<UTC time>`` of the run folder instead (nothing is deleted); the checks read only
the folder's top level, so what was moved aside never counts again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from wubugaad.train import checkpoint, exits
from wubugaad.train.tracking import run_dir

__all__ = ["RunFolderInUseError", "OUTPUT_NAMES", "claim", "outputs_in"]

# what a run writes into its folder besides checkpoints (samples/ and wandb/ are folders)
OUTPUT_NAMES = ("metrics.jsonl", "config.json", "report.html", "samples", "wandb")
ASIDE_PREFIX = "replaced-"


class RunFolderInUseError(exits.OutputFolderError):
    """The run folder holds another run's outputs (exit 2)."""


def _checkpoints(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(f"{checkpoint.CHECKPOINT_PREFIX}_*.pt")
                  if p.is_file() and not p.name.startswith("."))


def _used(folder: Path) -> bool:
    metrics = folder / "metrics.jsonl"
    return bool(_checkpoints(folder)) or (metrics.is_file() and metrics.stat().st_size > 0)


def outputs_in(folder: Path) -> list[Path]:
    """The run outputs at the top of ``folder``: checkpoints, then the files and folders of
    ``OUTPUT_NAMES`` that exist."""
    return _checkpoints(folder) + [folder / name for name in OUTPUT_NAMES if (folder / name).exists()]


def _continues(args, folder: Path) -> bool:
    """True when the run resumes from this folder (``auto``, or one of its checkpoints)."""
    wanted = args.load_checkpoint
    if wanted == "auto":
        return True
    return wanted is not None and Path(wanted).resolve().parent == folder.resolve()


def _flag(args) -> str:
    return "--checkpoint_dir/--run_name" if getattr(args, "run_name", None) else "--checkpoint_dir"


def claim(args, is_main: bool) -> str | None:
    """Check that this run may write into its run folder (module docstring); with ``--overwrite`` the main
    process moves the earlier outputs aside. Returns a line saying where they went, or None.

    Raises ``RunFolderInUseError`` naming the folder and the three ways out.
    """
    folder = run_dir(args)
    if not folder.is_dir() or not _used(folder):
        return None
    if _continues(args, folder):
        if args.overwrite:
            raise RunFolderInUseError(f"--overwrite would move aside the run that --load_checkpoint "
                                      f"{args.load_checkpoint} resumes in '{folder}': drop one of the two")
        return None
    if not args.overwrite:
        found = _checkpoints(folder)
        what = f"{len(found)} checkpoint(s)" if found else "a metrics.jsonl"
        raise RunFolderInUseError(
            f"{_flag(args)}: '{folder}' holds another run's outputs ({what}); resume it with "
            f"--load_checkpoint auto, choose another --run_name or --checkpoint_dir, or pass --overwrite "
            f"to move its outputs aside into '{folder / (ASIDE_PREFIX + '<time>')}'")
    if not is_main:
        return None
    return f"--overwrite: moved the earlier run's outputs in '{folder}' to '{_move_aside(folder)}'"


def _move_aside(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    aside = folder / f"{ASIDE_PREFIX}{stamp}"
    if aside.exists():  # two overwrites within a second
        aside = folder / f"{ASIDE_PREFIX}{stamp}-{os.getpid()}"
    items = outputs_in(folder)
    try:
        aside.mkdir()
        for path in items:
            os.replace(path, aside / path.name)  # same file system: a rename, nothing copied
    except OSError as err:
        raise exits.OutputFolderError(f"--overwrite: cannot move the earlier outputs of '{folder}' aside: "
                                      f"{err.strerror} (fix the folder's permissions or choose another "
                                      f"--checkpoint_dir)") from err
    return aside
