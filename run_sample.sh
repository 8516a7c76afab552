#!/usr/bin/env bash
# WuBuGAADHybridGen — samples from a trained checkpoint (Windows twin: run_sample.bat).
#
# Every setting below is a default that an environment variable of the same name overrides, e.g.
#     CHECKPOINT=runs/wubugaad_run/phase4/wubugaad_hybridgen_ckpt_v01_best.pt MODE=generate ./run_sample.sh
# Relative paths are relative to the project root. Writes {MODE}_grid.png and {MODE}.{FORMAT} into
# OUTPUT_DIR. PYTHON_EXE, EXTRA_ARGS, DRY_RUN, PAUSE_AT_END: as in run_vaegan.sh.
# Exit code: draftPY/wubugaad_sample.py's (0 done, 2 bad input, 5 a file could not be written).

set -uo pipefail
# CHECKPOINT   the .pt file the trainer wrote (default: the best one of run_vaegan.sh's default run)
: "${CHECKPOINT:=runs/wubugaad_run/wubugaad_hybridgen_ckpt_v01_best.pt}"
# MODE         predict (continue VIDEO's clips), generate (NUM_SAMPLES futures of each context) or reconstruct
: "${MODE:=predict}"
# VIDEO        video file or folder whose clips give the context (default: run_vaegan.sh's demo video)
: "${VIDEO:=data/demo_video_data_dir}"
# NUM_SAMPLES  generate: futures per context; predict/reconstruct: clips (unless NUM_CLIPS is set)
: "${NUM_SAMPLES:=4}"
# NUM_CLIPS    contexts taken from VIDEO (empty: 2 in generate, else NUM_SAMPLES)
: "${NUM_CLIPS:=}"
# NUM_FRAMES   future frames per sample (empty: the model's; more rolls out past its horizon)
: "${NUM_FRAMES:=}"
: "${OUTPUT_DIR:=runs/samples}"
# FORMAT       mp4, gif or png
: "${FORMAT:=mp4}"
: "${SEED:=0}"
# DEVICE       torch device (empty: cuda when available, else cpu)
: "${DEVICE:=}"

ARGS=(--checkpoint "$CHECKPOINT" --mode "$MODE")
if [[ -n "$VIDEO" ]]; then ARGS+=(--video "$VIDEO"); fi
ARGS+=(--num_samples "$NUM_SAMPLES" --output_dir "$OUTPUT_DIR" --format "$FORMAT" --seed "$SEED")
if [[ -n "$NUM_CLIPS" ]]; then ARGS+=(--num_clips "$NUM_CLIPS"); fi
if [[ -n "$NUM_FRAMES" ]]; then ARGS+=(--num_frames "$NUM_FRAMES"); fi
if [[ -n "$DEVICE" ]]; then ARGS+=(--device "$DEVICE"); fi
exec "$(dirname "${BASH_SOURCE[0]}")/draftPY/run_job.sh" "samples" draftPY/wubugaad_sample.py "${ARGS[@]}"
