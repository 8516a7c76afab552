#!/usr/bin/env bash
# Phase 2c - KL ramp, step 3: lambda_kl 1e-1, D-FiLM off.
# Starts from phase2b's best checkpoint (RUN_DIR/phase2b) unless LOAD_CHECKPOINT is set.
# Writes RUN_DIR/phase2c (RUN_DIR default: runs/wubugaad_run). Any setting of run_vaegan.sh can be
# overridden from the environment; EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
: "${RUN_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/runs/wubugaad_run}"
: "${LAMBDA_KL:=1e-1}"
: "${DISC_USE_GAAD_FILM_CONDITION:=false}"
: "${EPOCHS:=100}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase2c phase2b phase2b_kl_1e-2.sh
exit $?
