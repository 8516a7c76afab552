#!/usr/bin/env bash
# WuBuGAADHybridGen — master launcher (Linux/macOS twin of run_vaegan.bat).
#
# Every setting below is a default that an environment variable of the same name overrides, e.g.
#     LAMBDA_KL=1e-3 EPOCHS=20 ./run_vaegan.sh
# The phase launchers in draftPY/ (phase1_reconstruction.sh, ...) pre-set some of them and call this file.
# Booleans are true/false. List settings (WUBU_S_HYPERBOLIC_DIMS="128 64") are space-separated.
# Values: the research configuration: the v0.1 launcher's sizes (256x256, 10 context + 3 predicted frames,
# RAFT motion branch, D-FiLM, LPIPS, Q-controller, WandB) with this version's loss weights, learning rates,
# optimizer, GAN warm-up and best-checkpoint metric (README.md, "Defaults that differ from v0.1") and SO(n)
# rotations in every stack. The quick CPU demo is run_demo.sh; the phases: TRAINING_GUIDE.md.
#
# Launcher-only settings:
#   NPROC_PER_NODE   processes (GPUs) on this machine; > 1 runs torchrun --standalone (one node)
#   PYTHON_EXE       interpreter that trains (default: venv/bin/python next to this file, else python3 on
#                    PATH); setup.sh's interpreter for creating venv is BASE_PYTHON
#   EXTRA_ARGS       further flags appended verbatim, e.g. EXTRA_ARGS="--wubu_s_ablate rotation".
#                    Every flag of the entry script has a line below except these, left to it:
#                    --optical_flow_random_init (random RAFT weights: tests and benchmarks only),
#                    --wubu_s_output_dim / --wubu_m_output_dim (deprecated, ignored), --local_rank
#                    (old torch.distributed launchers), --overwrite (a one-off: start fresh in a used run
#                    folder, moving its outputs aside; a standing setting would do it on every run) and
#                    --help
#   DRY_RUN          true: print the command (one shell-quoted line after "DRY_RUN:") instead of running it
#   PAUSE_AT_END     true: wait for Enter before exiting; auto (default) and false: never (auto pauses only
#                    a double-clicked run_vaegan.bat)
#
# Without a GPU (PyTorch sees no CUDA device) it first states the CPU step time and the hours, suggests
# run_demo.sh, and asks once when a person is at the terminal (0 and "Not started." when declined).
# Exit code: the training process's own exit code (0 done, 2 bad input, 1 crash, 4 non-finite
# abort, 5 a file could not be written, 130/143 interrupted; TRAINING_GUIDE.md lists them).
# With NPROC_PER_NODE > 1 it is torchrun's instead: 1 whenever a worker failed, whatever its code.

set -uo pipefail   # no -e: the training exit code is captured and reported below

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

source "$SCRIPT_DIR/draftPY/launcher_lib.sh"

# ---- launcher
: "${NPROC_PER_NODE:=1}"
: "${PYTHON_EXE:=}"
: "${EXTRA_ARGS:=}"
: "${DRY_RUN:=false}"
: "${PAUSE_AT_END:=auto}"

