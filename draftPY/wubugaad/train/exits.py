"""How a run ends: the entry scripts' exit codes and the errors that map to them (TRAINING_GUIDE lists them).

The phase launchers add 3 (the previous phase left no checkpoint) on their own.
"""

from __future__ import annotations

import contextlib
import errno
import os

__all__ = ["EXIT_CODES", "OK", "CRASH", "BAD_INPUT", "NONFINITE", "WRITE_FAILED", "SIGINT", "SIGTERM",
           "OutputFolderError", "OutputWriteError", "write_failure", "writing"]

OK = 0
CRASH = 1            # an unexpected error during training, with its traceback
BAD_INPUT = 2        # refused before training: flags, videos, checkpoint, output/cache folders
NONFINITE = 4        # --max_consecutive_nonfinite optimizer steps in a row had non-finite gradients
WRITE_FAILED = 5     # an output could not be written during the run (disk full, quota, permissions)
SIGINT = 130         # Ctrl-C; _last.pt saved first
SIGTERM = 143        # SIGTERM; _last.pt saved first
EXIT_CODES = (OK, CRASH, BAD_INPUT, NONFINITE, WRITE_FAILED, SIGINT, SIGTERM)

# errors of a write that say "no room or no right to write", not "the program is wrong"
_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                 getattr(errno, "EDQUOT", errno.ENOSPC)}


class OutputFolderError(ValueError):
    """An output or cache folder cannot be created or written to (a setting to change: exit 2)."""


class OutputWriteError(OSError):
    """A file of the run could not be written; ``path`` names it, ``reason`` is the system's words."""

    def __init__(self, path: str | os.PathLike, reason: str, errno_code: int | None = None):
        super().__init__(errno_code, f"cannot write '{path}': {reason}")
        self.path, self.reason = str(path), reason

    def __str__(self) -> str:
        return self.strerror


def _os_error_in(err: BaseException | None) -> OSError | None:
    """The first OSError in ``err``'s chain (torch.save reports a failed write as a RuntimeError whose
    context is the OSError)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno is not None:
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def write_failure(err: BaseException, path: str | os.PathLike | None = None) -> OutputWriteError | None:
    """``err`` as an ``OutputWriteError`` naming ``path`` (or the error's own file) when it is a failed
    write for lack of space or permission; None for any other error."""
    if isinstance(err, OutputWriteError):
        return err
    found = _os_error_in(err)
    if found is None or found.errno not in _WRITE_ERRNOS:
        return None
    where = path if path is not None else (found.filename or "an output file")
    return OutputWriteError(where, found.strerror or os.strerror(found.errno), found.errno)


@contextlib.contextmanager
def writing(path: str | os.PathLike | None = None):
    """Turn a failed write for lack of space or permission inside the block into ``OutputWriteError``."""
    try:
        yield
    except OSError as err:
        failure = write_failure(err, path)
        if failure is None or failure is err:
            raise
        raise failure from err
