"""The one argument parser: flags (``config_flags.py``), validation, list broadcasting, resolved config.

``parse_args(argv)`` is the public entry point (DESIGN §3) shared by the training script, the sampling
script and the tests. Invalid settings end in ``parser.error`` (exit code 2) with one line per problem
naming the flag and what would be valid (CLI_CONTRACT "Validation the parser must do", DESIGN §15).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import PurePath

from wubugaad.data import moving_objects
from wubugaad.data.augment import AugmentConfig
from wubugaad.train.flags import (
    LPIPS_METRICS,
    RAFT_TYPES,
    STACKS,
    add_logging_flags,
    add_model_flags,
    add_run_flags,
    add_training_flags,
    add_wubu_flags,
)

# Counts that must be >= 1.
POSITIVE_INTS = (
    "epochs", "batch_size", "image_h", "image_w", "num_channels", "num_predict_frames", "frame_skip",
    "grad_accum_steps", "log_interval", "gaad_num_regions", "gaad_min_size_px", "gaad_motion_num_regions",
    "latent_dim", "encoder_shallow_cnn_channels", "encoder_roi_align_output_h", "encoder_roi_align_output_w",
    "encoder_pixel_patch_size", "encoder_initial_tangent_dim", "gen_base_channels",
    "gen_temporal_kernel_size", "gen_final_conv_kernel_spatial", "disc_base_disc_channels",
    "disc_max_disc_channels", "disc_temporal_kernel_size", "disc_min_hidden_fc_dim", "disc_max_hidden_fc_dim",
    "disc_gaad_condition_dim_disc", "disc_patch_size", "wubu_t_num_heads", "val_block_size",
    "max_consecutive_nonfinite", "moving_train_sequences", "moving_test_sequences",
)
# Counts, intervals and sizes where 0 has a meaning (none / never / no limit / all).
NON_NEGATIVE_INTS = (
    "num_input_frames", "num_workers", "max_steps", "keep_last_n", "val_interval", "val_max_clips",
    "num_val_samples_to_log", "demo_num_samples", "wandb_log_train_recon_interval",
    "wandb_log_fixed_noise_samples_interval", "gan_start_step", "gan_ramp_steps",
    *(f"wubu_{key}_num_levels" for key, *_ in STACKS),
    *(f"wubu_{key}_boundary_points" for key, *_ in STACKS),
)
# Loss weights, learning rates, decay and the time budget: finite and >= 0.
NON_NEGATIVE_FLOATS = (
    "lambda_recon", "lambda_kl", "lambda_gan", "learning_rate_gen", "learning_rate_disc", "weight_decay",
    "max_train_minutes", "scene_cut_threshold",
)
# Fractions in [0, 1).
UNIT_INTERVAL_FLOATS = ("validation_split_fraction", "risgd_momentum", "wubu_dropout", "adam_beta1",
                        "adam_beta2")
# Finite and > 0.
POSITIVE_FLOATS = ("adam_eps",)


def build_parser() -> argparse.ArgumentParser:
    """Parser with every CLI_CONTRACT §15.1 flag (same names, types, nargs) and the §15.3 additions."""
    parser = argparse.ArgumentParser(
        prog="WuBuGAADHybridGen_v0.1.py",
        description="WuBuGAADHybridGen: video VAE-GAN with hyperbolic WuBu nesting and GAAD regions. "
                    "Without arguments it trains a small model on a generated demo video (a quick CPU demo).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    add_run_flags(parser)
    add_model_flags(parser)
    add_wubu_flags(parser)
    add_training_flags(parser)
    add_logging_flags(parser)
    return parser


def _count_problems(args: argparse.Namespace) -> list[str]:
    problems = [f"--{name} must be >= 1 (got {getattr(args, name)})"
                for name in POSITIVE_INTS if getattr(args, name) < 1]
    problems += [f"--{name} must be >= 0 (got {getattr(args, name)})"
                 for name in NON_NEGATIVE_INTS if getattr(args, name) < 0]
    # `not v >= 0` also rejects NaN.
    problems += [f"--{name} must be a finite number >= 0 (got {getattr(args, name)})"
                 for name in NON_NEGATIVE_FLOATS
                 if not (getattr(args, name) >= 0 and math.isfinite(getattr(args, name)))]
    problems += [f"--{name} must be a finite number > 0 (got {getattr(args, name)})"
                 for name in POSITIVE_FLOATS
                 if not (getattr(args, name) > 0 and math.isfinite(getattr(args, name)))]
    problems += [f"--{name} must be in [0, 1) (got {getattr(args, name)})"
                 for name in UNIT_INTERVAL_FLOATS if not 0.0 <= getattr(args, name) < 1.0]
    if not 0.0 <= args.min_decoded_fraction <= 1.0:
        problems.append(f"--min_decoded_fraction must be in [0, 1] (got {args.min_decoded_fraction})")
    if any(c < 1 for c in args.disc_cnn_channels_2d):
        problems.append(f"--disc_cnn_channels_2d: every width must be >= 1 (got {args.disc_cnn_channels_2d})")
    return problems


def _stack_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    for key, *_ in STACKS:
        levels = getattr(args, f"wubu_{key}_num_levels")
        for suffix in ("hyperbolic_dims", "initial_curvatures"):
            flag = f"wubu_{key}_{suffix}"
            values = getattr(args, flag)
            if len(values) not in (1, levels):
                problems.append(f"--{flag} has {len(values)} values but --wubu_{key}_num_levels is {levels}: "
                                f"give 1 value (broadcast) or {levels}")
        if any(d < 1 for d in getattr(args, f"wubu_{key}_hyperbolic_dims")):
            problems.append(f"--wubu_{key}_hyperbolic_dims: every dimension must be >= 1")
        if not all(c > 0 and math.isfinite(c) for c in getattr(args, f"wubu_{key}_initial_curvatures")):
            problems.append(f"--wubu_{key}_initial_curvatures: every curvature must be finite and > 0")
    return problems


def _architecture_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if args.encoder_shallow_cnn_channels % 8:
        problems.append(f"--encoder_shallow_cnn_channels must be divisible by 8 for GroupNorm "
                        f"(got {args.encoder_shallow_cnn_channels}; e.g. 32)")
    if args.gen_final_conv_kernel_spatial % 2 == 0:
        problems.append(f"--gen_final_conv_kernel_spatial must be odd so the output keeps the frame size "
                        f"(got {args.gen_final_conv_kernel_spatial}; e.g. 3)")
    if args.gaad_min_size_px > min(args.image_h, args.image_w):
        problems.append(f"--gaad_min_size_px ({args.gaad_min_size_px}) must not exceed the smaller frame "
                        f"side ({min(args.image_h, args.image_w)})")
    if args.disc_base_disc_channels > args.disc_max_disc_channels:
        problems.append("--disc_base_disc_channels must not exceed --disc_max_disc_channels")
    if args.disc_min_hidden_fc_dim > args.disc_max_hidden_fc_dim:
        problems.append("--disc_min_hidden_fc_dim must not exceed --disc_max_hidden_fc_dim")
    uses_raft = args.use_wubu_motion_branch and args.optical_flow_net_type in RAFT_TYPES
    for flag in ("image_h", "image_w"):
        size = getattr(args, flag)
        if uses_raft and (size % 8 or size < 128):
            problems.append(f"--{flag}={size}: {args.optical_flow_net_type} needs frame sides that are "
                            f">= 128 and divisible by 8 (or use --optical_flow_net_type dis/farneback)")
    if not (args.gen_max_flow_px > 0 and math.isfinite(args.gen_max_flow_px)):
        problems.append(f"--gen_max_flow_px must be a finite number > 0 (got {args.gen_max_flow_px}; "
                        f"e.g. 16)")
    if args.generator_type == "spatial" and args.num_input_frames < 1:
        problems.append("--generator_type spatial needs context frames: use --num_input_frames >= 1 or "
                        "--generator_type global")
    if args.gaad_decomposition_type == "motion_adaptive" and not args.use_wubu_motion_branch:
        problems.append("--gaad_decomposition_type motion_adaptive needs --use_wubu_motion_branch "
                        "(or choose subdivide, spiral or hybrid)")
    return problems


def _path_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if args.val_primary_metric in LPIPS_METRICS and not args.use_lpips_for_verification:
        problems.append(f"--val_primary_metric {args.val_primary_metric} needs --use_lpips_for_verification "
                        f"(or pick avg_val_psnr, avg_val_ssim, avg_val_recon_mse or a pred_* metric)")
    if args.load_checkpoint not in (None, "auto") and not os.path.isfile(args.load_checkpoint):
        problems.append(f"--load_checkpoint: no checkpoint file at '{args.load_checkpoint}' (give an "
                        f"existing file, `auto` for the newest in --checkpoint_dir, or leave it out to start "
                        f"fresh)")
    if args.validation_video_path is not None and not os.path.exists(args.validation_video_path):
        problems.append(f"--validation_video_path: '{args.validation_video_path}' does not exist (give a "
                        f"video file or folder, or leave it out to hold out --validation_split_fraction)")
    for flag in ("optical_flow_weights", "lpips_weights"):
        path = getattr(args, flag)
        if path is not None and not os.path.isfile(path):
            problems.append(f"--{flag}: no file at '{path}' (leave it out to use the torch hub cache)")
    return problems


def _source_problems(args: argparse.Namespace) -> list[str]:
    if args.dataset == "video":
        return []
    problems = []
    if args.validation_video_path is not None:
        problems.append(f"--validation_video_path applies to --dataset video only (--dataset {args.dataset} "
                        f"validates on its fixed test set; drop the flag)")
    if args.frame_skip != 1:
        problems.append(f"--frame_skip applies to --dataset video only (drop it for --dataset "
                        f"{args.dataset})")
    problem = moving_objects.source_problem(args.dataset, args.mnist_path)
    return problems + ([problem] if problem else [])


def validate_args(args: argparse.Namespace) -> list[str]:
    """All problems of a parsed namespace, one line each (empty when valid)."""
    return (_count_problems(args) + _stack_problems(args) + _architecture_problems(args)
            + _path_problems(args) + _source_problems(args))


def moving_objects_config(args: argparse.Namespace) -> moving_objects.MovingObjectsConfig:
    """The moving-object source settings of a parsed command line."""
    return moving_objects.MovingObjectsConfig(
        name=args.dataset, path=args.mnist_path, height=args.image_h, width=args.image_w,
        channels=args.num_channels, frames=args.num_input_frames + args.num_predict_frames,
        train_sequences=args.moving_train_sequences, test_sequences=args.moving_test_sequences,
        seed=args.seed, cache_dir=args.cache_dir)


def resolve_generator_type(args: argparse.Namespace) -> str:
    """``--generator_type`` as given, else spatial with context frames and global without."""
    if args.generator_type is not None:
        return args.generator_type
    return "spatial" if args.num_input_frames > 0 else "global"


def broadcast_stack_lists(args: argparse.Namespace) -> argparse.Namespace:
    """Repeat one-value ``wubu_{s,m,t}`` dims/curvature lists to the level count (in place; fresh lists)."""
    for key, *_ in STACKS:
        levels = getattr(args, f"wubu_{key}_num_levels")
        for suffix in ("hyperbolic_dims", "initial_curvatures"):
            flag = f"wubu_{key}_{suffix}"
            values = list(getattr(args, flag))
            setattr(args, flag, values * levels if len(values) == 1 else values)
        setattr(args, f"wubu_{key}_ablate", sorted(set(getattr(args, f"wubu_{key}_ablate"))))
    args.generator_type = resolve_generator_type(args)
    args.flow_stats_components = list(args.flow_stats_components)
    args.disc_cnn_channels_2d = list(args.disc_cnn_channels_2d)
    return args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``), validate, broadcast stack lists; exit 2 on bad input."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    problems = validate_args(args)
    if problems:
        parser.error("; ".join(problems))
    return broadcast_stack_lists(args)


def metric_mode(name: str) -> str:
    """'min' for losses/distances (mse, lpips), 'max' for similarities (psnr, ssim): best-checkpoint rule."""
    kind = name.rsplit("_", 1)[-1]
    if kind in ("mse", "mae", "lpips"):
        return "min"
    if kind in ("psnr", "ssim"):
        return "max"
    raise ValueError(f"metric_mode: unknown metric '{name}' (names end in _mse, _mae, _psnr, _ssim or "
                     f"_lpips)")


def augment_config(args: argparse.Namespace) -> AugmentConfig:
    """Training-batch augmentation of ``args``: the ``--aug_*`` transforms, none under ``--no_augment``."""
    on = bool(args.augment)
    return AugmentConfig(hflip=on and args.aug_hflip, vflip=on and args.aug_vflip,
                         transpose=on and args.aug_transpose, time_reverse=on and args.aug_time_reverse,
                         channel_permute=on and args.aug_channel_permute)


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, PurePath):
        return str(value)
    return repr(value)


def resolved_config(args: argparse.Namespace) -> dict:
    """Every setting as JSON-able plain data (``config.json``, checkpoint ``config``), keys sorted."""
    return {name: _jsonable(value) for name, value in sorted(vars(args).items())}


def args_from_config(config: dict) -> argparse.Namespace:
    """Namespace for a saved resolved config (sampling script): today's defaults, overlaid by saved values.

    Flags added after the checkpoint was written keep their defaults; unknown old keys are kept as well.
    """
    args = build_parser().parse_args([])
    # checkpoints written before the spatial generator existed hold the global one
    args.generator_type = "global"
    for name, value in config.items():
        setattr(args, name, value)
    return broadcast_stack_lists(args)