# ---- data, run folder, resume
: "${VIDEO_DATA_PATH:=$SCRIPT_DIR/data/demo_video_data_dir}"
: "${VALIDATION_VIDEO_PATH:=}"
: "${CHECKPOINT_OUTPUT_DIR:=$SCRIPT_DIR/runs/wubugaad_run}"
: "${CACHE_DIR:=$SCRIPT_DIR/.wubugaad_cache}"
: "${LOAD_CHECKPOINT:=}"
: "${LOAD_STRICT:=true}"
: "${KEEP_LAST_N:=3}"
: "${EPOCHS:=100}"
: "${MAX_STEPS:=0}"
: "${BATCH_SIZE:=8}"
: "${GRAD_ACCUM_STEPS:=1}"
: "${IMAGE_H:=256}"
: "${IMAGE_W:=256}"
: "${NUM_CHANNELS:=3}"
: "${NUM_INPUT_FRAMES:=10}"
: "${NUM_PREDICT_FRAMES:=3}"
: "${FRAME_SKIP:=1}"
: "${RESIZE_MODE:=crop}"
: "${DATASET:=video}"
: "${MNIST_PATH:=}"
: "${MOVING_TRAIN_SEQUENCES:=10000}"
: "${MOVING_TEST_SEQUENCES:=10000}"
: "${STREAM_TRAIN_SCENES:=2000}"
: "${STREAM_VAL_SCENES:=64}"
: "${MIN_DECODED_FRACTION:=0.9}"
: "${SCENE_CUT_THRESHOLD:=3.0}"
: "${SEED:=42}"
: "${NUM_WORKERS:=4}"
: "${DETERMINISTIC:=false}"
: "${RUN_NAME:=}"
: "${MAX_TRAIN_MINUTES:=0}"
# ---- encoder: GAAD regions and the motion branch
: "${LATENT_DIM:=512}"
: "${LATENT_MAP_CHANNELS:=0}"
: "${LATENT_LAYOUT:=vector}"
: "${PRIOR:=fixed}"
: "${GAAD_NUM_REGIONS:=24}"
: "${GAAD_DECOMPOSITION_TYPE:=hybrid}"
# golden (the model), grid or random: the theory study's controls, same box count and coverage
: "${GAAD_BOX_LAYOUT:=golden}"
: "${GAAD_MIN_SIZE_PX:=2}"
: "${ENCODER_USE_ROI_ALIGN:=true}"
: "${ENCODER_SHALLOW_CNN_CHANNELS:=32}"
: "${ENCODER_ROI_ALIGN_OUTPUT_H:=4}"
: "${ENCODER_ROI_ALIGN_OUTPUT_W:=4}"
: "${ENCODER_PIXEL_PATCH_SIZE:=16}"
: "${ENCODER_INITIAL_TANGENT_DIM:=192}"
: "${USE_WUBU_MOTION_BRANCH:=true}"
: "${GAAD_MOTION_NUM_REGIONS:=16}"
: "${GAAD_MOTION_DECOMPOSITION_TYPE:=hybrid}"
: "${OPTICAL_FLOW_NET_TYPE:=raft_small}"
: "${OPTICAL_FLOW_WEIGHTS:=}"
: "${FREEZE_FLOW_NET:=true}"
: "${OPTICAL_FLOW_SCALE:=0.5}"
: "${FLOW_STATS_COMPONENTS:=mag_mean angle_mean}"
# ---- generator and discriminator
: "${GEN_BASE_CHANNELS:=64}"
: "${GEN_TEMPORAL_KERNEL_SIZE:=3}"
: "${GEN_FINAL_CONV_KERNEL_SPATIAL:=3}"
: "${RESIDUAL_GENERATOR:=true}"
: "${GENERATOR_TYPE:=spatial}"
: "${GEN_USE_WARP:=true}"
: "${GEN_USE_GAAD_PAINT:=true}"
: "${GEN_ROLLOUT:=true}"
: "${GEN_SYNTHESIS:=false}"
: "${GEN_MASK_INIT_LOGIT:=-4.0}"
: "${GEN_EXTRAPOLATE:=false}"
: "${GEN_CHANGE_PERSISTENCE:=true}"
: "${GEN_FLOW_CONFIDENCE:=false}"
: "${GEN_COPY_BLEND:=false}"
: "${GEN_MAX_FLOW_PX:=32}"
: "${GEN_FLOW_PRIOR:=dis}"
: "${DISCRIMINATOR_TYPE:=spatio_temporal_cnn}"
: "${DISC_APPLY_SPECTRAL_NORM:=true}"
: "${DISC_BASE_DISC_CHANNELS:=64}"
: "${DISC_MAX_DISC_CHANNELS:=512}"
: "${DISC_TEMPORAL_KERNEL_SIZE:=3}"
: "${DISC_STEM_STRIDE:=0}"
: "${DISC_CONTEXT_FRAMES:=2}"
: "${DISC_MIN_HIDDEN_FC_DIM:=128}"
: "${DISC_MAX_HIDDEN_FC_DIM:=512}"
: "${DISC_USE_GAAD_FILM_CONDITION:=true}"
: "${DISC_GAAD_CONDITION_DIM_DISC:=64}"
: "${DISC_PATCH_SIZE:=16}"
: "${DISC_CNN_CHANNELS_2D:=64 128 256}"
# ---- WuBu nesting stacks: S (spatial), M (motion), T (temporal)
: "${WUBU_DROPOUT:=0.1}"
: "${WUBU_REPLACE_WITH_MLP:=false}"
# poincare (the model), euclidean_limit or euclidean_bounded: the theory study's flat twins of every level
: "${WUBU_GEOMETRY:=poincare}"
: "${WUBU_T_NUM_HEADS:=4}"
# SO(n) rotations between levels are on in all three stacks (the seed's recipe; the ablation study
# found removing them within noise: bench/RESULTS.md)
: "${WUBU_S_NUM_LEVELS:=2}"
: "${WUBU_S_HYPERBOLIC_DIMS:=128 64}"
: "${WUBU_S_INITIAL_CURVATURES:=1.0 0.7}"
: "${WUBU_S_USE_ROTATION:=true}"
: "${WUBU_S_PHI_INFLUENCE_CURVATURE:=true}"
: "${WUBU_S_PHI_INFLUENCE_ROTATION_INIT:=false}"
: "${WUBU_S_BOUNDARY_POINTS:=4}"
: "${WUBU_S_TANGENT_FLOW:=true}"
: "${WUBU_S_ABLATE:=}"
: "${WUBU_M_NUM_LEVELS:=2}"
: "${WUBU_M_HYPERBOLIC_DIMS:=128 64}"
: "${WUBU_M_INITIAL_CURVATURES:=1.0 0.8}"
: "${WUBU_M_USE_ROTATION:=true}"
: "${WUBU_M_PHI_INFLUENCE_CURVATURE:=true}"
: "${WUBU_M_PHI_INFLUENCE_ROTATION_INIT:=true}"
: "${WUBU_M_BOUNDARY_POINTS:=4}"
: "${WUBU_M_TANGENT_FLOW:=true}"
: "${WUBU_M_ABLATE:=}"
: "${WUBU_T_NUM_LEVELS:=2}"
: "${WUBU_T_HYPERBOLIC_DIMS:=256 128}"
: "${WUBU_T_INITIAL_CURVATURES:=1.0 0.7}"
: "${WUBU_T_USE_ROTATION:=true}"
: "${WUBU_T_PHI_INFLUENCE_CURVATURE:=true}"
: "${WUBU_T_PHI_INFLUENCE_ROTATION_INIT:=false}"
: "${WUBU_T_BOUNDARY_POINTS:=4}"
: "${WUBU_T_TANGENT_FLOW:=true}"
: "${WUBU_T_ABLATE:=}"
# ---- losses and optimisation
: "${RECON_LOSS:=l1}"
: "${LAMBDA_RECON:=100.0}"
: "${LAMBDA_KL:=1e-4}"
: "${LAMBDA_KL_MAP:=1e-4}"
: "${LAMBDA_RECON_PRIOR:=100.0}"
: "${LAMBDA_GAN:=0.1}"
: "${GAN_START_STEP:=2000}"
: "${GAN_RAMP_STEPS:=2000}"
: "${LEARNING_RATE_GEN:=3e-4}"
: "${LEARNING_RATE_DISC:=1e-4}"
: "${LR_SCHEDULE:=constant}"
: "${LR_SCHEDULE_STEPS:=0}"
: "${LR_WARMUP_STEPS:=0}"
: "${GEOMETRY_LR_MULT:=1.0}"
: "${FREEZE_GEOMETRY:=false}"
# OPTIMIZER: riemannian_adam (AdamW, Riemannian Adam on the Poincare-ball parameters; the ADAM_* lines
# apply) or risgd (RiemannianEnhancedSGD, the seed's optimizer; RISGD_MOMENTUM applies).
# RISGD_MAX_GRAD_NORM caps each parameter's gradient in both.
: "${OPTIMIZER:=riemannian_adam}"
: "${ADAM_BETA1:=0.9}"
: "${ADAM_BETA2:=0.999}"
: "${ADAM_EPS:=1e-8}"
: "${RISGD_MOMENTUM:=0.9}"
: "${WEIGHT_DECAY:=0.01}"
: "${WEIGHT_DECAY_BALL:=false}"
: "${RISGD_MAX_GRAD_NORM:=2.0}"
: "${GLOBAL_MAX_GRAD_NORM:=2.0}"
: "${Q_CONTROLLER_ENABLED:=true}"
: "${USE_AMP:=false}"
: "${AMP_DTYPE:=bf16}"
: "${COMPILE:=false}"
: "${DETECT_ANOMALY:=false}"
: "${MAX_CONSECUTIVE_NONFINITE:=20}"
# ---- augmentation of training batches (each transform per clip, probability 1/2)
: "${AUGMENT:=true}"
: "${AUG_HFLIP:=true}"
: "${AUG_VFLIP:=true}"
: "${AUG_TRANSPOSE:=true}"
: "${AUG_TIME_REVERSE:=true}"
: "${AUG_CHANNEL_PERMUTE:=true}"
# ---- logging, validation, samples
: "${WANDB_ENABLED:=true}"
: "${WANDB_PROJECT:=WuBuGAADHybridGenV01_Comprehensive}"
: "${WANDB_RUN_NAME:=}"
: "${LOG_INTERVAL:=2}"
: "${SAVE_INTERVAL:=1000000}"
: "${LOG_GRAD_NORM:=false}"
: "${WANDB_LOG_TRAIN_RECON_INTERVAL:=25}"
: "${WANDB_LOG_FIXED_NOISE_SAMPLES_INTERVAL:=100}"
: "${USE_LPIPS_FOR_VERIFICATION:=true}"
: "${LPIPS_WEIGHTS:=}"
: "${VALIDATION_SPLIT_FRACTION:=0.1}"
: "${VAL_BLOCK_SIZE:=20}"
: "${VAL_INTERVAL:=0}"
: "${VAL_MAX_CLIPS:=0}"
: "${VAL_NUM_SAMPLES:=0}"
: "${VAL_PRIMARY_METRIC:=pred_psnr}"
: "${EMA_DECAY:=0.99}"
: "${NUM_VAL_SAMPLES_TO_LOG:=2}"
: "${DEMO_NUM_SAMPLES:=4}"
: "${SAMPLE_FORMAT:=mp4}"

