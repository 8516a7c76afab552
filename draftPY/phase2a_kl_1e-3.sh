#!/usr/bin/env bash
# Phase 2a - KL ramp, step 1: lambda_kl 1e-3, D-FiLM off.
# Starts from phase1's best checkpoint (RUN_DIR/phase1); writes RUN_DIR/phase2a.
#
# Any setting of run_vaegan.sh can be overridden from the environment, e.g.
#     LOAD_CHECKPOINT=~/other_best.pt draftPY/phase2a_kl_1e-3.sh
# LOAD_CHECKPOINT and CHECKPOINT_OUTPUT_DIR are set by the phase chain: set them in the environment or on
# their lines below, not in run_vaegan.sh. EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
# ---- where this phase reads and writes (empty: the default)
# RUN_DIR: the run folder holding one sub-folder per phase (default runs/wubugaad_run)
: "${RUN_DIR:=}"
# LOAD_CHECKPOINT: start from this checkpoint instead of phase1's best (auto: the newest in
# CHECKPOINT_OUTPUT_DIR, i.e. resume this phase)
: "${LOAD_CHECKPOINT:=}"
# CHECKPOINT_OUTPUT_DIR: where this phase writes (default RUN_DIR/phase2a)
: "${CHECKPOINT_OUTPUT_DIR:=}"
# ---- this phase's settings
: "${LAMBDA_KL:=1e-3}"
: "${DISC_USE_GAAD_FILM_CONDITION:=false}"
: "${EPOCHS:=60}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase2a_kl_1e-3.sh phase2a phase1 phase1_reconstruction.sh
exit $?
