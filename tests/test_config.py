"""The argument parser: v0.1's flags and launcher argv, demo defaults, validation."""

import argparse
import json

import pytest
from wubugaad.train.config import (
    args_from_config,
    build_parser,
    metric_mode,
    parse_args,
    resolved_config,
)

# v0.1's flags, grouped by kind: (flag, type, nargs) for valued flags; store_true flags by name.
STACK_KEYS = ("s", "m", "t")
CONTRACT_STORE_TRUE = [
    "load_strict", "wandb", "use_wubu_motion_branch", "freeze_flow_net", "encoder_use_roi_align",
    "disc_apply_spectral_norm", "disc_use_gaad_film_condition", "q_controller_enabled", "use_amp",
    "detect_anomaly", "log_grad_norm", "use_lpips_for_verification",
    *(f"wubu_{k}_{s}" for k in STACK_KEYS
      for s in ("use_rotation", "phi_influence_curvature", "phi_influence_rotation_init")),
]
CONTRACT_VALUED = [
    *((name, str, None) for name in (
        "video_data_path", "checkpoint_dir", "load_checkpoint", "wandb_project", "wandb_run_name",
        "gaad_decomposition_type", "gaad_motion_decomposition_type", "optical_flow_net_type",
        "discriminator_type", "validation_video_path", "val_primary_metric")),
    *((name, int, None) for name in (
        "local_rank", "epochs", "batch_size", "image_h", "image_w", "num_channels", "num_input_frames",
        "num_predict_frames", "frame_skip", "seed", "num_workers", "log_interval", "save_interval",
        "gaad_num_regions", "gaad_min_size_px", "gaad_motion_num_regions", "latent_dim",
        "encoder_shallow_cnn_channels", "encoder_roi_align_output_h", "encoder_roi_align_output_w",
        "encoder_pixel_patch_size", "encoder_initial_tangent_dim", "gen_temporal_kernel_size",
        "gen_final_conv_kernel_spatial", "disc_base_disc_channels", "disc_max_disc_channels",
        "disc_temporal_kernel_size", "disc_min_hidden_fc_dim", "disc_max_hidden_fc_dim",
        "disc_gaad_condition_dim_disc", "disc_patch_size", "wubu_s_output_dim", "wubu_m_output_dim",
        "grad_accum_steps", "wandb_log_train_recon_interval", "wandb_log_fixed_noise_samples_interval",
        "val_block_size", "num_val_samples_to_log", "demo_num_samples",
        *(f"wubu_{k}_num_levels" for k in STACK_KEYS))),
    *((name, float, None) for name in (
        "wubu_dropout", "lambda_recon", "lambda_kl", "lambda_gan", "learning_rate_gen", "learning_rate_disc",
        "risgd_max_grad_norm", "global_max_grad_norm", "validation_split_fraction")),
    ("flow_stats_components", str, "+"),
    ("disc_cnn_channels_2d", int, "+"),
    *((f"wubu_{k}_hyperbolic_dims", int, "+") for k in STACK_KEYS),
    *((f"wubu_{k}_initial_curvatures", float, "+") for k in STACK_KEYS),
]


def _actions() -> dict[str, argparse.Action]:
    return {opt: a for a in build_parser()._actions for opt in a.option_strings}