# ---- interpreter: the project's venv when there is one
use_project_python "$SCRIPT_DIR"
ENTRY="$SCRIPT_DIR/draftPY/WuBuGAADHybridGen_v0.1.py"
if ! [[ "$NPROC_PER_NODE" =~ ^[1-9][0-9]*$ ]]; then
    echo "ERROR: NPROC_PER_NODE must be a whole number >= 1 (got '$NPROC_PER_NODE')" >&2
    exit 2
fi
if (( NPROC_PER_NODE > 1 )); then
    # torchrun (= python -m torch.distributed.run) on this node only: --standalone picks a free port itself
    LAUNCH=("$PYTHON_EXE" -m torch.distributed.run --standalone "--nproc_per_node=$NPROC_PER_NODE" "$ENTRY")
else
    LAUNCH=("$PYTHON_EXE" "$ENTRY")
fi

# ---- training flags: one line per flag (tests/test_launchers.py reads these lines)
CMD=()
# ---- data, run folder, resume
CMD+=(--video_data_path "$VIDEO_DATA_PATH")
if [[ -n "$VALIDATION_VIDEO_PATH" ]]; then CMD+=(--validation_video_path "$VALIDATION_VIDEO_PATH"); fi
CMD+=(--checkpoint_dir "$CHECKPOINT_OUTPUT_DIR")
CMD+=(--cache_dir "$CACHE_DIR")
if [[ -n "$LOAD_CHECKPOINT" ]]; then CMD+=(--load_checkpoint "$LOAD_CHECKPOINT"); fi
if is_true "$LOAD_STRICT"; then CMD+=(--load_strict); fi
CMD+=(--keep_last_n "$KEEP_LAST_N")
CMD+=(--epochs "$EPOCHS")
CMD+=(--max_steps "$MAX_STEPS")
CMD+=(--batch_size "$BATCH_SIZE")
CMD+=(--grad_accum_steps "$GRAD_ACCUM_STEPS")
CMD+=(--image_h "$IMAGE_H")
CMD+=(--image_w "$IMAGE_W")
CMD+=(--num_channels "$NUM_CHANNELS")
CMD+=(--num_input_frames "$NUM_INPUT_FRAMES")
CMD+=(--num_predict_frames "$NUM_PREDICT_FRAMES")
CMD+=(--frame_skip "$FRAME_SKIP")
CMD+=(--resize_mode "$RESIZE_MODE")
CMD+=(--dataset "$DATASET")
if [[ -n "$MNIST_PATH" ]]; then CMD+=(--mnist_path "$MNIST_PATH"); fi
CMD+=(--moving_train_sequences "$MOVING_TRAIN_SEQUENCES")
CMD+=(--moving_test_sequences "$MOVING_TEST_SEQUENCES")
CMD+=(--stream_train_scenes "$STREAM_TRAIN_SCENES")
CMD+=(--stream_val_scenes "$STREAM_VAL_SCENES")
CMD+=(--min_decoded_fraction "$MIN_DECODED_FRACTION")
CMD+=(--scene_cut_threshold "$SCENE_CUT_THRESHOLD")
CMD+=(--seed "$SEED")
CMD+=(--num_workers "$NUM_WORKERS")
if is_true "$DETERMINISTIC"; then CMD+=(--deterministic); fi
if [[ -n "$RUN_NAME" ]]; then CMD+=(--run_name "$RUN_NAME"); fi
CMD+=(--max_train_minutes "$MAX_TRAIN_MINUTES")
# ---- encoder: GAAD regions and the motion branch
CMD+=(--latent_dim "$LATENT_DIM")
CMD+=(--latent_map_channels "$LATENT_MAP_CHANNELS")
CMD+=(--latent_layout "$LATENT_LAYOUT")
CMD+=(--prior "$PRIOR")
CMD+=(--gaad_num_regions "$GAAD_NUM_REGIONS")
CMD+=(--gaad_decomposition_type "$GAAD_DECOMPOSITION_TYPE")
CMD+=(--gaad_box_layout "$GAAD_BOX_LAYOUT")
CMD+=(--gaad_min_size_px "$GAAD_MIN_SIZE_PX")
if is_true "$ENCODER_USE_ROI_ALIGN"; then CMD+=(--encoder_use_roi_align); fi
CMD+=(--encoder_shallow_cnn_channels "$ENCODER_SHALLOW_CNN_CHANNELS")
CMD+=(--encoder_roi_align_output_h "$ENCODER_ROI_ALIGN_OUTPUT_H")
CMD+=(--encoder_roi_align_output_w "$ENCODER_ROI_ALIGN_OUTPUT_W")
CMD+=(--encoder_pixel_patch_size "$ENCODER_PIXEL_PATCH_SIZE")
CMD+=(--encoder_initial_tangent_dim "$ENCODER_INITIAL_TANGENT_DIM")
if is_true "$USE_WUBU_MOTION_BRANCH"; then CMD+=(--use_wubu_motion_branch); fi
CMD+=(--gaad_motion_num_regions "$GAAD_MOTION_NUM_REGIONS")
CMD+=(--gaad_motion_decomposition_type "$GAAD_MOTION_DECOMPOSITION_TYPE")
CMD+=(--optical_flow_net_type "$OPTICAL_FLOW_NET_TYPE")
if [[ -n "$OPTICAL_FLOW_WEIGHTS" ]]; then CMD+=(--optical_flow_weights "$OPTICAL_FLOW_WEIGHTS"); fi
if is_true "$FREEZE_FLOW_NET"; then CMD+=(--freeze_flow_net); fi
CMD+=(--optical_flow_scale "$OPTICAL_FLOW_SCALE")
CMD+=(--flow_stats_components $FLOW_STATS_COMPONENTS)
# ---- generator and discriminator
CMD+=(--gen_base_channels "$GEN_BASE_CHANNELS")
CMD+=(--gen_temporal_kernel_size "$GEN_TEMPORAL_KERNEL_SIZE")
CMD+=(--gen_final_conv_kernel_spatial "$GEN_FINAL_CONV_KERNEL_SPATIAL")
if is_true "$RESIDUAL_GENERATOR"; then CMD+=(--residual_generator); else CMD+=(--no_residual_generator); fi
CMD+=(--generator_type "$GENERATOR_TYPE")
if is_true "$GEN_USE_WARP"; then CMD+=(--gen_use_warp); else CMD+=(--no_gen_use_warp); fi
if is_true "$GEN_USE_GAAD_PAINT"; then CMD+=(--gen_use_gaad_paint); else CMD+=(--no_gen_use_gaad_paint); fi
if is_true "$GEN_ROLLOUT"; then CMD+=(--gen_rollout); else CMD+=(--no_gen_rollout); fi
if is_true "$GEN_SYNTHESIS"; then CMD+=(--gen_synthesis); else CMD+=(--no_gen_synthesis); fi
CMD+=(--gen_mask_init_logit "$GEN_MASK_INIT_LOGIT")
if is_true "$GEN_EXTRAPOLATE"; then CMD+=(--gen_extrapolate); else CMD+=(--no_gen_extrapolate); fi
if is_true "$GEN_CHANGE_PERSISTENCE"; then CMD+=(--gen_change_persistence); else CMD+=(--no_gen_change_persistence); fi
if is_true "$GEN_FLOW_CONFIDENCE"; then CMD+=(--gen_flow_confidence); else CMD+=(--no_gen_flow_confidence); fi
if is_true "$GEN_COPY_BLEND"; then CMD+=(--gen_copy_blend); else CMD+=(--no_gen_copy_blend); fi
CMD+=(--gen_max_flow_px "$GEN_MAX_FLOW_PX")
CMD+=(--gen_flow_prior "$GEN_FLOW_PRIOR")
CMD+=(--discriminator_type "$DISCRIMINATOR_TYPE")
if is_true "$DISC_APPLY_SPECTRAL_NORM"; then CMD+=(--disc_apply_spectral_norm); fi
CMD+=(--disc_base_disc_channels "$DISC_BASE_DISC_CHANNELS")
CMD+=(--disc_max_disc_channels "$DISC_MAX_DISC_CHANNELS")
CMD+=(--disc_temporal_kernel_size "$DISC_TEMPORAL_KERNEL_SIZE")
CMD+=(--disc_stem_stride "$DISC_STEM_STRIDE")
CMD+=(--disc_context_frames "$DISC_CONTEXT_FRAMES")
CMD+=(--disc_min_hidden_fc_dim "$DISC_MIN_HIDDEN_FC_DIM")
CMD+=(--disc_max_hidden_fc_dim "$DISC_MAX_HIDDEN_FC_DIM")
if is_true "$DISC_USE_GAAD_FILM_CONDITION"; then CMD+=(--disc_use_gaad_film_condition); fi
CMD+=(--disc_gaad_condition_dim_disc "$DISC_GAAD_CONDITION_DIM_DISC")
CMD+=(--disc_patch_size "$DISC_PATCH_SIZE")
CMD+=(--disc_cnn_channels_2d $DISC_CNN_CHANNELS_2D)
# ---- WuBu nesting stacks: S (spatial), M (motion), T (temporal)
CMD+=(--wubu_dropout "$WUBU_DROPOUT")
if is_true "$WUBU_REPLACE_WITH_MLP"; then CMD+=(--wubu_replace_with_mlp); fi
CMD+=(--wubu_geometry "$WUBU_GEOMETRY")
CMD+=(--wubu_t_num_heads "$WUBU_T_NUM_HEADS")
CMD+=(--wubu_s_num_levels "$WUBU_S_NUM_LEVELS")
CMD+=(--wubu_s_hyperbolic_dims $WUBU_S_HYPERBOLIC_DIMS)
CMD+=(--wubu_s_initial_curvatures $WUBU_S_INITIAL_CURVATURES)
if is_true "$WUBU_S_USE_ROTATION"; then CMD+=(--wubu_s_use_rotation); fi
if is_true "$WUBU_S_PHI_INFLUENCE_CURVATURE"; then CMD+=(--wubu_s_phi_influence_curvature); fi
if is_true "$WUBU_S_PHI_INFLUENCE_ROTATION_INIT"; then CMD+=(--wubu_s_phi_influence_rotation_init); fi
CMD+=(--wubu_s_boundary_points "$WUBU_S_BOUNDARY_POINTS")
if is_true "$WUBU_S_TANGENT_FLOW"; then CMD+=(--wubu_s_tangent_flow); else CMD+=(--no_wubu_s_tangent_flow); fi
if [[ -n "$WUBU_S_ABLATE" ]]; then CMD+=(--wubu_s_ablate $WUBU_S_ABLATE); fi
CMD+=(--wubu_m_num_levels "$WUBU_M_NUM_LEVELS")
CMD+=(--wubu_m_hyperbolic_dims $WUBU_M_HYPERBOLIC_DIMS)
CMD+=(--wubu_m_initial_curvatures $WUBU_M_INITIAL_CURVATURES)
if is_true "$WUBU_M_USE_ROTATION"; then CMD+=(--wubu_m_use_rotation); fi
if is_true "$WUBU_M_PHI_INFLUENCE_CURVATURE"; then CMD+=(--wubu_m_phi_influence_curvature); fi
if is_true "$WUBU_M_PHI_INFLUENCE_ROTATION_INIT"; then CMD+=(--wubu_m_phi_influence_rotation_init); fi
CMD+=(--wubu_m_boundary_points "$WUBU_M_BOUNDARY_POINTS")
if is_true "$WUBU_M_TANGENT_FLOW"; then CMD+=(--wubu_m_tangent_flow); else CMD+=(--no_wubu_m_tangent_flow); fi
if [[ -n "$WUBU_M_ABLATE" ]]; then CMD+=(--wubu_m_ablate $WUBU_M_ABLATE); fi
CMD+=(--wubu_t_num_levels "$WUBU_T_NUM_LEVELS")
CMD+=(--wubu_t_hyperbolic_dims $WUBU_T_HYPERBOLIC_DIMS)
CMD+=(--wubu_t_initial_curvatures $WUBU_T_INITIAL_CURVATURES)
if is_true "$WUBU_T_USE_ROTATION"; then CMD+=(--wubu_t_use_rotation); fi
if is_true "$WUBU_T_PHI_INFLUENCE_CURVATURE"; then CMD+=(--wubu_t_phi_influence_curvature); fi
if is_true "$WUBU_T_PHI_INFLUENCE_ROTATION_INIT"; then CMD+=(--wubu_t_phi_influence_rotation_init); fi
CMD+=(--wubu_t_boundary_points "$WUBU_T_BOUNDARY_POINTS")
if is_true "$WUBU_T_TANGENT_FLOW"; then CMD+=(--wubu_t_tangent_flow); else CMD+=(--no_wubu_t_tangent_flow); fi
if [[ -n "$WUBU_T_ABLATE" ]]; then CMD+=(--wubu_t_ablate $WUBU_T_ABLATE); fi
# ---- losses and optimisation
CMD+=(--recon_loss "$RECON_LOSS")
CMD+=(--lambda_recon "$LAMBDA_RECON")
CMD+=(--lambda_kl "$LAMBDA_KL")
CMD+=(--lambda_kl_map "$LAMBDA_KL_MAP")
CMD+=(--lambda_recon_prior "$LAMBDA_RECON_PRIOR")
CMD+=(--lambda_gan "$LAMBDA_GAN")
CMD+=(--gan_start_step "$GAN_START_STEP")
CMD+=(--gan_ramp_steps "$GAN_RAMP_STEPS")
CMD+=(--learning_rate_gen "$LEARNING_RATE_GEN")
CMD+=(--learning_rate_disc "$LEARNING_RATE_DISC")
CMD+=(--lr_schedule "$LR_SCHEDULE")
CMD+=(--lr_schedule_steps "$LR_SCHEDULE_STEPS")
CMD+=(--lr_warmup_steps "$LR_WARMUP_STEPS")
CMD+=(--geometry_lr_mult "$GEOMETRY_LR_MULT")
if is_true "$FREEZE_GEOMETRY"; then CMD+=(--freeze_geometry); fi
CMD+=(--optimizer "$OPTIMIZER")
CMD+=(--adam_beta1 "$ADAM_BETA1")
CMD+=(--adam_beta2 "$ADAM_BETA2")
CMD+=(--adam_eps "$ADAM_EPS")
CMD+=(--risgd_momentum "$RISGD_MOMENTUM")
CMD+=(--weight_decay "$WEIGHT_DECAY")
if is_true "$WEIGHT_DECAY_BALL"; then CMD+=(--weight_decay_ball); fi
CMD+=(--risgd_max_grad_norm "$RISGD_MAX_GRAD_NORM")
CMD+=(--global_max_grad_norm "$GLOBAL_MAX_GRAD_NORM")
if is_true "$Q_CONTROLLER_ENABLED"; then CMD+=(--q_controller_enabled); fi
if is_true "$USE_AMP"; then CMD+=(--use_amp); fi
CMD+=(--amp_dtype "$AMP_DTYPE")
if is_true "$COMPILE"; then CMD+=(--compile); fi
if is_true "$DETECT_ANOMALY"; then CMD+=(--detect_anomaly); fi
CMD+=(--max_consecutive_nonfinite "$MAX_CONSECUTIVE_NONFINITE")
# ---- augmentation of training batches (each transform per clip, probability 1/2)
if is_true "$AUGMENT"; then CMD+=(--augment); else CMD+=(--no_augment); fi
if is_true "$AUG_HFLIP"; then CMD+=(--aug_hflip); else CMD+=(--no_aug_hflip); fi
if is_true "$AUG_VFLIP"; then CMD+=(--aug_vflip); else CMD+=(--no_aug_vflip); fi
if is_true "$AUG_TRANSPOSE"; then CMD+=(--aug_transpose); else CMD+=(--no_aug_transpose); fi
if is_true "$AUG_TIME_REVERSE"; then CMD+=(--aug_time_reverse); else CMD+=(--no_aug_time_reverse); fi
if is_true "$AUG_CHANNEL_PERMUTE"; then CMD+=(--aug_channel_permute); else CMD+=(--no_aug_channel_permute); fi
# ---- logging, validation, samples
if is_true "$WANDB_ENABLED"; then CMD+=(--wandb); fi
CMD+=(--wandb_project "$WANDB_PROJECT")
if [[ -n "$WANDB_RUN_NAME" ]]; then CMD+=(--wandb_run_name "$WANDB_RUN_NAME"); fi
CMD+=(--log_interval "$LOG_INTERVAL")
CMD+=(--save_interval "$SAVE_INTERVAL")
if is_true "$LOG_GRAD_NORM"; then CMD+=(--log_grad_norm); fi
CMD+=(--wandb_log_train_recon_interval "$WANDB_LOG_TRAIN_RECON_INTERVAL")
CMD+=(--wandb_log_fixed_noise_samples_interval "$WANDB_LOG_FIXED_NOISE_SAMPLES_INTERVAL")
if is_true "$USE_LPIPS_FOR_VERIFICATION"; then CMD+=(--use_lpips_for_verification); fi
if [[ -n "$LPIPS_WEIGHTS" ]]; then CMD+=(--lpips_weights "$LPIPS_WEIGHTS"); fi
CMD+=(--validation_split_fraction "$VALIDATION_SPLIT_FRACTION")
CMD+=(--val_block_size "$VAL_BLOCK_SIZE")
CMD+=(--val_interval "$VAL_INTERVAL")
CMD+=(--val_max_clips "$VAL_MAX_CLIPS")
CMD+=(--val_num_samples "$VAL_NUM_SAMPLES")
CMD+=(--val_primary_metric "$VAL_PRIMARY_METRIC")
CMD+=(--ema_decay "$EMA_DECAY")
CMD+=(--num_val_samples_to_log "$NUM_VAL_SAMPLES_TO_LOG")
CMD+=(--demo_num_samples "$DEMO_NUM_SAMPLES")
CMD+=(--sample_format "$SAMPLE_FORMAT")
# EXTRA_ARGS is split on spaces on purpose (several flags)
read -r -a EXTRA <<< "$EXTRA_ARGS"
CMD+=("${EXTRA[@]}")

