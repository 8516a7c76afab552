#!/usr/bin/env bash
# Phase 4 - fine-tune: lower learning rates (G 5e-5, D 2e-5), D-FiLM on, lambda_kl 1e-1.
# Starts from phase3's best checkpoint (RUN_DIR/phase3) unless LOAD_CHECKPOINT is set.
# Writes RUN_DIR/phase4 (RUN_DIR default: runs/wubugaad_run). Any setting of run_vaegan.sh can be
# overridden from the environment; EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
: "${RUN_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/runs/wubugaad_run}"
: "${LAMBDA_KL:=1e-1}"
: "${DISC_USE_GAAD_FILM_CONDITION:=true}"
: "${LEARNING_RATE_GEN:=5e-5}"
: "${LEARNING_RATE_DISC:=2e-5}"
: "${EPOCHS:=150}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase4 phase3 phase3_disc_film.sh
exit $?
