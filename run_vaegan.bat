@ECHO OFF
REM WuBuGAADHybridGen - master launcher (Windows). Linux/macOS twin: run_vaegan.sh.
REM
REM Edit the SET lines below, or pre-set any of them before calling this file: every setting is applied
REM only IF NOT DEFINED, so your own wrappers can override it. The phase launchers in draftPY\
REM (phase1_reconstruction.bat, ...) set LOAD_CHECKPOINT and CHECKPOINT_OUTPUT_DIR themselves: for a
REM phase, set those two in the phase file, not here. Booleans are true/false. Lists
REM (WUBU_S_HYPERBOLIC_DIMS=128 64) use spaces.
REM Values: the research configuration: the v0.1 launcher's sizes (256x256, 10 context + 3 predicted frames,
REM RAFT motion branch, D-FiLM, LPIPS, Q-controller, WandB) with this version's loss weights, learning rates,
REM optimizer, GAN warm-up and best-checkpoint metric (README.md, "Defaults that differ from v0.1") and SO(n)
REM rotations in every stack. The quick CPU demo is run_demo.bat; the phases: TRAINING_GUIDE.md.
REM
REM Launcher-only settings:
REM   NPROC_PER_NODE  processes (GPUs) on this machine; > 1 runs torchrun --standalone (one node)
REM   PYTHON_EXE      interpreter that trains (default: venv\Scripts\python.exe next to this file, else
REM                   python on PATH); setup.bat's interpreter for creating venv is BASE_PYTHON
REM   EXTRA_ARGS      further flags appended verbatim, e.g. --wubu_s_ablate rotation.
REM                   Every flag of the entry script has a SET line below except these, left to
REM                   it: --optical_flow_random_init (random RAFT weights: tests and benchmarks
REM                   only), --wubu_s_output_dim / --wubu_m_output_dim (deprecated, ignored),
REM                   --local_rank (old torch.distributed launchers), --overwrite (a one-off:
REM                   start fresh in a used run folder, moving its outputs aside; a standing
REM                   setting would do it on every run) and --help
REM   DRY_RUN         true: print the command instead of running it
REM   PAUSE_AT_END    auto: wait for a key at the end only when this file was double-clicked in
REM                   Explorer (never in a console, a calling script or CI); true: always; false: never
REM Paths: relative ones are relative to the project root (this folder), whatever the current folder;
REM each is made a full path without a trailing backslash. Paths must not contain "!" or a percent sign.
REM
REM Without a GPU (PyTorch sees no CUDA device) it first states the CPU step time and the hours, suggests
REM run_demo.bat, and asks once when double-clicked (0 and "Not started." when declined).
REM Exit code: the training process's own exit code (0 done, 2 bad input, 1 crash, 4 non-finite
REM abort, 5 a file could not be written, 130/143 interrupted; TRAINING_GUIDE.md lists them).
REM With NPROC_PER_NODE > 1 it is torchrun's instead: 1 whenever a worker failed, whatever its code.
REM Ctrl-C: Python saves its _last.pt checkpoint and exits 130, then cmd asks "Terminate batch job
REM (Y/N)?": N shows the failure message (and the pause), Y closes at once.

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"
SET "SCRIPT_DIR=%~dp0"
IF "%SCRIPT_DIR:~-1%"=="\" SET "SCRIPT_DIR=%SCRIPT_DIR:~0,-1%"
REM pushd (not cd /d): works on a network share too, and relative paths resolve from the project root
pushd "%~dp0" || GOTO :finish
SET "LAUNCHER_PUSHED=1"

REM ---- launcher
IF NOT DEFINED NPROC_PER_NODE SET "NPROC_PER_NODE=1"
IF NOT DEFINED EXTRA_ARGS SET "EXTRA_ARGS="
IF NOT DEFINED DRY_RUN SET "DRY_RUN=false"
IF NOT DEFINED PAUSE_AT_END SET "PAUSE_AT_END=auto"

