#!/usr/bin/env bash
# WuBuGAADHybridGen — the quick CPU demo (Windows twin: run_demo.bat).
#
# Trains the small demo model on a generated demo video for a few minutes on a CPU: exactly the README's
# `python3 draftPY/WuBuGAADHybridGen_v0.1.py`, run from the project root, so it writes the same run folder
# (wubugaad_hybridgen_checkpoints_v01: checkpoints, metrics.jsonl, samples, report.html) and ends with the
# same "final validation:" line. EXTRA_ARGS adds training flags (they change the demo), e.g.
#     EXTRA_ARGS="--epochs 5" ./run_demo.sh
# PYTHON_EXE, DRY_RUN, PAUSE_AT_END: as in run_vaegan.sh. Exit code: the training's (0 done, 2 bad input,
# ...; TRAINING_GUIDE.md lists them).

exec "$(dirname "${BASH_SOURCE[0]}")/draftPY/run_job.sh" "quick demo" draftPY/WuBuGAADHybridGen_v0.1.py