echo "================ WuBuGAADHybridGen ================"
echo " python          : $PYTHON_EXE (processes: $NPROC_PER_NODE)"
echo " training video  : $VIDEO_DATA_PATH"
echo " validation video: ${VALIDATION_VIDEO_PATH:-(held-out share $VALIDATION_SPLIT_FRACTION)}"
echo " run folder      : $CHECKPOINT_OUTPUT_DIR"
echo " resume from     : ${LOAD_CHECKPOINT:-(fresh start)} (strict: $LOAD_STRICT)"
echo " frames          : ${IMAGE_W}x${IMAGE_H}, $NUM_INPUT_FRAMES context + $NUM_PREDICT_FRAMES predicted"
echo " lambda recon/kl/gan: $LAMBDA_RECON / $LAMBDA_KL / $LAMBDA_GAN; lr G/D: $LEARNING_RATE_GEN / $LEARNING_RATE_DISC"
echo " D-FiLM: $DISC_USE_GAAD_FILM_CONDITION, motion branch: $USE_WUBU_MOTION_BRANCH, epochs: $EPOCHS"
echo "==================================================="

if is_true "$DRY_RUN"; then
    print_dry_run "${LAUNCH[@]}" "${CMD[@]}"
    exit 0
fi

# ---- no GPU: say what the research configuration costs on a CPU before it starts, and point to the demo.
# CPU_SECONDS_PER_STEP: measured, bench/RESULTS.md ("Research configuration against the v0.1 script, re-measured").
# A person at a terminal is asked once (not with PAUSE_AT_END=false); otherwise training goes on.
CPU_SECONDS_PER_STEP=24
"$PYTHON_EXE" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)" 2>/dev/null
if (( $? == 3 )); then
    tenths=$(( CPU_SECONDS_PER_STEP * 10000 / 3600 ))
    echo "NOTE: PyTorch sees no GPU here, so this research configuration trains on the CPU at about"
    echo "      $CPU_SECONDS_PER_STEP s a step (measured: bench/RESULTS.md): $(( tenths / 10 )).$(( tenths % 10 )) hours per 1000 steps."
    if (( MAX_STEPS > 0 )); then
        echo "      MAX_STEPS=$MAX_STEPS: about $(( MAX_STEPS * CPU_SECONDS_PER_STEP / 3600 )) hours."
    fi
    echo "      For a first look run the quick demo instead: ./run_demo.sh (a few minutes)."
    if [[ -t 0 && -t 1 && "${PAUSE_AT_END,,}" != "false" ]]; then
        read -r -p "Train the research configuration on the CPU anyway? [y/N] " answer || answer=""
        if [[ "${answer,,}" != "y" ]]; then
            echo "Not started."
            exit 0
        fi
    fi
fi

mkdir -p "$CHECKPOINT_OUTPUT_DIR" "$CACHE_DIR"
run_and_exit "Training" " Outputs: $CHECKPOINT_OUTPUT_DIR" "${LAUNCH[@]}" "${CMD[@]}"
