#!/usr/bin/env bash
# Phase 1 - reconstruction: lambda_kl 1e-4 (the KL barely acts), D-FiLM off.
# Starts fresh unless LOAD_CHECKPOINT is set.
# Writes RUN_DIR/phase1 (RUN_DIR default: runs/wubugaad_run). Any setting of run_vaegan.sh can be
# overridden from the environment; EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
: "${RUN_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/runs/wubugaad_run}"
: "${LAMBDA_KL:=1e-4}"
: "${DISC_USE_GAAD_FILM_CONDITION:=false}"
: "${EPOCHS:=40}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase1
exit $?
