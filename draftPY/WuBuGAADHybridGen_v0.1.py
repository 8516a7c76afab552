"""WuBuGAADHybridGen training entry: parse the command line, set up, train.

    python draftPY/WuBuGAADHybridGen_v0.1.py [flags]            # one process (CPU or one GPU)
    torchrun --standalone --nproc_per_node=K draftPY/WuBuGAADHybridGen_v0.1.py [flags]

With no flags it trains the small CPU demo configuration on a generated demo video.

Exit codes (``wubugaad.train.exits``, the table in TRAINING_GUIDE.md): 0 finished; 2 bad input before
training (invalid flags, missing/unreadable/short/damaged video, missing validation path, missing or corrupt
checkpoint, missing pretrained weights, an output or cache folder that cannot be made) — one
``error: ...`` line on stderr; 4 too many non-finite steps in a row (``_last.pt`` saved when finite); 5 a
file could not be written (disk full, quota, permissions; the earlier checkpoints are intact); 130 Ctrl-C
and 143 SIGTERM (``_last.pt`` saved first); 1 a crash during training (with its traceback), so launchers
can report failure from the exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wubugaad.data.datasets import DataError  # noqa: E402
from wubugaad.model.motion import MissingWeightsError  # noqa: E402
from wubugaad.train import config, exits, trainer  # noqa: E402
from wubugaad.train.checkpoint import CheckpointError  # noqa: E402

SETUP_ERRORS = (DataError, CheckpointError, MissingWeightsError, FileNotFoundError, ValueError,
                exits.OutputFolderError)


def _error(err: BaseException) -> None:
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    print(f"error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = config.parse_args(argv)
    try:
        session = trainer.setup(args)
    except exits.OutputWriteError as err:
        _error(err)
        return exits.WRITE_FAILED
    except SETUP_ERRORS as err:
        _error(err)
        return exits.BAD_INPUT
    try:
        return trainer.train(session)
    except trainer.NonFiniteError as err:
        _error(err)
        return exits.NONFINITE
    except exits.OutputWriteError as err:
        _error(err)
        return exits.WRITE_FAILED

if __name__ == "__main__":
    sys.exit(main())