# The argv the v0.1 `run_vaegan.bat` builds for its research configuration; the SET
# variables VIDEO_DATA_PATH, CHECKPOINT_OUTPUT_DIR, VALIDATION_VIDEO_PATH and LOAD_CHECKPOINT fill the paths.
RESEARCH_ARGV = """
--video_data_path VIDEO_DATA_PATH --checkpoint_dir CHECKPOINT_OUTPUT_DIR
--validation_video_path VALIDATION_VIDEO_PATH --load_checkpoint LOAD_CHECKPOINT --load_strict
--epochs 100 --batch_size 8 --image_h 256 --image_w 256 --num_channels 3
--num_input_frames 10 --num_predict_frames 3 --frame_skip 1 --seed 42 --num_workers 4 --latent_dim 512
--gaad_num_regions 24 --gaad_decomposition_type hybrid --gaad_min_size_px 2
--encoder_use_roi_align --encoder_shallow_cnn_channels 32 --encoder_roi_align_output_h 4
--encoder_roi_align_output_w 4 --encoder_pixel_patch_size 16 --encoder_initial_tangent_dim 192
--gen_temporal_kernel_size 3 --gen_final_conv_kernel_spatial 3
--discriminator_type spatio_temporal_cnn --disc_apply_spectral_norm
--disc_base_disc_channels 64 --disc_max_disc_channels 512 --disc_temporal_kernel_size 3
--disc_min_hidden_fc_dim 128 --disc_max_hidden_fc_dim 512
--disc_use_gaad_film_condition --disc_gaad_condition_dim_disc 64
--disc_patch_size 16 --disc_cnn_channels_2d 64 128 256 --wubu_dropout 0.1
--wubu_s_num_levels 2 --wubu_s_hyperbolic_dims 128 64 --wubu_s_initial_curvatures 1.0 0.7
--wubu_s_phi_influence_curvature --wubu_s_output_dim 32
--wubu_t_num_levels 2 --wubu_t_hyperbolic_dims 256 128 --wubu_t_initial_curvatures 1.0 0.7
--wubu_t_phi_influence_curvature
--use_wubu_motion_branch --gaad_motion_num_regions 16 --gaad_motion_decomposition_type hybrid
--wubu_m_num_levels 2 --wubu_m_hyperbolic_dims 128 64 --wubu_m_initial_curvatures 1.0 0.8
--wubu_m_use_rotation --wubu_m_phi_influence_curvature --wubu_m_phi_influence_rotation_init
--wubu_m_output_dim 32
--optical_flow_net_type raft_small --freeze_flow_net --flow_stats_components mag_mean angle_mean
--learning_rate_gen 3e-4 --learning_rate_disc 1e-4 --risgd_max_grad_norm 2.0 --global_max_grad_norm 2.0
--grad_accum_steps 1 --q_controller_enabled
--lambda_recon 10.0 --lambda_kl 0.0001 --lambda_gan 1.0
--log_interval 2 --save_interval 1000000
--use_lpips_for_verification --validation_split_fraction 0.1 --val_block_size 20
--val_primary_metric avg_val_psnr --num_val_samples_to_log 2 --demo_num_samples 4
--wandb --wandb_project WuBuGAADHybridGenV01_Comprehensive --wandb_run_name research
--wandb_log_train_recon_interval 25 --wandb_log_fixed_noise_samples_interval 100
"""


def research_argv(tmp_path) -> list[str]:
    """RESEARCH_ARGV with its path variables pointing at files that exist (the parser checks them)."""
    (tmp_path / "val.mp4").write_bytes(b"")
    (tmp_path / "phase1_best.pt").write_bytes(b"")
    paths = {"VIDEO_DATA_PATH": tmp_path / "videos", "CHECKPOINT_OUTPUT_DIR": tmp_path / "ckpts",
             "VALIDATION_VIDEO_PATH": tmp_path / "val.mp4", "LOAD_CHECKPOINT": tmp_path / "phase1_best.pt"}
    return [str(paths.get(token, token)) for token in RESEARCH_ARGV.split()]


def test_every_contract_flag_has_its_v01_kind():
    actions = _actions()
    for name in CONTRACT_STORE_TRUE:
        action = actions[f"--{name}"]
        assert isinstance(action, argparse._StoreTrueAction) and action.default is False, name
    for name, kind, nargs in CONTRACT_VALUED:
        action = actions[f"--{name}"]
        assert action.type in (kind, None) and action.nargs == nargs, name
        assert action.help, name
    assert actions["--local-rank"] is actions["--local_rank"]


