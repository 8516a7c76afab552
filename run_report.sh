#!/usr/bin/env bash
# WuBuGAADHybridGen — (re)build the offline run report of a run folder (Windows twin: run_report.bat).
#
# Every setting below is a default that an environment variable of the same name overrides, e.g.
#     RUN_FOLDER=runs/wubugaad_run/phase1 ./run_report.sh
# Relative paths are relative to the project root. Further run folders in EXTRA_ARGS make one page that
# compares them (written to REPORT_FILE, default report_comparison.html at the project root).
# PYTHON_EXE, DRY_RUN, PAUSE_AT_END: as in run_vaegan.sh.
# Exit code: draftPY/wubugaad_report.py's (0 written, 2 bad input).

set -uo pipefail
# RUN_FOLDER   a training run folder (metrics.jsonl, config.json, samples/)
: "${RUN_FOLDER:=runs/wubugaad_run}"
# REPORT_FILE  page to write (empty: RUN_FOLDER/report.html)
: "${REPORT_FILE:=}"

ARGS=("$RUN_FOLDER")
if [[ -n "$REPORT_FILE" ]]; then ARGS+=(--output "$REPORT_FILE"); fi
exec "$(dirname "${BASH_SOURCE[0]}")/draftPY/run_job.sh" "report" draftPY/wubugaad_report.py "${ARGS[@]}"
