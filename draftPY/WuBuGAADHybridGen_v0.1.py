"""WuBuGAADHybridGen training entry (issue 5): parse the command line, set up, train.

    python draftPY/WuBuGAADHybridGen_v0.1.py [flags]            # one process (CPU or one GPU)
    torchrun --standalone --nproc_per_node=K draftPY/WuBuGAADHybridGen_v0.1.py [flags]

With no flags it trains the small CPU demo configuration on a generated demo video.

Exit codes: 0 finished; 2 bad input before training (invalid flags, missing/unreadable/short video,
missing validation path, missing or corrupt checkpoint, missing pretrained weights) — one ``error: ...``
line on stderr; 130 Ctrl-C and 143 SIGTERM (``_last.pt`` saved first); 1 a crash during training (with
its traceback), so launchers can report failure from the exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wubugaad.data.datasets import DataError  # noqa: E402
from wubugaad.model.motion import MissingWeightsError  # noqa: E402
from wubugaad.train import config, trainer  # noqa: E402
from wubugaad.train.checkpoint import CheckpointError  # noqa: E402

SETUP_ERRORS = (DataError, CheckpointError, MissingWeightsError, FileNotFoundError, ValueError)


def main(argv: list[str] | None = None) -> int:
    args = config.parse_args(argv)
    try:
        session = trainer.setup(args)
    except SETUP_ERRORS as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    return trainer.train(session)


if __name__ == "__main__":
    sys.exit(main())