def test_research_argv_of_the_v01_launcher(tmp_path):
    args = parse_args(research_argv(tmp_path))
    assert (args.image_h, args.image_w, args.num_input_frames, args.num_predict_frames) == (256, 256, 10, 3)
    assert args.wubu_m_hyperbolic_dims == [128, 64] and args.wubu_t_initial_curvatures == [1.0, 0.7]
    assert args.wubu_m_use_rotation and args.wubu_m_phi_influence_rotation_init and args.load_strict
    assert args.lambda_kl == 1e-4 and args.learning_rate_gen == 3e-4 and args.save_interval == 1_000_000
    assert args.wandb_project == "WuBuGAADHybridGenV01_Comprehensive"
    assert args.flow_stats_components == ["mag_mean", "angle_mean"]


def test_no_argument_defaults_are_the_quick_demo():
    args = parse_args([])
    assert args.dataset == "demo_stream" and args.video_data_path is None and args.stream_train_scenes == 128
    assert parse_args(["--video_data_path", "demo_video_data_dir"]).dataset == "video"
    assert args.gen_flow_confidence and args.gen_extrapolate
    assert args.checkpoint_dir == "wubugaad_hybridgen_checkpoints_v01"
    assert (args.epochs, args.batch_size, args.image_h, args.image_w) == (30, 4, 64, 64)
    assert (args.num_input_frames, args.num_predict_frames, args.latent_dim) == (3, 1, 64)
    assert not args.use_wubu_motion_branch and args.load_checkpoint is None and args.local_rank == -1
    assert args.wubu_s_hyperbolic_dims == [32, 16] and args.wubu_t_hyperbolic_dims == [32]
    assert (args.optimizer, args.amp_dtype, args.resize_mode, args.sample_format) == (
        "riemannian_adam", "bf16", "crop", "mp4")
    assert args.generator_type == "spatial" and args.gen_use_warp and args.gen_use_gaad_paint
    assert (args.recon_loss, args.lambda_recon, args.lambda_gan) == ("l1", 100.0, 0.1)
    assert args.residual_generator and args.wubu_t_tangent_flow and args.wubu_s_ablate == []
    assert (args.keep_last_n, args.max_steps, args.val_interval) == (3, 0, 0)
    assert args.max_consecutive_nonfinite == 20
    assert (args.risgd_momentum, args.weight_decay, args.cache_dir) == (0.9, 0.01, ".wubugaad_cache")


def test_defaults_select_by_prediction_augment_and_detect_cuts():
    args = parse_args([])
    assert args.val_primary_metric == "pred_psnr" and metric_mode(args.val_primary_metric) == "max"
    assert args.augment and args.aug_hflip and args.aug_vflip and args.aug_transpose
    assert args.aug_time_reverse and args.aug_channel_permute and args.scene_cut_threshold == 3.0
    assert not parse_args(["--no_augment"]).augment and not parse_args(["--no_aug_hflip"]).aug_hflip


def test_help_documents_changed_defaults_and_deprecations():
    actions = _actions()
    for flag, old in (("epochs", "100"), ("latent_dim", "256"), ("encoder_initial_tangent_dim", "128"),
                      ("disc_base_disc_channels", "64"), ("disc_max_disc_channels", "512"),
                      ("log_interval", "50"), ("wubu_s_hyperbolic_dims", "64 32"),
                      ("wubu_t_hyperbolic_dims", "128")):
        assert f"v0.1 default: {old}" in actions[f"--{flag}"].help, flag
    assert actions["--wubu_s_output_dim"].help.startswith("deprecated: derived from the last level")
    assert actions["--optimizer"].choices == ("risgd", "riemannian_adam")
    build_parser().format_help()  # every help string must format (no stray % signs)


def test_local_rank_spellings_and_on_off_pairs():
    assert parse_args(["--local-rank=1"]).local_rank == 1
    assert parse_args(["--local_rank", "2"]).local_rank == 2
    args = parse_args(["--no_residual_generator", "--no_wubu_m_tangent_flow", "--wubu_s_ablate", "flow",
                       "rotation", "flow"])
    assert not args.residual_generator and not args.wubu_m_tangent_flow and args.wubu_s_tangent_flow
    assert args.wubu_s_ablate == ["flow", "rotation"]


