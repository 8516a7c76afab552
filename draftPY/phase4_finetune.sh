#!/usr/bin/env bash
# Phase 4 - fine-tune: lower learning rates (G 5e-5, D 2e-5), a stronger adversarial term
# (lambda_gan 0.2, twice the master's: with reconstruction and KL settled, the discriminator
# sharpens detail; a starting point, not a measured optimum), D-FiLM on, lambda_kl 1e-1.
# Starts from phase3's best checkpoint (RUN_DIR/phase3); writes RUN_DIR/phase4.
#
# Any setting of run_vaegan.sh can be overridden from the environment, e.g.
#     LOAD_CHECKPOINT=~/other_best.pt draftPY/phase4_finetune.sh
# LOAD_CHECKPOINT and CHECKPOINT_OUTPUT_DIR are set by the phase chain: set them in the environment or on
# their lines below, not in run_vaegan.sh. EPOCHS is absolute (the epoch count continues across phases).
# See TRAINING_GUIDE.md.

set -a   # export the phase settings to run_vaegan.sh
# ---- where this phase reads and writes (empty: the default)
# RUN_DIR: the run folder holding one sub-folder per phase (default runs/wubugaad_run)
: "${RUN_DIR:=}"
# LOAD_CHECKPOINT: start from this checkpoint instead of phase3's best (auto: the newest in
# CHECKPOINT_OUTPUT_DIR, i.e. resume this phase)
: "${LOAD_CHECKPOINT:=}"
# CHECKPOINT_OUTPUT_DIR: where this phase writes (default RUN_DIR/phase4)
: "${CHECKPOINT_OUTPUT_DIR:=}"
# ---- this phase's settings
: "${LAMBDA_KL:=1e-1}"
: "${DISC_USE_GAAD_FILM_CONDITION:=true}"
: "${LEARNING_RATE_GEN:=5e-5}"
: "${LEARNING_RATE_DISC:=2e-5}"
: "${LAMBDA_GAN:=0.2}"
: "${EPOCHS:=150}"
set +a
"$(dirname "${BASH_SOURCE[0]}")/run_phase.sh" phase4_finetune.sh phase4 phase3 phase3_disc_film.sh
exit $?
