"""The one argument parser: flags (``flags.py``), validation, list broadcasting, resolved config.

``parse_args(argv)`` is the public entry point shared by the training script, the sampling script and the
tests. Invalid settings end in ``parser.error`` (exit code 2) with one line naming every problem's flag
and what would be valid. The limits of the network's settings are not repeated here: the parser reports
``wubugaad.model.model_problems``, the same checks ``build`` and the modules apply (docs/ARCHITECTURE.md,
"Configuration").
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import PurePath

from wubugaad.data import demo_stream, moving_objects
from wubugaad.data.augment import AugmentConfig
from wubugaad.model.config import STACK_KEYS, ModelConfig
from wubugaad.model.flow_reads import flow_reads
from wubugaad.model.vaegan import model_problems
from wubugaad.train.control_flags import add_control_flags
from wubugaad.train.flags import (
    LPIPS_METRICS,
    add_logging_flags,
    add_model_flags,
    add_run_flags,
    add_training_flags,
    add_wubu_flags,
)
from wubugaad.train.source_flags import add_source_flags
from wubugaad.train.upgrade import upgrade_config

# Counts that must be >= 1 (the network's own limits come from `model_problems`, --latent_dim's among them:
# 0 is the spatial generator's deterministic model).
POSITIVE_INTS = (
    "epochs", "batch_size", "image_h", "image_w", "num_channels", "num_predict_frames", "frame_skip",
    "grad_accum_steps", "log_interval", "gaad_num_regions", "gaad_min_size_px",
    "encoder_shallow_cnn_channels", "encoder_roi_align_output_h", "encoder_roi_align_output_w",
    "encoder_pixel_patch_size", "encoder_initial_tangent_dim", "val_block_size", "max_consecutive_nonfinite",
    "moving_train_sequences", "moving_test_sequences", "stream_train_scenes", "stream_val_scenes",
)
# Counts, intervals and sizes where 0 has a meaning (none / never / no limit / all).
NON_NEGATIVE_INTS = (
    "num_input_frames", "disc_context_frames", "num_workers", "max_steps", "lr_warmup_steps",
    "lr_schedule_steps", "keep_last_n", "val_interval", "val_max_clips", "val_num_samples",
    "num_val_samples_to_log", "demo_num_samples", "wandb_log_train_recon_interval",
    "wandb_log_fixed_noise_samples_interval", "gan_start_step", "gan_ramp_steps",
)
# Loss weights, learning rates, decay and the time budget: finite and >= 0.
NON_NEGATIVE_FLOATS = (
    "lambda_recon", "lambda_kl", "lambda_kl_map", "lambda_recon_prior", "lambda_gan", "learning_rate_gen",
    "learning_rate_disc",
    "weight_decay", "max_train_minutes", "scene_cut_threshold", "geometry_lr_mult",
)
# Fractions in [0, 1).
UNIT_INTERVAL_FLOATS = ("validation_split_fraction", "risgd_momentum", "adam_beta1", "adam_beta2",
                        "ema_decay")
# Finite and > 0.
POSITIVE_FLOATS = ("adam_eps",)


def build_parser() -> argparse.ArgumentParser:
    """Parser with every flag: v0.1's (same names, types, nargs) and the ones added since."""
    parser = argparse.ArgumentParser(
        prog="WuBuGAADHybridGen_v0.1.py",
        description="WuBuGAADHybridGen: video VAE-GAN with hyperbolic WuBu nesting and GAAD regions. "
                    "Without arguments it trains a small model on fresh generated demo scenes and validates "
                    "on held-out ones (a quick CPU demo).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    add_run_flags(parser)
    add_model_flags(parser)
    add_wubu_flags(parser)
    add_control_flags(parser)
    add_source_flags(parser)
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
    return problems


def _path_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if args.val_primary_metric in LPIPS_METRICS and not args.use_lpips_for_verification:
        problems.append(f"--val_primary_metric {args.val_primary_metric} needs --use_lpips_for_verification "
                        f"(or pick avg_val_psnr, avg_val_ssim, avg_val_recon_mse or a pred_* metric)")
    if args.val_primary_metric.startswith("sample_") and args.val_num_samples < 1:
        problems.append(f"--val_primary_metric {args.val_primary_metric} needs --val_num_samples N (N >= 1 "
                        f"sampled futures per validation clip)")
    if args.load_checkpoint not in (None, "auto") and not os.path.isfile(args.load_checkpoint):
        problems.append(f"--load_checkpoint: no checkpoint file at '{args.load_checkpoint}' (give an "
                        f"existing file, `auto` for the newest in --checkpoint_dir, or leave it out to start "
                        f"fresh)")
    name = args.run_name
    if name is not None and (name in ("", ".", "..") or PurePath(name).name != name or "\\" in name):
        # a path would put the run folder outside --checkpoint_dir
        problems.append(f"--run_name must be a plain folder name (got '{name}'): no '/', '\\', '.' or '..'; "
                        f"choose the parent folder with --checkpoint_dir")
    if args.validation_video_path is not None and not os.path.exists(args.validation_video_path):
        problems.append(f"--validation_video_path: '{args.validation_video_path}' does not exist (give a "
                        f"video file or folder, or leave it out to hold out --validation_split_fraction)")
    for flag in ("optical_flow_weights", "lpips_weights"):
        path = getattr(args, flag)
        if path is not None and not os.path.isfile(path):
            problems.append(f"--{flag}: no file at '{path}' (leave it out to use the torch hub cache)")
    return problems


def resolve_dataset(args: argparse.Namespace) -> str:
    """``--dataset`` as given, else video when a video path is given and the demo stream when none is (the
    no-argument demo trains on fresh scenes and validates on held-out ones)."""
    if args.dataset is not None:
        return args.dataset
    videos = args.video_data_path is not None or args.validation_video_path is not None
    return "video" if videos else demo_stream.NAME


def _source_problems(args: argparse.Namespace) -> list[str]:
    if args.dataset == "video":
        if args.video_data_path is None:
            return ["--dataset video needs --video_data_path (a video file or a folder of videos; a folder "
                    "named like demo_video_data_dir gets a generated demo video)"]
        return []
    problems = []
    if args.validation_video_path is not None:
        problems.append(f"--validation_video_path applies to --dataset video only (--dataset {args.dataset} "
                        f"validates on its fixed test set; drop the flag)")
    if args.frame_skip != 1:
        problems.append(f"--frame_skip applies to --dataset video only (drop it for --dataset "
                        f"{args.dataset})")
    if args.dataset == demo_stream.NAME:
        return problems
    problem = moving_objects.source_problem(args.dataset, args.mnist_path)
    return problems + ([problem] if problem else [])


def validate_args(args: argparse.Namespace) -> list[str]:
    """All problems of a parsed namespace, one line each (empty when valid)."""
    return (_count_problems(args) + model_problems(ModelConfig.from_args(args)) + _path_problems(args)
            + _source_problems(args))


def moving_objects_config(args: argparse.Namespace) -> moving_objects.MovingObjectsConfig:
    """The moving-object source settings of a parsed command line (the loader's flow: what the model
    reads)."""
    reads = flow_reads(args)
    return moving_objects.MovingObjectsConfig(
        name=args.dataset, path=args.mnist_path, height=args.image_h, width=args.image_w,
        channels=args.num_channels, frames=args.num_input_frames + args.num_predict_frames,
        train_sequences=args.moving_train_sequences, test_sequences=args.moving_test_sequences,
        seed=args.seed, cache_dir=args.cache_dir, flow=reads.loader_method, flow_pairs=reads.loader_pairs)


def demo_stream_config(args: argparse.Namespace) -> demo_stream.DemoStreamConfig:
    """The demo stream's settings of a parsed command line (the loader's flow: what the model reads)."""
    reads = flow_reads(args)
    return demo_stream.DemoStreamConfig(
        height=args.image_h, width=args.image_w, channels=args.num_channels,
        frames=args.num_input_frames + args.num_predict_frames, train_scenes=args.stream_train_scenes,
        test_scenes=args.stream_val_scenes, seed=args.seed, flow=reads.loader_method,
        flow_pairs=reads.loader_pairs)


def resolve_generator_type(args: argparse.Namespace) -> str:
    """``--generator_type`` as given, else spatial with context frames and global without."""
    if args.generator_type is not None:
        return args.generator_type
    return "spatial" if args.num_input_frames > 0 else "global"


def broadcast_stack_lists(args: argparse.Namespace) -> argparse.Namespace:
    """Repeat one-value ``wubu_{s,m,t}`` dims/curvature lists to the level count (in place; fresh lists)."""
    for key in STACK_KEYS:
        levels = getattr(args, f"wubu_{key}_num_levels")
        for suffix in ("hyperbolic_dims", "initial_curvatures"):
            flag = f"wubu_{key}_{suffix}"
            values = list(getattr(args, flag))
            setattr(args, flag, values * levels if len(values) == 1 else values)
        setattr(args, f"wubu_{key}_ablate", sorted(set(getattr(args, f"wubu_{key}_ablate"))))
    args.flow_stats_components = list(args.flow_stats_components)
    args.disc_cnn_channels_2d = list(args.disc_cnn_channels_2d)
    return args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``), validate, broadcast stack lists; exit 2 on bad input."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    args.generator_type = resolve_generator_type(args)
    args.dataset = resolve_dataset(args)
    problems = validate_args(args)
    if problems:
        parser.error("; ".join(problems))
    return broadcast_stack_lists(args)


def metric_mode(name: str) -> str:
    """'min' for losses/distances (mse, lpips), 'max' for similarities (psnr, ssim) and gains in dB
    (learned_gain_db): best-checkpoint rule."""
    kind = name.rsplit("_", 1)[-1]
    if kind in ("mse", "mae", "lpips"):
        return "min"
    if kind in ("psnr", "ssim", "db"):
        return "max"
    raise ValueError(f"metric_mode: unknown metric '{name}' (names end in _mse, _mae, _psnr, _ssim, _lpips "
                     f"or _db)")


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
    """Namespace for a saved resolved config (sampling script): today's defaults, overlaid by saved values
    made explicit where a setting changed meaning since (``upgrade.upgrade_config``).

    Flags added after the checkpoint was written keep their defaults; unknown old keys are kept as well.
    """
    args = build_parser().parse_args([])
    for name, value in upgrade_config(config).items():
        setattr(args, name, value)
    args.generator_type = resolve_generator_type(args)
    args.dataset = resolve_dataset(args)
    return broadcast_stack_lists(args)
