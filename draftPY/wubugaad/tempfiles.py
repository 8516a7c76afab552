"""Temporary files written beside their target and renamed into place, named after their writer.

Name: ``.{target}.{host}-{pid}-{random}.tmp{ext}`` — ``host`` is 8 hex digits of a hash of the machine's
name (runs on several machines may share a folder), ``pid`` the writing process, ``ext`` an optional
extension kept last for writers that choose a format from it (OpenCV). A writer killed with SIGKILL leaves
its temporary behind; ``remove_stale`` deletes the ones whose writer is gone: written on this machine by a
process that no longer exists (``os.kill(pid, 0)``; on Windows, where that would signal the process,
nothing is removed by this rule). Temporaries of live processes and of other machines are never touched.
Names of older versions and the run report's (no writer's machine recorded) are removed once untouched for
``LEGACY_AGE_S`` seconds, since a live writer keeps writing to its file.

Files are created with mode 0o666 minus the umask, like any other output (``mkstemp`` would give 0o600).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import uuid
from pathlib import Path

__all__ = ["temp_path", "open_temp", "remove_stale", "LEGACY_AGE_S"]

LEGACY_AGE_S = 3600.0
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_CURRENT = re.compile(r"^\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?:\.\w+)?$")
# older names: checkpoints `.{name}.{mkstemp 8}.tmp`, caches `{name}.tmp-{pid}-{hex 8}[.ext]`, the
# moving-object test sets `{stem}.tmp{pid}.npy`; and the report's `.{name}.{pid}.tmp` (the report imports
# nothing of the package, so it names its own: no host)
_LEGACY = re.compile(r"^(?:\..+\.\w{8}\.tmp|.+\.tmp-\d+-[0-9a-f]{8}(?:\.\w+)?|\..+\.\d+\.tmp"
                     r"|.+\.tmp\d+\.npy)$")


def temp_path(target: str | os.PathLike, ext: str = "") -> Path:
    """A fresh temporary name for ``target`` in its folder (the file is not created)."""
    target = Path(target)
    return target.with_name(f".{target.name}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{ext}")


def open_temp(target: str | os.PathLike):
    """(binary file object, path) of a new temporary for ``target``, created exclusively."""
    path = temp_path(target)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    return os.fdopen(fd, "wb"), path


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine; unknown counts as alive (its file is kept)."""
    if pid == os.getpid() or os.name != "posix":
        return True  # Windows: os.kill(pid, 0) would send CTRL_C_EVENT, not probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):  # PermissionError: owned by another user
        return True
    return True


def _stale(path: Path, now: float) -> bool:
    match = _CURRENT.match(path.name)
    if match:
        return match["host"] == _HOST and not _alive(int(match["pid"]))
    if _LEGACY.match(path.name):
        try:
            return now - path.stat().st_mtime >= LEGACY_AGE_S
        except FileNotFoundError:
            return False
    return False


def remove_stale(folder: str | os.PathLike, target_name: str | None = None) -> list[Path]:
    """Delete stale temporaries in ``folder`` (only those of ``target_name`` when given); returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    removed = []
    for path in folder.iterdir():
        name = path.name
        if ".tmp" not in name or (target_name is not None and target_name not in name):
            continue
        if path.is_file() and _stale(path, now):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