REM ---- data, run folder, resume
IF NOT DEFINED VIDEO_DATA_PATH SET "VIDEO_DATA_PATH=%SCRIPT_DIR%\data\demo_video_data_dir"
IF NOT DEFINED VALIDATION_VIDEO_PATH SET "VALIDATION_VIDEO_PATH="
IF NOT DEFINED CHECKPOINT_OUTPUT_DIR SET "CHECKPOINT_OUTPUT_DIR=%SCRIPT_DIR%\runs\wubugaad_run"
IF NOT DEFINED CACHE_DIR SET "CACHE_DIR=%SCRIPT_DIR%\.wubugaad_cache"
IF NOT DEFINED LOAD_CHECKPOINT SET "LOAD_CHECKPOINT="
IF NOT DEFINED LOAD_STRICT SET "LOAD_STRICT=true"
IF NOT DEFINED KEEP_LAST_N SET "KEEP_LAST_N=3"
IF NOT DEFINED EPOCHS SET "EPOCHS=100"
IF NOT DEFINED MAX_STEPS SET "MAX_STEPS=0"
IF NOT DEFINED BATCH_SIZE SET "BATCH_SIZE=8"
IF NOT DEFINED GRAD_ACCUM_STEPS SET "GRAD_ACCUM_STEPS=1"
IF NOT DEFINED IMAGE_H SET "IMAGE_H=256"
IF NOT DEFINED IMAGE_W SET "IMAGE_W=256"
IF NOT DEFINED NUM_CHANNELS SET "NUM_CHANNELS=3"
IF NOT DEFINED NUM_INPUT_FRAMES SET "NUM_INPUT_FRAMES=10"
IF NOT DEFINED NUM_PREDICT_FRAMES SET "NUM_PREDICT_FRAMES=3"
IF NOT DEFINED FRAME_SKIP SET "FRAME_SKIP=1"
IF NOT DEFINED RESIZE_MODE SET "RESIZE_MODE=crop"
IF NOT DEFINED DATASET SET "DATASET=video"
IF NOT DEFINED MNIST_PATH SET "MNIST_PATH="
IF NOT DEFINED MOVING_TRAIN_SEQUENCES SET "MOVING_TRAIN_SEQUENCES=10000"
IF NOT DEFINED MOVING_TEST_SEQUENCES SET "MOVING_TEST_SEQUENCES=10000"
IF NOT DEFINED STREAM_TRAIN_SCENES SET "STREAM_TRAIN_SCENES=2000"
IF NOT DEFINED STREAM_VAL_SCENES SET "STREAM_VAL_SCENES=64"
IF NOT DEFINED MIN_DECODED_FRACTION SET "MIN_DECODED_FRACTION=0.9"
IF NOT DEFINED SCENE_CUT_THRESHOLD SET "SCENE_CUT_THRESHOLD=3.0"
IF NOT DEFINED SEED SET "SEED=42"
IF NOT DEFINED NUM_WORKERS SET "NUM_WORKERS=4"
IF NOT DEFINED DETERMINISTIC SET "DETERMINISTIC=false"
IF NOT DEFINED RUN_NAME SET "RUN_NAME="
IF NOT DEFINED MAX_TRAIN_MINUTES SET "MAX_TRAIN_MINUTES=0"
REM ---- encoder: GAAD regions and the motion branch
IF NOT DEFINED LATENT_DIM SET "LATENT_DIM=512"
IF NOT DEFINED LATENT_MAP_CHANNELS SET "LATENT_MAP_CHANNELS=0"
IF NOT DEFINED LATENT_LAYOUT SET "LATENT_LAYOUT=vector"
IF NOT DEFINED PRIOR SET "PRIOR=fixed"
IF NOT DEFINED GAAD_NUM_REGIONS SET "GAAD_NUM_REGIONS=24"
IF NOT DEFINED GAAD_DECOMPOSITION_TYPE SET "GAAD_DECOMPOSITION_TYPE=hybrid"
REM golden (the model), grid or random: the theory study's controls, same box count and coverage
IF NOT DEFINED GAAD_BOX_LAYOUT SET "GAAD_BOX_LAYOUT=golden"
IF NOT DEFINED GAAD_MIN_SIZE_PX SET "GAAD_MIN_SIZE_PX=2"
IF NOT DEFINED ENCODER_USE_ROI_ALIGN SET "ENCODER_USE_ROI_ALIGN=true"
IF NOT DEFINED ENCODER_SHALLOW_CNN_CHANNELS SET "ENCODER_SHALLOW_CNN_CHANNELS=32"
IF NOT DEFINED ENCODER_ROI_ALIGN_OUTPUT_H SET "ENCODER_ROI_ALIGN_OUTPUT_H=4"
IF NOT DEFINED ENCODER_ROI_ALIGN_OUTPUT_W SET "ENCODER_ROI_ALIGN_OUTPUT_W=4"
IF NOT DEFINED ENCODER_PIXEL_PATCH_SIZE SET "ENCODER_PIXEL_PATCH_SIZE=16"
IF NOT DEFINED ENCODER_INITIAL_TANGENT_DIM SET "ENCODER_INITIAL_TANGENT_DIM=192"
IF NOT DEFINED USE_WUBU_MOTION_BRANCH SET "USE_WUBU_MOTION_BRANCH=true"
IF NOT DEFINED GAAD_MOTION_NUM_REGIONS SET "GAAD_MOTION_NUM_REGIONS=16"
IF NOT DEFINED GAAD_MOTION_DECOMPOSITION_TYPE SET "GAAD_MOTION_DECOMPOSITION_TYPE=hybrid"
IF NOT DEFINED OPTICAL_FLOW_NET_TYPE SET "OPTICAL_FLOW_NET_TYPE=raft_small"
IF NOT DEFINED OPTICAL_FLOW_WEIGHTS SET "OPTICAL_FLOW_WEIGHTS="
IF NOT DEFINED FREEZE_FLOW_NET SET "FREEZE_FLOW_NET=true"
IF NOT DEFINED OPTICAL_FLOW_SCALE SET "OPTICAL_FLOW_SCALE=0.5"
IF NOT DEFINED FLOW_STATS_COMPONENTS SET "FLOW_STATS_COMPONENTS=mag_mean angle_mean"
REM ---- generator and discriminator
IF NOT DEFINED GEN_BASE_CHANNELS SET "GEN_BASE_CHANNELS=64"
IF NOT DEFINED GEN_TEMPORAL_KERNEL_SIZE SET "GEN_TEMPORAL_KERNEL_SIZE=3"
IF NOT DEFINED GEN_FINAL_CONV_KERNEL_SPATIAL SET "GEN_FINAL_CONV_KERNEL_SPATIAL=3"
IF NOT DEFINED RESIDUAL_GENERATOR SET "RESIDUAL_GENERATOR=true"
IF NOT DEFINED GENERATOR_TYPE SET "GENERATOR_TYPE=spatial"
IF NOT DEFINED GEN_USE_WARP SET "GEN_USE_WARP=true"
IF NOT DEFINED GEN_USE_GAAD_PAINT SET "GEN_USE_GAAD_PAINT=true"
IF NOT DEFINED GEN_ROLLOUT SET "GEN_ROLLOUT=true"
IF NOT DEFINED GEN_SYNTHESIS SET "GEN_SYNTHESIS=false"
IF NOT DEFINED GEN_MASK_INIT_LOGIT SET "GEN_MASK_INIT_LOGIT=-4.0"
IF NOT DEFINED GEN_EXTRAPOLATE SET "GEN_EXTRAPOLATE=false"
IF NOT DEFINED GEN_CHANGE_PERSISTENCE SET "GEN_CHANGE_PERSISTENCE=true"
IF NOT DEFINED GEN_FLOW_CONFIDENCE SET "GEN_FLOW_CONFIDENCE=false"
IF NOT DEFINED GEN_COPY_BLEND SET "GEN_COPY_BLEND=false"
IF NOT DEFINED GEN_MAX_FLOW_PX SET "GEN_MAX_FLOW_PX=32"
IF NOT DEFINED GEN_FLOW_PRIOR SET "GEN_FLOW_PRIOR=dis"
IF NOT DEFINED DISCRIMINATOR_TYPE SET "DISCRIMINATOR_TYPE=spatio_temporal_cnn"
IF NOT DEFINED DISC_APPLY_SPECTRAL_NORM SET "DISC_APPLY_SPECTRAL_NORM=true"
IF NOT DEFINED DISC_BASE_DISC_CHANNELS SET "DISC_BASE_DISC_CHANNELS=64"
IF NOT DEFINED DISC_MAX_DISC_CHANNELS SET "DISC_MAX_DISC_CHANNELS=512"
IF NOT DEFINED DISC_TEMPORAL_KERNEL_SIZE SET "DISC_TEMPORAL_KERNEL_SIZE=3"
IF NOT DEFINED DISC_STEM_STRIDE SET "DISC_STEM_STRIDE=0"
IF NOT DEFINED DISC_CONTEXT_FRAMES SET "DISC_CONTEXT_FRAMES=2"
IF NOT DEFINED DISC_MIN_HIDDEN_FC_DIM SET "DISC_MIN_HIDDEN_FC_DIM=128"
IF NOT DEFINED DISC_MAX_HIDDEN_FC_DIM SET "DISC_MAX_HIDDEN_FC_DIM=512"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=true"
IF NOT DEFINED DISC_GAAD_CONDITION_DIM_DISC SET "DISC_GAAD_CONDITION_DIM_DISC=64"
IF NOT DEFINED DISC_PATCH_SIZE SET "DISC_PATCH_SIZE=16"
IF NOT DEFINED DISC_CNN_CHANNELS_2D SET "DISC_CNN_CHANNELS_2D=64 128 256"
REM ---- WuBu nesting stacks: S (spatial), M (motion), T (temporal)
IF NOT DEFINED WUBU_DROPOUT SET "WUBU_DROPOUT=0.1"
IF NOT DEFINED WUBU_REPLACE_WITH_MLP SET "WUBU_REPLACE_WITH_MLP=false"
REM poincare (the model), euclidean_limit or euclidean_bounded: the theory study's flat twins of every level
IF NOT DEFINED WUBU_GEOMETRY SET "WUBU_GEOMETRY=poincare"
IF NOT DEFINED WUBU_T_NUM_HEADS SET "WUBU_T_NUM_HEADS=4"
REM SO(n) rotations between levels are on in all three stacks (the seed's recipe; the ablation study
REM found removing them within noise: bench/RESULTS.md)
IF NOT DEFINED WUBU_S_NUM_LEVELS SET "WUBU_S_NUM_LEVELS=2"
IF NOT DEFINED WUBU_S_HYPERBOLIC_DIMS SET "WUBU_S_HYPERBOLIC_DIMS=128 64"
IF NOT DEFINED WUBU_S_INITIAL_CURVATURES SET "WUBU_S_INITIAL_CURVATURES=1.0 0.7"
IF NOT DEFINED WUBU_S_USE_ROTATION SET "WUBU_S_USE_ROTATION=true"
IF NOT DEFINED WUBU_S_PHI_INFLUENCE_CURVATURE SET "WUBU_S_PHI_INFLUENCE_CURVATURE=true"
IF NOT DEFINED WUBU_S_PHI_INFLUENCE_ROTATION_INIT SET "WUBU_S_PHI_INFLUENCE_ROTATION_INIT=false"
IF NOT DEFINED WUBU_S_BOUNDARY_POINTS SET "WUBU_S_BOUNDARY_POINTS=4"
IF NOT DEFINED WUBU_S_TANGENT_FLOW SET "WUBU_S_TANGENT_FLOW=true"
IF NOT DEFINED WUBU_S_ABLATE SET "WUBU_S_ABLATE="
IF NOT DEFINED WUBU_M_NUM_LEVELS SET "WUBU_M_NUM_LEVELS=2"
IF NOT DEFINED WUBU_M_HYPERBOLIC_DIMS SET "WUBU_M_HYPERBOLIC_DIMS=128 64"
IF NOT DEFINED WUBU_M_INITIAL_CURVATURES SET "WUBU_M_INITIAL_CURVATURES=1.0 0.8"
IF NOT DEFINED WUBU_M_USE_ROTATION SET "WUBU_M_USE_ROTATION=true"
IF NOT DEFINED WUBU_M_PHI_INFLUENCE_CURVATURE SET "WUBU_M_PHI_INFLUENCE_CURVATURE=true"
IF NOT DEFINED WUBU_M_PHI_INFLUENCE_ROTATION_INIT SET "WUBU_M_PHI_INFLUENCE_ROTATION_INIT=true"
IF NOT DEFINED WUBU_M_BOUNDARY_POINTS SET "WUBU_M_BOUNDARY_POINTS=4"
IF NOT DEFINED WUBU_M_TANGENT_FLOW SET "WUBU_M_TANGENT_FLOW=true"
IF NOT DEFINED WUBU_M_ABLATE SET "WUBU_M_ABLATE="
IF NOT DEFINED WUBU_T_NUM_LEVELS SET "WUBU_T_NUM_LEVELS=2"
IF NOT DEFINED WUBU_T_HYPERBOLIC_DIMS SET "WUBU_T_HYPERBOLIC_DIMS=256 128"
IF NOT DEFINED WUBU_T_INITIAL_CURVATURES SET "WUBU_T_INITIAL_CURVATURES=1.0 0.7"
IF NOT DEFINED WUBU_T_USE_ROTATION SET "WUBU_T_USE_ROTATION=true"
IF NOT DEFINED WUBU_T_PHI_INFLUENCE_CURVATURE SET "WUBU_T_PHI_INFLUENCE_CURVATURE=true"
IF NOT DEFINED WUBU_T_PHI_INFLUENCE_ROTATION_INIT SET "WUBU_T_PHI_INFLUENCE_ROTATION_INIT=false"
IF NOT DEFINED WUBU_T_BOUNDARY_POINTS SET "WUBU_T_BOUNDARY_POINTS=4"
IF NOT DEFINED WUBU_T_TANGENT_FLOW SET "WUBU_T_TANGENT_FLOW=true"
IF NOT DEFINED WUBU_T_ABLATE SET "WUBU_T_ABLATE="
REM ---- losses and optimisation
IF NOT DEFINED RECON_LOSS SET "RECON_LOSS=l1"
IF NOT DEFINED LAMBDA_RECON SET "LAMBDA_RECON=100.0"
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-4"
IF NOT DEFINED LAMBDA_KL_MAP SET "LAMBDA_KL_MAP=1e-4"
IF NOT DEFINED LAMBDA_RECON_PRIOR SET "LAMBDA_RECON_PRIOR=100.0"
IF NOT DEFINED LAMBDA_GAN SET "LAMBDA_GAN=0.1"
IF NOT DEFINED GAN_START_STEP SET "GAN_START_STEP=2000"
IF NOT DEFINED GAN_RAMP_STEPS SET "GAN_RAMP_STEPS=2000"
IF NOT DEFINED LEARNING_RATE_GEN SET "LEARNING_RATE_GEN=3e-4"
IF NOT DEFINED LEARNING_RATE_DISC SET "LEARNING_RATE_DISC=1e-4"
IF NOT DEFINED LR_SCHEDULE SET "LR_SCHEDULE=constant"
IF NOT DEFINED LR_SCHEDULE_STEPS SET "LR_SCHEDULE_STEPS=0"
IF NOT DEFINED LR_WARMUP_STEPS SET "LR_WARMUP_STEPS=0"
IF NOT DEFINED GEOMETRY_LR_MULT SET "GEOMETRY_LR_MULT=1.0"
IF NOT DEFINED FREEZE_GEOMETRY SET "FREEZE_GEOMETRY=false"
REM OPTIMIZER: riemannian_adam (AdamW, Riemannian Adam on the Poincare-ball parameters; the ADAM_* lines
REM apply) or risgd (RiemannianEnhancedSGD, the seed's optimizer; RISGD_MOMENTUM applies).
REM RISGD_MAX_GRAD_NORM caps each parameter's gradient in both.
IF NOT DEFINED OPTIMIZER SET "OPTIMIZER=riemannian_adam"
IF NOT DEFINED ADAM_BETA1 SET "ADAM_BETA1=0.9"
IF NOT DEFINED ADAM_BETA2 SET "ADAM_BETA2=0.999"
IF NOT DEFINED ADAM_EPS SET "ADAM_EPS=1e-8"
IF NOT DEFINED RISGD_MOMENTUM SET "RISGD_MOMENTUM=0.9"
IF NOT DEFINED WEIGHT_DECAY SET "WEIGHT_DECAY=0.01"
IF NOT DEFINED WEIGHT_DECAY_BALL SET "WEIGHT_DECAY_BALL=false"
IF NOT DEFINED RISGD_MAX_GRAD_NORM SET "RISGD_MAX_GRAD_NORM=2.0"
IF NOT DEFINED GLOBAL_MAX_GRAD_NORM SET "GLOBAL_MAX_GRAD_NORM=2.0"
IF NOT DEFINED Q_CONTROLLER_ENABLED SET "Q_CONTROLLER_ENABLED=true"
IF NOT DEFINED USE_AMP SET "USE_AMP=false"
IF NOT DEFINED AMP_DTYPE SET "AMP_DTYPE=bf16"
IF NOT DEFINED COMPILE SET "COMPILE=false"
IF NOT DEFINED DETECT_ANOMALY SET "DETECT_ANOMALY=false"
IF NOT DEFINED MAX_CONSECUTIVE_NONFINITE SET "MAX_CONSECUTIVE_NONFINITE=20"
REM ---- augmentation of training batches (each transform per clip, probability 1/2)
IF NOT DEFINED AUGMENT SET "AUGMENT=true"
IF NOT DEFINED AUG_HFLIP SET "AUG_HFLIP=true"
IF NOT DEFINED AUG_VFLIP SET "AUG_VFLIP=true"
IF NOT DEFINED AUG_TRANSPOSE SET "AUG_TRANSPOSE=true"
IF NOT DEFINED AUG_TIME_REVERSE SET "AUG_TIME_REVERSE=true"
IF NOT DEFINED AUG_CHANNEL_PERMUTE SET "AUG_CHANNEL_PERMUTE=true"
REM ---- logging, validation, samples
IF NOT DEFINED WANDB_ENABLED SET "WANDB_ENABLED=true"
IF NOT DEFINED WANDB_PROJECT SET "WANDB_PROJECT=WuBuGAADHybridGenV01_Comprehensive"
IF NOT DEFINED WANDB_RUN_NAME SET "WANDB_RUN_NAME="
IF NOT DEFINED LOG_INTERVAL SET "LOG_INTERVAL=2"
IF NOT DEFINED SAVE_INTERVAL SET "SAVE_INTERVAL=1000000"
IF NOT DEFINED LOG_GRAD_NORM SET "LOG_GRAD_NORM=false"
IF NOT DEFINED WANDB_LOG_TRAIN_RECON_INTERVAL SET "WANDB_LOG_TRAIN_RECON_INTERVAL=25"
IF NOT DEFINED WANDB_LOG_FIXED_NOISE_SAMPLES_INTERVAL SET "WANDB_LOG_FIXED_NOISE_SAMPLES_INTERVAL=100"
IF NOT DEFINED USE_LPIPS_FOR_VERIFICATION SET "USE_LPIPS_FOR_VERIFICATION=true"
IF NOT DEFINED LPIPS_WEIGHTS SET "LPIPS_WEIGHTS="
IF NOT DEFINED VALIDATION_SPLIT_FRACTION SET "VALIDATION_SPLIT_FRACTION=0.1"
IF NOT DEFINED VAL_BLOCK_SIZE SET "VAL_BLOCK_SIZE=20"
IF NOT DEFINED VAL_INTERVAL SET "VAL_INTERVAL=0"
IF NOT DEFINED VAL_MAX_CLIPS SET "VAL_MAX_CLIPS=0"
IF NOT DEFINED VAL_NUM_SAMPLES SET "VAL_NUM_SAMPLES=0"
IF NOT DEFINED VAL_PRIMARY_METRIC SET "VAL_PRIMARY_METRIC=pred_psnr"
IF NOT DEFINED EMA_DECAY SET "EMA_DECAY=0.99"
IF NOT DEFINED NUM_VAL_SAMPLES_TO_LOG SET "NUM_VAL_SAMPLES_TO_LOG=2"
IF NOT DEFINED DEMO_NUM_SAMPLES SET "DEMO_NUM_SAMPLES=4"
IF NOT DEFINED SAMPLE_FORMAT SET "SAMPLE_FORMAT=mp4"

REM ---- interpreter: the project's venv when there is one
IF NOT DEFINED PYTHON_EXE IF EXIST "%SCRIPT_DIR%\venv\Scripts\python.exe" SET "PYTHON_EXE=%SCRIPT_DIR%\venv\Scripts\python.exe"
IF NOT DEFINED PYTHON_EXE SET "PYTHON_EXE=python"
SET "ENTRY=%SCRIPT_DIR%\draftPY\WuBuGAADHybridGen_v0.1.py"
SET /A "NPROC_CHECK=%NPROC_PER_NODE%" 2>NUL
IF NOT "%NPROC_CHECK%"=="%NPROC_PER_NODE%" GOTO :bad_nproc
IF !NPROC_PER_NODE! LSS 1 GOTO :bad_nproc

REM ---- paths: full, relative ones from the project root, no trailing backslash (see :normalise_path)
CALL :normalise_path VIDEO_DATA_PATH
CALL :normalise_path VALIDATION_VIDEO_PATH
CALL :normalise_path CHECKPOINT_OUTPUT_DIR
CALL :normalise_path CACHE_DIR
IF /I NOT "!LOAD_CHECKPOINT!"=="auto" CALL :normalise_path LOAD_CHECKPOINT
CALL :normalise_path OPTICAL_FLOW_WEIGHTS
CALL :normalise_path LPIPS_WEIGHTS
CALL :normalise_path MNIST_PATH
CALL :strip_trailing_backslashes WANDB_PROJECT
CALL :strip_trailing_backslashes WANDB_RUN_NAME
CALL :strip_trailing_backslashes RUN_NAME

REM torchrun (= python -m torch.distributed.run) on this node only: --standalone picks a free port itself
IF !NPROC_PER_NODE! GTR 1 (
    SET "CMD="!PYTHON_EXE!" -m torch.distributed.run --standalone --nproc_per_node=!NPROC_PER_NODE! "!ENTRY!""
) ELSE (
    SET "CMD="!PYTHON_EXE!" "!ENTRY!""
)

REM ---- training flags: one line per flag (tests\test_launchers.py reads these lines)
REM ---- data, run folder, resume
SET "CMD=!CMD! --video_data_path "!VIDEO_DATA_PATH!""
IF DEFINED VALIDATION_VIDEO_PATH SET "CMD=!CMD! --validation_video_path "!VALIDATION_VIDEO_PATH!""
SET "CMD=!CMD! --checkpoint_dir "!CHECKPOINT_OUTPUT_DIR!""
SET "CMD=!CMD! --cache_dir "!CACHE_DIR!""
IF DEFINED LOAD_CHECKPOINT SET "CMD=!CMD! --load_checkpoint "!LOAD_CHECKPOINT!""
IF /I "!LOAD_STRICT!"=="true" SET "CMD=!CMD! --load_strict"
SET "CMD=!CMD! --keep_last_n !KEEP_LAST_N!"
SET "CMD=!CMD! --epochs !EPOCHS!"
SET "CMD=!CMD! --max_steps !MAX_STEPS!"
SET "CMD=!CMD! --batch_size !BATCH_SIZE!"
SET "CMD=!CMD! --grad_accum_steps !GRAD_ACCUM_STEPS!"
SET "CMD=!CMD! --image_h !IMAGE_H!"
SET "CMD=!CMD! --image_w !IMAGE_W!"
SET "CMD=!CMD! --num_channels !NUM_CHANNELS!"
SET "CMD=!CMD! --num_input_frames !NUM_INPUT_FRAMES!"
SET "CMD=!CMD! --num_predict_frames !NUM_PREDICT_FRAMES!"
SET "CMD=!CMD! --frame_skip !FRAME_SKIP!"
SET "CMD=!CMD! --resize_mode !RESIZE_MODE!"
SET "CMD=!CMD! --dataset !DATASET!"
IF DEFINED MNIST_PATH SET "CMD=!CMD! --mnist_path "!MNIST_PATH!""
SET "CMD=!CMD! --moving_train_sequences !MOVING_TRAIN_SEQUENCES!"
SET "CMD=!CMD! --moving_test_sequences !MOVING_TEST_SEQUENCES!"
SET "CMD=!CMD! --stream_train_scenes !STREAM_TRAIN_SCENES!"
SET "CMD=!CMD! --stream_val_scenes !STREAM_VAL_SCENES!"
SET "CMD=!CMD! --min_decoded_fraction !MIN_DECODED_FRACTION!"
SET "CMD=!CMD! --scene_cut_threshold !SCENE_CUT_THRESHOLD!"
SET "CMD=!CMD! --seed !SEED!"
SET "CMD=!CMD! --num_workers !NUM_WORKERS!"
IF /I "!DETERMINISTIC!"=="true" SET "CMD=!CMD! --deterministic"
IF DEFINED RUN_NAME SET "CMD=!CMD! --run_name "!RUN_NAME!""
SET "CMD=!CMD! --max_train_minutes !MAX_TRAIN_MINUTES!"
REM ---- encoder: GAAD regions and the motion branch
SET "CMD=!CMD! --latent_dim !LATENT_DIM!"
SET "CMD=!CMD! --latent_map_channels !LATENT_MAP_CHANNELS!"
SET "CMD=!CMD! --latent_layout !LATENT_LAYOUT!"
SET "CMD=!CMD! --prior !PRIOR!"
SET "CMD=!CMD! --gaad_num_regions !GAAD_NUM_REGIONS!"
SET "CMD=!CMD! --gaad_decomposition_type !GAAD_DECOMPOSITION_TYPE!"
SET "CMD=!CMD! --gaad_box_layout !GAAD_BOX_LAYOUT!"
SET "CMD=!CMD! --gaad_min_size_px !GAAD_MIN_SIZE_PX!"
IF /I "!ENCODER_USE_ROI_ALIGN!"=="true" SET "CMD=!CMD! --encoder_use_roi_align"
SET "CMD=!CMD! --encoder_shallow_cnn_channels !ENCODER_SHALLOW_CNN_CHANNELS!"
SET "CMD=!CMD! --encoder_roi_align_output_h !ENCODER_ROI_ALIGN_OUTPUT_H!"
SET "CMD=!CMD! --encoder_roi_align_output_w !ENCODER_ROI_ALIGN_OUTPUT_W!"
SET "CMD=!CMD! --encoder_pixel_patch_size !ENCODER_PIXEL_PATCH_SIZE!"
SET "CMD=!CMD! --encoder_initial_tangent_dim !ENCODER_INITIAL_TANGENT_DIM!"
IF /I "!USE_WUBU_MOTION_BRANCH!"=="true" SET "CMD=!CMD! --use_wubu_motion_branch"
SET "CMD=!CMD! --gaad_motion_num_regions !GAAD_MOTION_NUM_REGIONS!"
SET "CMD=!CMD! --gaad_motion_decomposition_type !GAAD_MOTION_DECOMPOSITION_TYPE!"
SET "CMD=!CMD! --optical_flow_net_type !OPTICAL_FLOW_NET_TYPE!"
IF DEFINED OPTICAL_FLOW_WEIGHTS SET "CMD=!CMD! --optical_flow_weights "!OPTICAL_FLOW_WEIGHTS!""
IF /I "!FREEZE_FLOW_NET!"=="true" SET "CMD=!CMD! --freeze_flow_net"
SET "CMD=!CMD! --optical_flow_scale !OPTICAL_FLOW_SCALE!"
SET "CMD=!CMD! --flow_stats_components !FLOW_STATS_COMPONENTS!"
REM ---- generator and discriminator
SET "CMD=!CMD! --gen_base_channels !GEN_BASE_CHANNELS!"
SET "CMD=!CMD! --gen_temporal_kernel_size !GEN_TEMPORAL_KERNEL_SIZE!"
SET "CMD=!CMD! --gen_final_conv_kernel_spatial !GEN_FINAL_CONV_KERNEL_SPATIAL!"
IF /I "!RESIDUAL_GENERATOR!"=="true" SET "CMD=!CMD! --residual_generator"
IF /I NOT "!RESIDUAL_GENERATOR!"=="true" SET "CMD=!CMD! --no_residual_generator"
SET "CMD=!CMD! --generator_type !GENERATOR_TYPE!"
IF /I "!GEN_USE_WARP!"=="true" SET "CMD=!CMD! --gen_use_warp"
IF /I NOT "!GEN_USE_WARP!"=="true" SET "CMD=!CMD! --no_gen_use_warp"
IF /I "!GEN_USE_GAAD_PAINT!"=="true" SET "CMD=!CMD! --gen_use_gaad_paint"
IF /I NOT "!GEN_USE_GAAD_PAINT!"=="true" SET "CMD=!CMD! --no_gen_use_gaad_paint"
IF /I "!GEN_ROLLOUT!"=="true" SET "CMD=!CMD! --gen_rollout"
IF /I NOT "!GEN_ROLLOUT!"=="true" SET "CMD=!CMD! --no_gen_rollout"
IF /I "!GEN_SYNTHESIS!"=="true" SET "CMD=!CMD! --gen_synthesis"
IF /I NOT "!GEN_SYNTHESIS!"=="true" SET "CMD=!CMD! --no_gen_synthesis"
SET "CMD=!CMD! --gen_mask_init_logit !GEN_MASK_INIT_LOGIT!"
IF /I "!GEN_EXTRAPOLATE!"=="true" SET "CMD=!CMD! --gen_extrapolate"
IF /I NOT "!GEN_EXTRAPOLATE!"=="true" SET "CMD=!CMD! --no_gen_extrapolate"
IF /I "!GEN_CHANGE_PERSISTENCE!"=="true" SET "CMD=!CMD! --gen_change_persistence"
IF /I NOT "!GEN_CHANGE_PERSISTENCE!"=="true" SET "CMD=!CMD! --no_gen_change_persistence"
IF /I "!GEN_FLOW_CONFIDENCE!"=="true" SET "CMD=!CMD! --gen_flow_confidence"
IF /I NOT "!GEN_FLOW_CONFIDENCE!"=="true" SET "CMD=!CMD! --no_gen_flow_confidence"
IF /I "!GEN_COPY_BLEND!"=="true" SET "CMD=!CMD! --gen_copy_blend"
IF /I NOT "!GEN_COPY_BLEND!"=="true" SET "CMD=!CMD! --no_gen_copy_blend"
SET "CMD=!CMD! --gen_max_flow_px !GEN_MAX_FLOW_PX!"
SET "CMD=!CMD! --gen_flow_prior !GEN_FLOW_PRIOR!"
SET "CMD=!CMD! --discriminator_type !DISCRIMINATOR_TYPE!"
IF /I "!DISC_APPLY_SPECTRAL_NORM!"=="true" SET "CMD=!CMD! --disc_apply_spectral_norm"
SET "CMD=!CMD! --disc_base_disc_channels !DISC_BASE_DISC_CHANNELS!"
SET "CMD=!CMD! --disc_max_disc_channels !DISC_MAX_DISC_CHANNELS!"
SET "CMD=!CMD! --disc_temporal_kernel_size !DISC_TEMPORAL_KERNEL_SIZE!"
SET "CMD=!CMD! --disc_stem_stride !DISC_STEM_STRIDE!"
SET "CMD=!CMD! --disc_context_frames !DISC_CONTEXT_FRAMES!"
SET "CMD=!CMD! --disc_min_hidden_fc_dim !DISC_MIN_HIDDEN_FC_DIM!"
SET "CMD=!CMD! --disc_max_hidden_fc_dim !DISC_MAX_HIDDEN_FC_DIM!"
IF /I "!DISC_USE_GAAD_FILM_CONDITION!"=="true" SET "CMD=!CMD! --disc_use_gaad_film_condition"
SET "CMD=!CMD! --disc_gaad_condition_dim_disc !DISC_GAAD_CONDITION_DIM_DISC!"
SET "CMD=!CMD! --disc_patch_size !DISC_PATCH_SIZE!"
SET "CMD=!CMD! --disc_cnn_channels_2d !DISC_CNN_CHANNELS_2D!"
REM ---- WuBu nesting stacks: S (spatial), M (motion), T (temporal)
SET "CMD=!CMD! --wubu_dropout !WUBU_DROPOUT!"
IF /I "!WUBU_REPLACE_WITH_MLP!"=="true" SET "CMD=!CMD! --wubu_replace_with_mlp"
SET "CMD=!CMD! --wubu_geometry !WUBU_GEOMETRY!"
SET "CMD=!CMD! --wubu_t_num_heads !WUBU_T_NUM_HEADS!"
SET "CMD=!CMD! --wubu_s_num_levels !WUBU_S_NUM_LEVELS!"
SET "CMD=!CMD! --wubu_s_hyperbolic_dims !WUBU_S_HYPERBOLIC_DIMS!"
SET "CMD=!CMD! --wubu_s_initial_curvatures !WUBU_S_INITIAL_CURVATURES!"
IF /I "!WUBU_S_USE_ROTATION!"=="true" SET "CMD=!CMD! --wubu_s_use_rotation"
IF /I "!WUBU_S_PHI_INFLUENCE_CURVATURE!"=="true" SET "CMD=!CMD! --wubu_s_phi_influence_curvature"
IF /I "!WUBU_S_PHI_INFLUENCE_ROTATION_INIT!"=="true" SET "CMD=!CMD! --wubu_s_phi_influence_rotation_init"
SET "CMD=!CMD! --wubu_s_boundary_points !WUBU_S_BOUNDARY_POINTS!"
IF /I "!WUBU_S_TANGENT_FLOW!"=="true" SET "CMD=!CMD! --wubu_s_tangent_flow"
IF /I NOT "!WUBU_S_TANGENT_FLOW!"=="true" SET "CMD=!CMD! --no_wubu_s_tangent_flow"
IF DEFINED WUBU_S_ABLATE SET "CMD=!CMD! --wubu_s_ablate !WUBU_S_ABLATE!"
SET "CMD=!CMD! --wubu_m_num_levels !WUBU_M_NUM_LEVELS!"
SET "CMD=!CMD! --wubu_m_hyperbolic_dims !WUBU_M_HYPERBOLIC_DIMS!"
SET "CMD=!CMD! --wubu_m_initial_curvatures !WUBU_M_INITIAL_CURVATURES!"
IF /I "!WUBU_M_USE_ROTATION!"=="true" SET "CMD=!CMD! --wubu_m_use_rotation"
IF /I "!WUBU_M_PHI_INFLUENCE_CURVATURE!"=="true" SET "CMD=!CMD! --wubu_m_phi_influence_curvature"
IF /I "!WUBU_M_PHI_INFLUENCE_ROTATION_INIT!"=="true" SET "CMD=!CMD! --wubu_m_phi_influence_rotation_init"
SET "CMD=!CMD! --wubu_m_boundary_points !WUBU_M_BOUNDARY_POINTS!"
IF /I "!WUBU_M_TANGENT_FLOW!"=="true" SET "CMD=!CMD! --wubu_m_tangent_flow"
IF /I NOT "!WUBU_M_TANGENT_FLOW!"=="true" SET "CMD=!CMD! --no_wubu_m_tangent_flow"
IF DEFINED WUBU_M_ABLATE SET "CMD=!CMD! --wubu_m_ablate !WUBU_M_ABLATE!"
SET "CMD=!CMD! --wubu_t_num_levels !WUBU_T_NUM_LEVELS!"
SET "CMD=!CMD! --wubu_t_hyperbolic_dims !WUBU_T_HYPERBOLIC_DIMS!"
SET "CMD=!CMD! --wubu_t_initial_curvatures !WUBU_T_INITIAL_CURVATURES!"
IF /I "!WUBU_T_USE_ROTATION!"=="true" SET "CMD=!CMD! --wubu_t_use_rotation"
IF /I "!WUBU_T_PHI_INFLUENCE_CURVATURE!"=="true" SET "CMD=!CMD! --wubu_t_phi_influence_curvature"
IF /I "!WUBU_T_PHI_INFLUENCE_ROTATION_INIT!"=="true" SET "CMD=!CMD! --wubu_t_phi_influence_rotation_init"
SET "CMD=!CMD! --wubu_t_boundary_points !WUBU_T_BOUNDARY_POINTS!"
IF /I "!WUBU_T_TANGENT_FLOW!"=="true" SET "CMD=!CMD! --wubu_t_tangent_flow"
IF /I NOT "!WUBU_T_TANGENT_FLOW!"=="true" SET "CMD=!CMD! --no_wubu_t_tangent_flow"
IF DEFINED WUBU_T_ABLATE SET "CMD=!CMD! --wubu_t_ablate !WUBU_T_ABLATE!"
REM ---- losses and optimisation
SET "CMD=!CMD! --recon_loss !RECON_LOSS!"
SET "CMD=!CMD! --lambda_recon !LAMBDA_RECON!"
SET "CMD=!CMD! --lambda_kl !LAMBDA_KL!"
SET "CMD=!CMD! --lambda_kl_map !LAMBDA_KL_MAP!"
SET "CMD=!CMD! --lambda_recon_prior !LAMBDA_RECON_PRIOR!"
SET "CMD=!CMD! --lambda_gan !LAMBDA_GAN!"
SET "CMD=!CMD! --gan_start_step !GAN_START_STEP!"
SET "CMD=!CMD! --gan_ramp_steps !GAN_RAMP_STEPS!"
SET "CMD=!CMD! --learning_rate_gen !LEARNING_RATE_GEN!"
SET "CMD=!CMD! --learning_rate_disc !LEARNING_RATE_DISC!"
SET "CMD=!CMD! --lr_schedule !LR_SCHEDULE!"
SET "CMD=!CMD! --lr_schedule_steps !LR_SCHEDULE_STEPS!"
SET "CMD=!CMD! --lr_warmup_steps !LR_WARMUP_STEPS!"
SET "CMD=!CMD! --geometry_lr_mult !GEOMETRY_LR_MULT!"
IF /I "!FREEZE_GEOMETRY!"=="true" SET "CMD=!CMD! --freeze_geometry"
SET "CMD=!CMD! --optimizer !OPTIMIZER!"
SET "CMD=!CMD! --adam_beta1 !ADAM_BETA1!"
SET "CMD=!CMD! --adam_beta2 !ADAM_BETA2!"
SET "CMD=!CMD! --adam_eps !ADAM_EPS!"
SET "CMD=!CMD! --risgd_momentum !RISGD_MOMENTUM!"
SET "CMD=!CMD! --weight_decay !WEIGHT_DECAY!"
IF /I "!WEIGHT_DECAY_BALL!"=="true" SET "CMD=!CMD! --weight_decay_ball"
SET "CMD=!CMD! --risgd_max_grad_norm !RISGD_MAX_GRAD_NORM!"
SET "CMD=!CMD! --global_max_grad_norm !GLOBAL_MAX_GRAD_NORM!"
IF /I "!Q_CONTROLLER_ENABLED!"=="true" SET "CMD=!CMD! --q_controller_enabled"
IF /I "!USE_AMP!"=="true" SET "CMD=!CMD! --use_amp"
SET "CMD=!CMD! --amp_dtype !AMP_DTYPE!"
IF /I "!COMPILE!"=="true" SET "CMD=!CMD! --compile"
IF /I "!DETECT_ANOMALY!"=="true" SET "CMD=!CMD! --detect_anomaly"
SET "CMD=!CMD! --max_consecutive_nonfinite !MAX_CONSECUTIVE_NONFINITE!"
REM ---- augmentation of training batches (each transform per clip, probability 1/2)
IF /I "!AUGMENT!"=="true" SET "CMD=!CMD! --augment"
IF /I NOT "!AUGMENT!"=="true" SET "CMD=!CMD! --no_augment"
IF /I "!AUG_HFLIP!"=="true" SET "CMD=!CMD! --aug_hflip"
IF /I NOT "!AUG_HFLIP!"=="true" SET "CMD=!CMD! --no_aug_hflip"
IF /I "!AUG_VFLIP!"=="true" SET "CMD=!CMD! --aug_vflip"
IF /I NOT "!AUG_VFLIP!"=="true" SET "CMD=!CMD! --no_aug_vflip"
IF /I "!AUG_TRANSPOSE!"=="true" SET "CMD=!CMD! --aug_transpose"
IF /I NOT "!AUG_TRANSPOSE!"=="true" SET "CMD=!CMD! --no_aug_transpose"
IF /I "!AUG_TIME_REVERSE!"=="true" SET "CMD=!CMD! --aug_time_reverse"
IF /I NOT "!AUG_TIME_REVERSE!"=="true" SET "CMD=!CMD! --no_aug_time_reverse"
IF /I "!AUG_CHANNEL_PERMUTE!"=="true" SET "CMD=!CMD! --aug_channel_permute"
IF /I NOT "!AUG_CHANNEL_PERMUTE!"=="true" SET "CMD=!CMD! --no_aug_channel_permute"
REM ---- logging, validation, samples
IF /I "!WANDB_ENABLED!"=="true" SET "CMD=!CMD! --wandb"
SET "CMD=!CMD! --wandb_project "!WANDB_PROJECT!""
IF DEFINED WANDB_RUN_NAME SET "CMD=!CMD! --wandb_run_name "!WANDB_RUN_NAME!""
SET "CMD=!CMD! --log_interval !LOG_INTERVAL!"
SET "CMD=!CMD! --save_interval !SAVE_INTERVAL!"
IF /I "!LOG_GRAD_NORM!"=="true" SET "CMD=!CMD! --log_grad_norm"
SET "CMD=!CMD! --wandb_log_train_recon_interval !WANDB_LOG_TRAIN_RECON_INTERVAL!"
SET "CMD=!CMD! --wandb_log_fixed_noise_samples_interval !WANDB_LOG_FIXED_NOISE_SAMPLES_INTERVAL!"
IF /I "!USE_LPIPS_FOR_VERIFICATION!"=="true" SET "CMD=!CMD! --use_lpips_for_verification"
IF DEFINED LPIPS_WEIGHTS SET "CMD=!CMD! --lpips_weights "!LPIPS_WEIGHTS!""
SET "CMD=!CMD! --validation_split_fraction !VALIDATION_SPLIT_FRACTION!"
SET "CMD=!CMD! --val_block_size !VAL_BLOCK_SIZE!"
SET "CMD=!CMD! --val_interval !VAL_INTERVAL!"
SET "CMD=!CMD! --val_max_clips !VAL_MAX_CLIPS!"
SET "CMD=!CMD! --val_num_samples !VAL_NUM_SAMPLES!"
SET "CMD=!CMD! --val_primary_metric !VAL_PRIMARY_METRIC!"
SET "CMD=!CMD! --ema_decay !EMA_DECAY!"
SET "CMD=!CMD! --num_val_samples_to_log !NUM_VAL_SAMPLES_TO_LOG!"
SET "CMD=!CMD! --demo_num_samples !DEMO_NUM_SAMPLES!"
SET "CMD=!CMD! --sample_format !SAMPLE_FORMAT!"
IF DEFINED EXTRA_ARGS SET "CMD=!CMD! !EXTRA_ARGS!"

ECHO ================ WuBuGAADHybridGen ================
ECHO  python          : !PYTHON_EXE! (processes: !NPROC_PER_NODE!)
ECHO  training video  : !VIDEO_DATA_PATH!
IF DEFINED VALIDATION_VIDEO_PATH (ECHO  validation video: !VALIDATION_VIDEO_PATH!) ELSE (ECHO  validation video: held-out share !VALIDATION_SPLIT_FRACTION!)
ECHO  run folder      : !CHECKPOINT_OUTPUT_DIR!
IF DEFINED LOAD_CHECKPOINT (ECHO  resume from     : !LOAD_CHECKPOINT! - strict: !LOAD_STRICT!) ELSE (ECHO  resume from     : fresh start)
ECHO  frames          : !IMAGE_W!x!IMAGE_H!, !NUM_INPUT_FRAMES! context + !NUM_PREDICT_FRAMES! predicted
ECHO  lambda recon/kl/gan: !LAMBDA_RECON! / !LAMBDA_KL! / !LAMBDA_GAN!; lr G/D: !LEARNING_RATE_GEN! / !LEARNING_RATE_DISC!
ECHO  D-FiLM: !DISC_USE_GAAD_FILM_CONDITION!, motion branch: !USE_WUBU_MOTION_BRANCH!, epochs: !EPOCHS!
ECHO ===================================================

IF /I "%DRY_RUN%"=="true" (
    ECHO DRY_RUN: !CMD!
    SET "EXIT_CODE=0"
    GOTO :finish
)

REM ---- no GPU: say what the research configuration costs on a CPU before it starts, and point to the demo.
REM CPU_SECONDS_PER_STEP: measured, bench\RESULTS.md ("Research configuration against the v0.1 script, re-measured").
REM A double-clicked launcher asks once (cmd.exe /c, not under CI, not with PAUSE_AT_END=false).
SET "CPU_SECONDS_PER_STEP=24"
"!PYTHON_EXE!" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)" 2>NUL
SET "CUDA_CHECK=!ERRORLEVEL!"
IF NOT "!CUDA_CHECK!"=="3" GOTO :start_training
SET /A "CPU_TENTHS=CPU_SECONDS_PER_STEP*10000/3600"
SET /A "CPU_HOURS=CPU_TENTHS/10"
SET /A "CPU_TENTH=CPU_TENTHS%%10"
ECHO NOTE: PyTorch sees no GPU here, so this research configuration trains on the CPU at about
ECHO       !CPU_SECONDS_PER_STEP! s a step - measured: bench\RESULTS.md - !CPU_HOURS!.!CPU_TENTH! hours per 1000 steps.
SET /A "CPU_MAX_HOURS=MAX_STEPS*CPU_SECONDS_PER_STEP/3600"
IF !MAX_STEPS! GTR 0 ECHO       MAX_STEPS=!MAX_STEPS!: about !CPU_MAX_HOURS! hours.
ECHO       For a first look double-click run_demo.bat instead - the quick demo, a few minutes.
IF /I "!PAUSE_AT_END!"=="false" GOTO :start_training
IF DEFINED CI GOTO :start_training
SET "CMDLINE=!CMDCMDLINE!"
IF /I "!CMDLINE:/c =!"=="!CMDLINE!" GOTO :start_training
SET "ANSWER="
SET /P "ANSWER=Train the research configuration on the CPU anyway? [y/N] "
IF /I "!ANSWER!"=="y" GOTO :start_training
ECHO Not started.
SET "EXIT_CODE=0"
GOTO :finish