def test_one_value_lists_are_broadcast_to_the_level_count():
    args = parse_args(["--wubu_s_num_levels", "3", "--wubu_s_hyperbolic_dims", "16",
                       "--wubu_s_initial_curvatures", "0.5", "--wubu_t_num_levels", "0"])
    assert args.wubu_s_hyperbolic_dims == [16, 16, 16] and args.wubu_s_initial_curvatures == [0.5] * 3
    assert args.wubu_t_hyperbolic_dims == [] and args.wubu_t_initial_curvatures == []


BAD_INPUTS = [
    (["--wubu_s_hyperbolic_dims", "8", "8", "8"], "--wubu_s_hyperbolic_dims"),
    (["--wubu_m_initial_curvatures", "1.0", "0.5"], "--wubu_m_initial_curvatures"),
    (["--wubu_t_num_levels", "2", "--wubu_t_hyperbolic_dims", "8", "8", "8"], "--wubu_t_hyperbolic_dims"),
    (["--wubu_s_num_levels", "-1"], "--wubu_s_num_levels"),
    (["--wubu_s_initial_curvatures", "0"], "--wubu_s_initial_curvatures"),
    (["--use_wubu_motion_branch", "--image_h", "64", "--image_w", "128"], "--image_h"),
    (["--use_wubu_motion_branch", "--optical_flow_net_type", "raft_large", "--image_h", "128", "--image_w",
      "132"], "--image_w"),
    (["--encoder_shallow_cnn_channels", "20"], "--encoder_shallow_cnn_channels"),
    (["--batch_size", "0"], "--batch_size"),
    (["--num_predict_frames", "0"], "--num_predict_frames"),
    (["--grad_accum_steps", "0"], "--grad_accum_steps"),
    (["--log_interval", "0"], "--log_interval"),
    (["--gaad_num_regions", "0"], "--gaad_num_regions"),
    (["--gaad_motion_num_regions", "0"], "--gaad_motion_num_regions"),
    (["--epochs", "0"], "--epochs"),
    (["--num_channels", "0"], "--num_channels"),
    (["--num_input_frames", "-1"], "--num_input_frames"),
    (["--validation_split_fraction", "1.0"], "--validation_split_fraction"),
    (["--validation_split_fraction", "-0.1"], "--validation_split_fraction"),
    (["--learning_rate_gen", "-1e-4"], "--learning_rate_gen"),
    (["--learning_rate_disc", "nan"], "--learning_rate_disc"),
    (["--lambda_kl", "-0.1"], "--lambda_kl"),
    (["--lambda_gan", "-1"], "--lambda_gan"),
    (["--max_train_minutes", "-2"], "--max_train_minutes"),
    (["--val_primary_metric", "avg_val_lpips"], "--use_lpips_for_verification"),
    (["--val_primary_metric", "pred_lpips"], "--use_lpips_for_verification"),
    (["--val_primary_metric", "avg_val_fid"], "--val_primary_metric"),
    (["--load_checkpoint", "/nonexistent/ckpt.pt"], "--load_checkpoint"),
    (["--validation_video_path", "/nonexistent/val.mp4"], "--validation_video_path"),
    (["--optical_flow_weights", "/nonexistent/raft.pth"], "--optical_flow_weights"),
    (["--gen_final_conv_kernel_spatial", "4"], "--gen_final_conv_kernel_spatial"),
    (["--risgd_momentum", "1.0"], "--risgd_momentum"),
    (["--optical_flow_net_type", "pwcnet"], "--optical_flow_net_type"),
    (["--gaad_decomposition_type", "grid"], "--gaad_decomposition_type"),
    (["--gaad_decomposition_type", "motion_adaptive"], "--use_wubu_motion_branch"),
    (["--gaad_motion_decomposition_type", "grid"], "--gaad_motion_decomposition_type"),
    (["--optimizer", "adam"], "--optimizer"),
    (["--adam_beta1", "1.0"], "--adam_beta1"),
    (["--adam_eps", "0"], "--adam_eps"),
    (["--flow_stats_components", "mag_max"], "--flow_stats_components"),
    (["--wubu_t_ablate", "everything"], "--wubu_t_ablate"),
    (["--gaad_min_size_px", "65"], "--gaad_min_size_px"),
    (["--disc_base_disc_channels", "128"], "--disc_base_disc_channels"),
    (["--keep_last_n", "-1"], "--keep_last_n"),
    (["--epoch", "3"], "--epoch"),  # abbreviations are refused: a typo must not silently hit another flag
]


