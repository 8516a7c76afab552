#!/usr/bin/env bash
# Phase 1 - reconstruction: lambda_kl 1e-4 (the KL barely acts), D-FiLM off.
# Starts from a fresh model; writes RUN_DIR/phase1.
#
# Any setting of run_vaegan.sh can be overridden from the environment, e.g.
#     LOAD_CHECKPOINT=~/other_best.pt draftPY/phase1_reconstruction.sh
# LOAD_CHECKPOINT and CHECKPOINT_OUTPUT_DIR are set by the phase chain: set them in the environment or on
# their lines below, not in run_vaegan.sh. EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
# ---- where this phase reads and writes (empty: the default)
# RUN_DIR: the run folder holding one sub-folder per phase (default runs/wubugaad_run)
: "${RUN_DIR:=}"
# LOAD_CHECKPOINT: start from this checkpoint instead of a fresh model (auto: the newest in
# CHECKPOINT_OUTPUT_DIR, i.e. resume this phase)
: "${LOAD_CHECKPOINT:=}"
# CHECKPOINT_OUTPUT_DIR: where this phase writes (default RUN_DIR/phase1)
: "${CHECKPOINT_OUTPUT_DIR:=}"
# ---- this phase's settings
: "${LAMBDA_KL:=1e-4}"
: "${DISC_USE_GAAD_FILM_CONDITION:=false}"
: "${EPOCHS:=40}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase1_reconstruction.sh phase1
exit $?
