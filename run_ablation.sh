#!/usr/bin/env bash
# WuBuGAADHybridGen — an ablation study: every variant of a preset x several seeds, one training each
# (Windows twin: run_ablation.bat). TRAINING_GUIDE.md ("Ablation studies") explains the presets and the
# outputs (ablation.csv, ablation.md, ablation.png in OUT). Rerunning the same settings continues a study.
#
# Every setting below is a default that an environment variable of the same name overrides, e.g.
#     GRID=gaad SEEDS=2 OUT=runs/ablation_gaad ./run_ablation.sh
# EXTRA_ARGS is the base training configuration every variant starts from (training flags; empty: the
# quick demo's), e.g. EXTRA_ARGS="--video_data_path /data/train.mp4". Relative paths are relative to the
# project root. PYTHON_EXE, DRY_RUN, PAUSE_AT_END: as in run_vaegan.sh.
# Exit code: draftPY/wubugaad_ablate.py's (0 every run finished, 2 bad input, 130 interrupted).

set -uo pipefail
# GRID         preset (wubu, gaad, motion, generator, optimizer, all) or a JSON/YAML file of variants
: "${GRID:=wubu}"
: "${SEEDS:=3}"
# MAX_STEPS    optimizer steps per run; MINUTES > 0 instead gives the base's first seed that budget
: "${MAX_STEPS:=600}"
: "${MINUTES:=0}"
# EQUAL_TIME   true: with MINUTES, every run trains that long (else every run gets the same steps)
: "${EQUAL_TIME:=false}"
# JOBS         runs at once (the CPU threads are split between them)
: "${JOBS:=1}"
: "${OUT:=runs/ablation_wubu}"
# RETRY_FAILED true: rerun the runs that finished with an error
: "${RETRY_FAILED:=false}"

ARGS=(--grid "$GRID" --seeds "$SEEDS" --max_steps "$MAX_STEPS" --minutes "$MINUTES" --jobs "$JOBS" --out "$OUT")
if [[ "${EQUAL_TIME,,}" == "true" ]]; then ARGS+=(--equal_time); fi
if [[ "${RETRY_FAILED,,}" == "true" ]]; then ARGS+=(--retry_failed); fi
# EXTRA_ARGS follows this "--": the base training configuration
ARGS+=(--)
exec "$(dirname "${BASH_SOURCE[0]}")/draftPY/run_job.sh" "ablation study" draftPY/wubugaad_ablate.py "${ARGS[@]}"