@pytest.mark.parametrize("argv, flag", BAD_INPUTS, ids=[flag for _, flag in BAD_INPUTS])
def test_bad_input_exits_2_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err


def test_valid_edge_cases_pass(tmp_path):
    args = parse_args(["--num_input_frames", "0", "--validation_split_fraction", "0", "--load_checkpoint",
                       "auto", "--val_primary_metric", "pred_lpips", "--use_lpips_for_verification",
                       "--use_wubu_motion_branch", "--optical_flow_net_type", "farneback",
                       "--image_h", "36", "--image_w", "60", "--lambda_kl", "0"])
    assert args.num_input_frames == 0 and args.load_checkpoint == "auto" and args.image_h == 36


def test_metric_mode():
    assert [metric_mode(m) for m in ("avg_val_psnr", "avg_val_ssim", "pred_psnr", "pred_ssim")] == ["max"] * 4
    lower_is_better = ("avg_val_recon_mse", "avg_val_lpips", "pred_mse", "copy_last_lpips")
    assert [metric_mode(m) for m in lower_is_better] == ["min"] * 4
    with pytest.raises(ValueError, match="avg_val_fid"):
        metric_mode("avg_val_fid")


def test_resolved_config_is_json_and_round_trips(tmp_path):
    args = parse_args(research_argv(tmp_path))
    config = resolved_config(args)
    assert json.loads(json.dumps(config)) == config
    assert set(config) == set(vars(args)) and config["wubu_s_hyperbolic_dims"] == [128, 64]
    assert vars(args_from_config(config)) == vars(args)


def test_config_from_before_the_stride_8_stem_keeps_its_discriminator(tmp_path):
    """A config saved before `--optical_flow_scale` existed resolved the automatic D stem to 4 at 256 px;
    rebuilding it must give that D (its checkpoint's shapes), not today's stride-8 stem."""
    config = resolved_config(parse_args(research_argv(tmp_path)))
    assert config["disc_stem_stride"] == 0 and config["image_h"] == 256
    old = {k: v for k, v in config.items() if k != "optical_flow_scale"}
    assert args_from_config(old).disc_stem_stride == 4
    assert args_from_config(old).optical_flow_scale == 1.0  # RAFT at full size, as it then ran
    assert args_from_config(config).disc_stem_stride == 0


def test_config_from_before_the_rollout_keeps_its_one_pass_head(tmp_path):
    """A config saved before `--gen_rollout` existed has a head for all target frames at once; rebuilding
    it must give that generator (its checkpoint's shapes), while new runs roll out."""
    config = resolved_config(parse_args(research_argv(tmp_path)))
    assert config["gen_rollout"] is True
    old = {k: v for k, v in config.items() if k != "gen_rollout"}
    assert args_from_config(old).gen_rollout is False
    assert args_from_config(config).gen_rollout is True


def test_config_from_before_the_flow_prior_rebuilds_without_it(tmp_path):
    """A config saved before the flow prior, the extrapolation channel and the spatial latent existed has
    none of their parameters; rebuilding it must leave them out, while new runs get today's defaults."""
    config = resolved_config(parse_args(research_argv(tmp_path)))
    assert config["gen_flow_prior"] == "dis"
    old = {k: v for k, v in config.items()
           if k not in ("gen_flow_prior", "gen_extrapolate", "latent_map_channels")}
    rebuilt = args_from_config(old)
    assert rebuilt.gen_flow_prior == "none"
    assert not rebuilt.gen_extrapolate and rebuilt.latent_map_channels == 0
    assert args_from_config(config).gen_flow_prior == "dis"


def test_the_video_source_without_a_video_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as done:
        parse_args(["--dataset", "video"])
    assert done.value.code == 2
    assert "--dataset video needs --video_data_path" in capsys.readouterr().err
