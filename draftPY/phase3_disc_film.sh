#!/usr/bin/env bash
# Phase 3 - discriminator GAAD-FiLM on (new D layers: non-strict load), lambda_kl 1e-1.
# Starts from phase2c's best checkpoint (RUN_DIR/phase2c) unless LOAD_CHECKPOINT is set.
# Writes RUN_DIR/phase3 (RUN_DIR default: runs/wubugaad_run). Any setting of run_vaegan.sh can be
# overridden from the environment; EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
: "${RUN_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/runs/wubugaad_run}"
: "${LAMBDA_KL:=1e-1}"
: "${DISC_USE_GAAD_FILM_CONDITION:=true}"
: "${LOAD_STRICT:=false}"
: "${EPOCHS:=130}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase3 phase2c phase2c_kl_1e-1.sh
exit $?