:start_training
IF NOT EXIST "%CHECKPOINT_OUTPUT_DIR%" MKDIR "%CHECKPOINT_OUTPUT_DIR%"
IF NOT EXIST "%CACHE_DIR%" MKDIR "%CACHE_DIR%"
%CMD%
SET "EXIT_CODE=%ERRORLEVEL%"
IF "%EXIT_CODE%"=="0" (
    ECHO Training finished successfully. Outputs: "!CHECKPOINT_OUTPUT_DIR!"
) ELSE (
    ECHO Training FAILED with exit code %EXIT_CODE% - see the messages above. 1>&2
)
GOTO :finish

:bad_nproc
ECHO ERROR: NPROC_PER_NODE must be a whole number ^>= 1 (got "!NPROC_PER_NODE!") 1>&2
SET "EXIT_CODE=2"
GOTO :finish

:finish
REM ---- every way out of this file comes here: pause if asked (outermost launcher only), return EXIT_CODE
IF "%LAUNCHER_OUTER%"=="1" CALL :pause_if_asked
IF "%LAUNCHER_PUSHED%"=="1" popd
endlocal & exit /b %EXIT_CODE%

:pause_if_asked
REM PAUSE_AT_END true: always wait for a key; false: never; auto (default): only when this file was
REM double-clicked in Explorer (cmd.exe /c with this file's path) and CI is not set, so that a console,
REM a calling script or CI is never blocked.
setlocal EnableDelayedExpansion
IF "!PAUSE_AT_END!"=="" SET "PAUSE_AT_END=auto"
SET "PAUSE_NOW=false"
IF /I "!PAUSE_AT_END!"=="true" SET "PAUSE_NOW=true"
SET "CMDLINE=!CMDCMDLINE!"
IF /I "!PAUSE_AT_END!"=="auto" IF NOT DEFINED CI IF /I NOT "!CMDLINE:/c =!"=="!CMDLINE!" IF /I NOT "!CMDLINE:%THIS_FILE%=!"=="!CMDLINE!" SET "PAUSE_NOW=true"
IF "!PAUSE_NOW!"=="true" PAUSE
endlocal
GOTO :EOF

:normalise_path
REM CALL :normalise_path NAME: NAME's value as a full path (a relative one from the current folder, the
REM project root) without trailing backslashes; a drive root D:\ becomes D:\. (see below).
IF NOT DEFINED %~1 GOTO :EOF
FOR %%I IN ("!%~1!") DO SET "%~1=%%~fI"
CALL :strip_trailing_backslashes %~1
IF "!%~1:~-1!"==":" SET "%~1=!%~1!\."
GOTO :EOF

:strip_trailing_backslashes
REM CALL :strip_trailing_backslashes NAME: so that "!NAME!" on a command line never ends in \", which
REM Windows reads as an escaped quote (the argument would swallow every later flag).
IF NOT DEFINED %~1 GOTO :EOF
IF NOT "!%~1:~-1!"=="\" GOTO :EOF
SET "%~1=!%~1:~0,-1!"
GOTO :strip_trailing_backslashes
