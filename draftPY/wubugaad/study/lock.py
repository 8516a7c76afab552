"""One ablation runner per ``--out`` folder: a lock file naming the runner that holds it.

Two runners on one folder would train the same run folders at once (both resume with ``--load_checkpoint
auto``). ``runner.lock`` is created exclusively (``O_EXCL``: of two runners starting together one wins) and
holds the owner's PID and host; a second runner is refused with one line naming them. A lock left by a
runner killed with SIGKILL is taken over when its PID no longer exists on this host (on another host, or
on Windows where a PID cannot be probed, it is kept and the line says how to remove it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

__all__ = ["LOCK_NAME", "FolderLockedError", "folder_lock"]

LOCK_NAME = "runner.lock"


class FolderLockedError(RuntimeError):
    """Another runner holds the folder."""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host; unknown counts as alive."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # being written right now, or damaged: treated as held by an unknown runner
    return held if isinstance(held, dict) else {}


def _take(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"pid": os.getpid(), "host": socket.gethostname()}, fh)
    return True


@contextlib.contextmanager
def folder_lock(out: Path):
    """Hold ``out/runner.lock`` for the block (``FolderLockedError`` when another runner holds it)."""
    path = Path(out) / LOCK_NAME
    if not _take(path):
        held = _holder(path)
        pid, host = held.get("pid"), held.get("host")
        stale = host == socket.gethostname() and isinstance(pid, int) and not _alive(pid)
        if not (stale and (path.unlink(missing_ok=True) or _take(path))):
            raise FolderLockedError(
                f"{out} is in use by another ablation runner (PID {pid if pid is not None else '?'} on host "
                f"{host or '?'}): wait for it to finish or stop it, or use another --out folder (if that "
                f"runner is gone, delete {path})")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
