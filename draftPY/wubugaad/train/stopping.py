"""Stop signals during training: SIGINT (Ctrl-C) and SIGTERM (schedulers, ``kill``) are turned into a flag.

``StopFlag`` is installed by ``trainer.train`` for the whole of training, the final validation, the last
save and the report included (a run ended by ``--max_steps`` or a time limit spends its last seconds
there, and cluster grace periods are 10–30 s). The loop reads the flag after each optimizer step; a
validation reads it before each of its batches and is abandoned (``ValidationAbandonedError``), not the run:
the trainer then saves ``_last.pt`` and exits 130 (SIGINT) or 143 (SIGTERM). With several ranks every
rank must get the signal (``torchrun`` forwards it to all), so that they all leave the validation.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator

from wubugaad.train import exits

__all__ = ["StopFlag", "ValidationAbandonedError", "until_stopped", "raise_if_stopped", "exit_code"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ValidationAbandonedError(RuntimeError):
    """A stop signal arrived during a validation: its remaining batches are not scored."""


class StopFlag:
    """SIGINT/SIGTERM set ``signum`` (the first one received) instead of ending the process."""

    def __init__(self):
        self.signum = 0
        self._previous = {}

    def __enter__(self):
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame):
        self.signum = self.signum or signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def raise_if_stopped(stop: StopFlag | None) -> None:
    if stop is not None and stop.signum:
        raise ValidationAbandonedError(f"validation abandoned: signal {stop.signum}")


def until_stopped(items: Iterable, stop: StopFlag | None) -> Iterator:
    """``items``, checking the flag before each one (``ValidationAbandonedError`` once it is set)."""
    for item in items:
        raise_if_stopped(stop)
        yield item


def exit_code(signum: int) -> int:
    """The documented exit code after a stop signal."""
    return exits.SIGINT if signum == signal.SIGINT else exits.SIGTERM
