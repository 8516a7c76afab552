#!/usr/bin/env bash
# Shared body of the job launchers at the project root (run_demo.sh, run_sample.sh, run_report.sh,
# run_ablation.sh, run_benchmark.sh; Windows twin: run_job.bat).
#
#     run_job.sh JOB SCRIPT [ARGUMENT ...]
#
# Called by a job launcher after it read its settings: runs PYTHON_EXE SCRIPT ARGUMENT... EXTRA_ARGS from
# the project root (SCRIPT and relative paths are relative to it, as in the Windows launchers). The
# launcher-only settings are the master launcher's: PYTHON_EXE (default venv/bin/python next to the
# project, else python3), EXTRA_ARGS (split on spaces, appended), DRY_RUN (true: print the command, one
# shell-quoted line after "DRY_RUN:"), PAUSE_AT_END (true: wait for Enter at the end).
# Exit code: the job's own (each script's docstring lists its codes); 2 when called without a job.

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/draftPY/launcher_lib.sh"

if (( $# < 2 )); then
    echo "run_job.sh is called by the job launchers (run_demo.sh, run_sample.sh, ...): start one of those." >&2
    exit 2
fi
JOB="$1"
SCRIPT="$2"
shift 2
: "${PYTHON_EXE:=}"
: "${EXTRA_ARGS:=}"
: "${DRY_RUN:=false}"
: "${PAUSE_AT_END:=auto}"
use_project_python "$ROOT"
cd "$ROOT" || exit 2
# EXTRA_ARGS is split on spaces on purpose (several flags)
read -r -a EXTRA <<< "$EXTRA_ARGS"
CMD=("$PYTHON_EXE" "$SCRIPT" "$@" "${EXTRA[@]}")

echo "================ WuBuGAADHybridGen: $JOB ================"
if is_true "$DRY_RUN"; then
    print_dry_run "${CMD[@]}"
    exit 0
fi
run_and_exit "$JOB" "" "${CMD[@]}"
