#!/usr/bin/env bash
# Phase 2c - KL ramp, step 3: lambda_kl 1e-1, D-FiLM off.
# Starts from phase2b's best checkpoint (RUN_DIR/phase2b); writes RUN_DIR/phase2c.
#
# Any setting of run_vaegan.sh can be overridden from the environment, e.g.
#     LOAD_CHECKPOINT=~/other_best.pt draftPY/phase2c_kl_1e-1.sh
# LOAD_CHECKPOINT and CHECKPOINT_OUTPUT_DIR are set by the phase chain: set them in the environment or on
# their lines below, not in run_vaegan.sh. EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
# ---- where this phase reads and writes (empty: the default)
# RUN_DIR: the run folder holding one sub-folder per phase (default runs/wubugaad_run)
: "${RUN_DIR:=}"
# LOAD_CHECKPOINT: start from this checkpoint instead of phase2b's best (auto: the newest in
# CHECKPOINT_OUTPUT_DIR, i.e. resume this phase)
: "${LOAD_CHECKPOINT:=}"
# CHECKPOINT_OUTPUT_DIR: where this phase writes (default RUN_DIR/phase2c)
: "${CHECKPOINT_OUTPUT_DIR:=}"
# ---- this phase's settings
: "${LAMBDA_KL:=1e-1}"
: "${DISC_USE_GAAD_FILM_CONDITION:=false}"
: "${EPOCHS:=100}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase2c_kl_1e-1.sh phase2c phase2b phase2b_kl_1e-2.sh
exit $?
