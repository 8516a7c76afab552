#!/usr/bin/env bash
# Shared body of the phase launchers (draftPY/phase*.sh; Windows twin: run_phase.bat).
#
#     run_phase.sh PHASE_FILE PHASE [PREVIOUS_PHASE PREVIOUS_LAUNCHER]
#
# Called by a phase launcher (PHASE_FILE, e.g. phase2a_kl_1e-3.sh) after it exported its settings. The run
# folder RUN_DIR is defined here and only here (default runs/wubugaad_run at the project root); it holds
# one checkpoint sub-folder per phase (RUN_DIR/PHASE, the phase's CHECKPOINT_OUTPUT_DIR unless one is set).
# Unless LOAD_CHECKPOINT is set, the phase starts from the previous phase's best checkpoint (its last one
# when no best was written); when the previous phase has no checkpoint at all it stops with exit code 3 and
# names the launcher to run first. Then run_vaegan.sh runs with the exported settings; its exit code is
# ours. LOAD_CHECKPOINT and CHECKPOINT_OUTPUT_DIR are set here, before run_vaegan.sh applies its defaults.

set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PHASE_FILE="$1"
PHASE="$2"
PREVIOUS_PHASE="${3:-}"
PREVIOUS_LAUNCHER="${4:-}"
# checkpoint names: wubugaad.train.checkpoint.checkpoint_name("best") / ("last")
BEST_NAME=wubugaad_hybridgen_ckpt_v01_best.pt
LAST_NAME=wubugaad_hybridgen_ckpt_v01_last.pt

: "${RUN_DIR:=$(cd "$HERE/.." && pwd)/runs/wubugaad_run}"
[[ "$RUN_DIR" == */ && "$RUN_DIR" != / ]] && RUN_DIR="${RUN_DIR%/}"
: "${CHECKPOINT_OUTPUT_DIR:=$RUN_DIR/$PHASE}"
: "${LOAD_CHECKPOINT:=}"

if [[ -z "$LOAD_CHECKPOINT" && -n "$PREVIOUS_PHASE" ]]; then
    PREVIOUS_BEST="$RUN_DIR/$PREVIOUS_PHASE/$BEST_NAME"
    PREVIOUS_LAST="$RUN_DIR/$PREVIOUS_PHASE/$LAST_NAME"
    if [[ -f "$PREVIOUS_BEST" ]]; then
        LOAD_CHECKPOINT="$PREVIOUS_BEST"
    elif [[ -f "$PREVIOUS_LAST" ]]; then
        echo "note: $PREVIOUS_PHASE has no best checkpoint; starting from its last one ($PREVIOUS_LAST)"
        LOAD_CHECKPOINT="$PREVIOUS_LAST"
    else
        echo "ERROR: $PHASE starts from $PREVIOUS_PHASE's best checkpoint, but there is none at" >&2
        echo "       $PREVIOUS_BEST" >&2
        echo "       Run draftPY/$PREVIOUS_LAUNCHER first, or start from another checkpoint: set LOAD_CHECKPOINT" >&2
        echo "       in the environment or on its line in draftPY/$PHASE_FILE (not in run_vaegan.sh)." >&2
        exit 3
    fi
fi

export RUN_DIR CHECKPOINT_OUTPUT_DIR LOAD_CHECKPOINT
echo "=== $PHASE: checkpoints in $CHECKPOINT_OUTPUT_DIR; start: ${LOAD_CHECKPOINT:-fresh}"
"$HERE/../run_vaegan.sh"
exit $?
