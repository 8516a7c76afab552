"""Flag definitions of the one argument parser: v0.1's flags and the new ones.

Only declarations live here; validation, broadcasting and derived settings are in ``config.py``.
Defaults make the no-argument run a quick CPU demo; every default that differs from v0.1 says so in its
help text ("v0.1 default: ..."), so ``--help`` documents the change. Names of choices (GAAD types, flow
types, ablations, metrics, sources) are imported from the module that defines them.
"""

from __future__ import annotations

import argparse

from wubugaad.data.scene_cuts import DEFAULT_THRESHOLD as SCENE_CUT_THRESHOLD
from wubugaad.data.video_cache import DEFAULT_MIN_DECODED_FRACTION
from wubugaad.gaad.boxes import DECOMPOSITION_TYPES
from wubugaad.model.discriminator import DISCRIMINATOR_TYPES
from wubugaad.model.losses import RECON_LOSSES
from wubugaad.model.motion import FLOW_TYPES, RAFT_TYPES, STAT_COMPONENTS
from wubugaad.model.spatial import FLOW_PRIORS, GENERATOR_TYPES, LATENT_LAYOUTS, MASK_INIT_LOGIT
from wubugaad.optim.schedules import SCHEDULES
from wubugaad.train.validation import CHECKPOINT_METRIC_KEYS as KNOWN_METRICS
from wubugaad.wubu.stack import ABLATIONS

__all__ = ["RAFT_TYPES", "STACKS", "KNOWN_METRICS", "LPIPS_METRICS", "OPTIMIZERS",
           "add_run_flags", "add_model_flags", "add_wubu_flags", "add_training_flags", "add_logging_flags"]

FLOW_STATS = tuple(STAT_COMPONENTS)
OPTIMIZERS = ("risgd", "riemannian_adam")
LPIPS_METRICS = tuple(k for k in KNOWN_METRICS if k.endswith("_lpips"))

# Per stack: (key, readable name, num_levels, hyperbolic dims, curvatures, v0.1 dims when changed).
STACKS = (
    ("s", "WuBu-S (spatial)", 2, [32, 16], [1.0, 0.8], "64 32"),
    ("m", "WuBu-M (motion)", 1, [32], [0.7], None),
    ("t", "WuBu-T (temporal)", 1, [32], [0.5], "128"),
)


def _v01(value: object, why: str = "smaller for the quick CPU demo") -> str:
    return f" (v0.1 default: {value}; {why})"


def _add_on_off(group, name: str, default: bool, help_on: str) -> None:
    """``--name`` / ``--no_name`` pair writing one boolean destination."""
    group.add_argument(f"--{name}", dest=name, action="store_true", help=help_on)
    group.add_argument(f"--no_{name}", dest=name, action="store_false", help=f"turn off --{name}")
    group.set_defaults(**{name: default})


def add_run_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run, data and output")
    g.add_argument("--video_data_path", type=str, default=None,
                   help="training video: a file or a folder of videos (then --dataset defaults to video); a "
                        "path containing `demo_video_data` without videos gets a generated demo video")
    g.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=-1,
                   help="accepted for old torch.distributed launchers; the rank comes from the environment "
                        "(LOCAL_RANK)")
    g.add_argument("--epochs", type=int, default=30,
                   help="number of epochs (absolute index: a resumed run continues up to it)" + _v01(100))
    g.add_argument("--max_steps", type=int, default=0,
                   help="stop after this many optimizer steps in total (0 = no limit)")
    g.add_argument("--max_train_minutes", type=float, default=0.0,
                   help="stop after the first optimizer step that ends this many minutes after training "
                        "started (0 = no limit; benchmarks; one process only: with several ranks use "
                        "--max_steps, each rank reads its own clock)")
    g.add_argument("--batch_size", type=int, default=4, help="clips per process per micro-batch")
    g.add_argument("--image_h", type=int, default=64, help="frame height after resizing")
    g.add_argument("--image_w", type=int, default=64, help="frame width after resizing")
    g.add_argument("--num_channels", type=int, default=3, help="image channels (3 for RGB)")
    g.add_argument("--num_input_frames", type=int, default=3,
                   help="context frames per clip (0 = unconditional VAE-GAN)")
    g.add_argument("--num_predict_frames", type=int, default=1,
                   help="frames the generator produces per clip (>= 1)")
    g.add_argument("--frame_skip", type=int, default=1, help="take every k-th frame of the source video")
    g.add_argument("--resize_mode", choices=("crop", "stretch"), default="crop",
                   help="crop: keep the aspect ratio (centre crop to the target aspect); "
                        "stretch: plain resize")
    g.add_argument("--cache_dir", type=str, default=".wubugaad_cache",
                   help="folder of the memory-mapped uint8 frame cache")
    g.add_argument("--min_decoded_fraction", type=float, default=DEFAULT_MIN_DECODED_FRACTION,
                   help="a video that decodes fewer than this share of the frames its header announces "
                        "stops the run before training; above it the decoded frames are used with a note "
                        "(0 = use whatever decodes)")
    g.add_argument("--scene_cut_threshold", type=float, default=SCENE_CUT_THRESHOLD,
                   help="no clip window crosses a scene cut: a frame pair whose thumbnail difference exceeds "
                        "this many times its neighbours' median (0 = no detection)")
    g.add_argument("--seed", type=int, default=42, help="random seed (per-rank offsets derived from it)")
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms (for resume-equivalence checks; slower)")
    g.add_argument("--num_workers", type=int, default=2, help="data-loader worker processes")
    g.add_argument("--checkpoint_dir", type=str, default="wubugaad_hybridgen_checkpoints_v01",
                   help="where checkpoints, samples, config.json and metrics.jsonl go")
    g.add_argument("--run_name", type=str, default=None,
                   help="name of this run: its folder inside --checkpoint_dir (a plain name) and its WandB "
                        "run name when --wandb_run_name is absent")
    g.add_argument("--overwrite", action="store_true", help="start fresh in a run folder holding another "
                   "run's outputs, moving them into its sub-folder replaced-<time> (else it is refused)")
    g.add_argument("--load_checkpoint", type=str, default=None,
                   help="checkpoint to resume or to start a new phase from (`auto` = newest in "
                        "--checkpoint_dir)")
    g.add_argument("--load_strict", action="store_true",
                   help="refuse to start when the checkpoint does not match the architecture exactly")
    g.add_argument("--keep_last_n", type=int, default=3,
                   help="periodic checkpoints kept on disk (best and last are always kept; 0 = keep all)")


def add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("GAAD regions, motion and encoder")
    g.add_argument("--gaad_num_regions", type=int, default=12, help="appearance regions per frame")
    g.add_argument("--gaad_decomposition_type", choices=DECOMPOSITION_TYPES, default="hybrid",
                   help="appearance GAAD: subdivide, spiral or hybrid (motion_adaptive needs the motion "
                        "branch)")
    g.add_argument("--gaad_min_size_px", type=int, default=4, help="smallest region side in pixels")
    g.add_argument("--use_wubu_motion_branch", action="store_true",
                   help="turn on the optical-flow motion branch (GAAD-M + WuBu-M)")
    g.add_argument("--gaad_motion_num_regions", type=int, default=8, help="motion regions per frame pair")
    g.add_argument("--gaad_motion_decomposition_type", choices=DECOMPOSITION_TYPES, default="hybrid",
                   help="motion GAAD type (subdivide, spiral, hybrid, motion_adaptive)")
    g.add_argument("--optical_flow_net_type", choices=FLOW_TYPES, default="raft_small",
                   help="flow estimator: raft_small, raft_large (pretrained weights), "
                        "dis, farneback (OpenCV)")
    g.add_argument("--optical_flow_weights", type=str, default=None,
                   help="RAFT weights file (default: the torch hub cache)")
    g.add_argument("--optical_flow_random_init", action="store_true",
                   help="random RAFT weights, for benchmarks and tests only")
    g.add_argument("--optical_flow_scale", type=float, default=1.0,
                   help="RAFT runs on frames resized by this factor (0, 1] and its flow is resized back: "
                        "0.5 costs about a quarter (sides stay multiples of 8, at least 128)")
    g.add_argument("--freeze_flow_net", action="store_true",
                   help="keep the flow estimator frozen (only it; the motion encoder still trains)")
    g.add_argument("--flow_stats_components", type=str, nargs="+", choices=FLOW_STATS,
                   default=["mag_mean", "angle_mean"],
                   help="regional flow statistics: any of mag_mean, angle_mean (cos+sin), mag_std, angle_std")
    g.add_argument("--latent_dim", type=int, default=64,
                   help="VAE latent size: spatial generator, a code per future frame with a learned prior "
                        "(0: none, the deterministic model); global generator, one code per clip"
                   + _v01(256))
    g.add_argument("--latent_layout", choices=LATENT_LAYOUTS, default="vector",
                   help="spatial generator: the per-frame code as one vector of --latent_dim numbers "
                        "(vector) or --latent_dim channels on each cell of the coarsest grid (grid), "
                        "read by the bottleneck and as a flow offset where it lies")
    g.add_argument("--latent_map_channels", type=int, default=0,
                   help="spatial generator: channels of an older spatial latent at stride 4 that "
                        "corrects the prediction from what its posterior reads of the targets; off by "
                        "default, its N(0, I) prior samples decode into noise (the per-frame --latent_dim "
                        "code replaces it)")
    g.add_argument("--prior", choices=("fixed", "learned"), default="fixed",
                   help="global generator's clip-level z: fixed N(0, I) as in v0.1, learned p(z | context) "
                        "(the spatial generator's per-frame prior is always learned)")
    g.add_argument("--encoder_use_roi_align", action="store_true",
                   help="region features by RoIAlign on a shallow CNN map (else resized pixel patches, "
                        "also batched)")
    g.add_argument("--encoder_shallow_cnn_channels", type=int, default=32,
                   help="channels of that CNN (divisible by 8: GroupNorm)")
    g.add_argument("--encoder_roi_align_output_h", type=int, default=4, help="RoIAlign output height")
    g.add_argument("--encoder_roi_align_output_w", type=int, default=4, help="RoIAlign output width")
    g.add_argument("--encoder_pixel_patch_size", type=int, default=16,
                   help="patch side when RoIAlign is off")
    g.add_argument("--encoder_initial_tangent_dim", type=int, default=64,
                   help="size of region tokens entering WuBu-S (and motion tokens entering WuBu-M)"
                        + _v01(128))

    g = p.add_argument_group("generator and discriminator")
    g.add_argument("--generator_type", choices=GENERATOR_TYPES, default=None,
                   help="spatial: U-Net over the context frames that warps the last frame by a predicted "
                        "flow (a synthesised correction is blended in only with --gen_synthesis); global: z "
                        "and the context code through 3-D transposed convolutions (the first build; the only "
                        "one without context). Default: spatial with context frames, global without")
    g.add_argument("--gen_base_channels", type=int, default=32,
                   help="generator width: global — widest 3-D conv (halved per upsampling block); spatial — "
                        "a quarter of it at full resolution, doubling per level (stride) up to 4x")
    _add_on_off(g, "gen_use_warp", True,
                "spatial generator: warp the last context frame by a predicted flow (off: a masked "
                "correction on the last frame only; ablation)")
    _add_on_off(g, "gen_use_gaad_paint", True,
                "spatial generator: paint the GAAD region tokens of the last context frame into the cells "
                "of their boxes at the bottleneck (off: ablation)")
    _add_on_off(g, "gen_rollout", True,
                "spatial generator: predict the target frames one at a time, each warped from the one "
                "before and fed back (off: all from the last context frame in one pass)")
    _add_on_off(g, "gen_synthesis", False,
                "spatial generator: blend a synthesised correction into the warp through a learned mask "
                "(x̂ = warp + m·r). Off (the default for video: on held-out video the synthesis fitted the "
                "training video, −0.1 dB), the forecast is a pure warp and the spatial latent's correction "
                "is the one synthesis; on where frames must be invented rather than moved, e.g. Moving "
                "Fashion-MNIST's bounces. Always on with --no_gen_use_warp")
    _add_on_off(g, "gen_extrapolate", True,
                "spatial generator: a head channel e_p (0 at init) adds e_p·k_p·(x_last − x_before) per "
                "pixel, the last frame's change continued in time, where warping cannot explain the change "
                "(fades, shading, a texture drifting in place); pays together with --gen_flow_confidence")
    _add_on_off(g, "gen_change_persistence", True,
                "spatial generator with --gen_extrapolate and three or more context frames: continue only "
                "the part of the last change that the change before it predicts (a local least-squares "
                "coefficient in [0, 1]), so sensor noise and flicker are not continued")
    _add_on_off(g, "gen_flow_confidence", True,
                "spatial generator with the flow prior: a head channel u_p (0 at init) scales the classical "
                "flow per pixel by 1 + tanh(u_p) in (0, 2): 0 falls back towards copying where the flow is "
                "wrong, 2 continues a motion that speeds up")
    _add_on_off(g, "gen_copy_blend", True,
                "spatial generator with the warp: a head channel b_p (0 at init) mixes each warped frame "
                "with the unwarped one, x̂ + σ(b_p)·(x_kept − x̂): where the motion is uncertain the frame "
                "with the least expected squared error lies between moving and staying")
    g.add_argument("--gen_flow_prior", choices=FLOW_PRIORS, default="dis",
                   help="spatial generator: classical optical flow (OpenCV, computed by the data loader) of "
                        "the last context pair, extrapolated at constant velocity as the warp's starting "
                        "flow behind a learned gate that is 0 at init; the head learns the rest (none: the "
                        "head predicts the whole flow). With the motion branch on, its own flow is used")
    g.add_argument("--gen_max_flow_px", type=float, default=16.0,
                   help="spatial generator: bound of the predicted flow in pixels (max·tanh(raw/max))")
    g.add_argument("--gen_mask_init_logit", type=float, default=MASK_INIT_LOGIT,
                   help="spatial generator with --gen_synthesis: the blend mask's logit at init (σ(−4) ≈ "
                        "0.02: the warp leads, the synthesis opens where it pays; best on natural motion; 0 "
                        "starts it half open, best where far frames need synthesis, e.g. bouncing objects). "
                        "The output at init is the last context frame either way")
    g.add_argument("--gen_temporal_kernel_size", type=int, default=3,
                   help="temporal kernel of the global generator's 3-D convolutions (odd)")
    g.add_argument("--gen_final_conv_kernel_spatial", type=int, default=3,
                   help="spatial kernel of the generator output convolution (odd; both generators)")
    _add_on_off(g, "residual_generator", True,
                "global generator: predict a residual on the last context frame (zero-initialised: the "
                "untrained model copies the last frame); needs context frames (the spatial generator ignores "
                "it: it always starts from the last frame)")
    g.add_argument("--discriminator_type", choices=DISCRIMINATOR_TYPES, default="spatio_temporal_cnn",
                   help="spatio_temporal_cnn or regional_cnn")
    g.add_argument("--disc_apply_spectral_norm", action="store_true",
                   help="spectral normalisation in the discriminator")
    g.add_argument("--disc_base_disc_channels", type=int, default=16,
                   help="first 3-D conv width of the discriminator" + _v01(64))
    g.add_argument("--disc_max_disc_channels", type=int, default=64, help="cap on its widths" + _v01(512))
    g.add_argument("--disc_temporal_kernel_size", type=int, default=3, help="its temporal kernel")
    g.add_argument("--disc_stem_stride", type=int, choices=(0, 2, 4, 8), default=0,
                   help="spatial stride of the 3-D discriminator's first block: 2, 4 or 8 (a per-frame patch "
                        "embedding, each doubling 4× cheaper) or 0 = auto (4 from a 128 px short side, 8 "
                        "from 256 px)")
    g.add_argument("--disc_context_frames", type=int, default=2,
                   help="context frames the discriminator sees before the targets: it judges [last K context "
                        "frames ; targets] (real and fake aligned); at most --num_input_frames are used, "
                        "so a large K judges the whole clip")
    g.add_argument("--disc_min_hidden_fc_dim", type=int, default=128,
                   help="lower bound of its final hidden layer")
    g.add_argument("--disc_max_hidden_fc_dim", type=int, default=512,
                   help="upper bound of its final hidden layer")
    g.add_argument("--disc_use_gaad_film_condition", action="store_true",
                   help="FiLM-condition the discriminator on GAAD/context features")
    g.add_argument("--disc_gaad_condition_dim_disc", type=int, default=64, help="size of that condition")
    g.add_argument("--disc_patch_size", type=int, default=16, help="region size for regional_cnn")
    g.add_argument("--disc_cnn_channels_2d", type=int, nargs="+", default=[64, 128, 256],
                   help="2-D conv widths for regional_cnn")


def add_wubu_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("WuBu nesting stacks")
    g.add_argument("--wubu_dropout", type=float, default=0.1, help="dropout inside WuBu levels")
    g.add_argument("--wubu_replace_with_mlp", action="store_true",
                   help="ablation: WuBu-S, -M and -T become residual MLP blocks of the same widths with "
                        "the same time mixing, and no balls, boundaries, spread, descriptors or rotations")
    g.add_argument("--wubu_t_num_heads", type=int, default=4,
                   help="attention heads of WuBu-T's causal mixing")
    for key, name, levels, dims, curvs, old_dims in STACKS:
        dims_help = (f"ball dimension per level of {name} (one value is broadcast to all levels)"
                     + (_v01(old_dims) if old_dims else ""))
        g.add_argument(f"--wubu_{key}_num_levels", type=int, default=levels, help=f"levels in {name}")
        g.add_argument(f"--wubu_{key}_hyperbolic_dims", type=int, nargs="+", default=list(dims),
                       help=dims_help)
        g.add_argument(f"--wubu_{key}_initial_curvatures", type=float, nargs="+", default=list(curvs),
                       help=f"initial curvature per level of {name} (one value is broadcast)")
        g.add_argument(f"--wubu_{key}_use_rotation", action="store_true",
                       help=f"SO(n) rotations in the transitions of {name}")
        g.add_argument(f"--wubu_{key}_phi_influence_curvature", action="store_true",
                       help=f"φ-scaled initial curvature per level of {name}")
        g.add_argument(f"--wubu_{key}_phi_influence_rotation_init", action="store_true",
                       help=f"φ-based initial rotation angles in {name}")
        g.add_argument(f"--wubu_{key}_boundary_points", type=int, default=4,
                       help=f"learnable boundary points per level of {name}")
        _add_on_off(g, f"wubu_{key}_tangent_flow", True, f"tangent-space flow inside the levels of {name}")
        g.add_argument(f"--wubu_{key}_ablate", nargs="*", choices=ABLATIONS, default=[],
                       help=f"components of {name} to switch off for ablations: {', '.join(ABLATIONS)}")
    for key in ("s", "m"):
        g.add_argument(f"--wubu_{key}_output_dim", type=int, default=None,
                       help="deprecated: derived from the last level "
                            "(accepted and ignored; v0.1 default: 32)")


def add_training_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("losses and optimisation")
    g.add_argument("--recon_loss", choices=RECON_LOSSES, default="l1",
                   help="per-pixel reconstruction loss on the target frames in [-1, 1]: l1, mse or their sum")
    g.add_argument("--lambda_recon", type=float, default=100.0, help="weight of the reconstruction loss"
                   + _v01(10, "SAVP's L1 weight: reconstruction leads"))
    g.add_argument("--lambda_kl", type=float, default=0.1,
                   help="weight of the KL term (spatial generator: KL nats per frame over the frame's "
                        "C·H·W pixels, like the per-pixel reconstruction mean)")
    g.add_argument("--lambda_recon_prior", type=float, default=100.0,
                   help="spatial generator: weight of the reconstruction loss of the prediction at the "
                        "prior's mean (what predict returns), run in the same batched forward; it keeps "
                        "the decoder predicting without the posterior's code (0: off, a third cheaper step)")
    g.add_argument("--lambda_kl_map", type=float, default=1e-4,
                   help="weight of the spatial latent's KL (summed over its cells, so far smaller than "
                        "--lambda_kl: the reconstruction term is a mean over pixels)")
    g.add_argument("--lambda_gan", type=float, default=0.1,
                   help="weight of the generator adversarial term once the warm-up is over (0 without "
                        "--q_controller_enabled: no discriminator is run or trained)"
                   + _v01(1, "SAVP's weight: reconstruction leads"))
    g.add_argument("--gan_start_step", type=int, default=300,
                   help="optimizer step at which the generator's adversarial term is switched on (D trains "
                        "from the start)")
    g.add_argument("--gan_ramp_steps", type=int, default=200,
                   help="steps over which that weight rises linearly from 0 to --lambda_gan (0: at once)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default="riemannian_adam",
                   help="optimizer of both networks: risgd = RiemannianEnhancedSGD (momentum SGD), "
                        "riemannian_adam = AdamW with Riemannian Adam on the Poincaré-ball parameters"
                        + _v01("risgd", "Adam moves the conv generator far more in a CPU budget"))
    g.add_argument("--learning_rate_gen", type=float, default=2e-3,
                   help="base learning rate of encoder+generator" + _v01("1e-4", "for Adam"))
    g.add_argument("--learning_rate_disc", type=float, default=2e-4,
                   help="base learning rate of the discriminator" + _v01("1e-4", "for Adam"))
    g.add_argument("--risgd_momentum", type=float, default=0.9, help="RiSGD momentum, in [0, 1)")
    g.add_argument("--adam_beta1", type=float, default=0.9,
                   help="riemannian_adam: β₁ (first-moment decay, in [0, 1); the Q-controller scales it)")
    g.add_argument("--adam_beta2", type=float, default=0.999,
                   help="riemannian_adam: β₂ (second-moment decay, in [0, 1))")
    g.add_argument("--adam_eps", type=float, default=1e-8, help="riemannian_adam: denominator epsilon (> 0)")
    g.add_argument("--weight_decay", type=float, default=0.01,
                   help="weight decay (>= 0): L2 on the gradient (risgd) or decoupled (riemannian_adam)")
    g.add_argument("--lr_schedule", choices=SCHEDULES, default="constant",
                   help="learning-rate schedule multiplying every group's base rate: constant, cosine (to 0 "
                        "at the horizon) or onecycle (1/25 → 1 → ~0); composes with the Q-controller's scale")
    g.add_argument("--lr_schedule_steps", type=int, default=0,
                   help="horizon of the schedule in optimizer steps (0 = --max_steps when set, else every "
                        "step of --epochs)")
    g.add_argument("--lr_warmup_steps", type=int, default=0,
                   help="linear warm-up steps of the schedule (onecycle: its rise; 0 = 30%% of the horizon)")
    g.add_argument("--geometry_lr_mult", type=float, default=1.0,
                   help="learning-rate multiplier of the geometry scalars (softplus pre-activations of every "
                        "WuBu level's curvature, scale and spread; they never get weight decay)")
    g.add_argument("--freeze_geometry", action="store_true",
                   help="keep every curvature, scale and spread at its initial value (left out of the "
                        "optimizer): the fixed-geometry ablation")
    g.add_argument("--weight_decay_ball", action="store_true",
                   help="also decay boundary points and descriptors toward the ball's origin (by default "
                        "only weight matrices and kernels are decayed)")
    g.add_argument("--risgd_max_grad_norm", type=float, default=1.0,
                   help="per-parameter gradient-norm cap inside either optimizer (<= 0: none)")
    g.add_argument("--global_max_grad_norm", type=float, default=5.0,
                   help="global gradient-norm clip per network (<= 0: none)")
    g.add_argument("--q_controller_enabled", action="store_true",
                   help="HAKMEM Q-controller on both optimizers")
    g.add_argument("--grad_accum_steps", type=int, default=1, help="micro-batches per optimizer step (>= 1)")
    g.add_argument("--use_amp", action="store_true", help="mixed precision on CUDA")
    g.add_argument("--amp_dtype", choices=("bf16", "fp16"), default="bf16",
                   help="AMP dtype: bf16 (no scaler) or fp16 (with gradient scalers)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the networks (CUDA only; ignored with a note on the CPU)")
    g.add_argument("--detect_anomaly", action="store_true",
                   help="autograd anomaly detection (slow; for debugging NaNs)")
    g.add_argument("--max_consecutive_nonfinite", type=int, default=20,
                   help="abort after this many optimizer steps in a row with non-finite losses or gradients")

    g = p.add_argument_group("augmentation (training batches only; each choice per clip, probability 1/2)")
    _add_on_off(g, "augment", True, "augment training batches with the transforms switched on below "
                "(--no_augment turns them all off)")
    _add_on_off(g, "aug_hflip", True, "mirror clips left-right")
    _add_on_off(g, "aug_vflip", True, "mirror clips upside down")
    _add_on_off(g, "aug_transpose", True, "swap the x and y axes (square frames only; skipped otherwise)")
    _add_on_off(g, "aug_time_reverse", True, "play the whole clip (context and targets) backwards")
    _add_on_off(g, "aug_channel_permute", True, "random order of the colour channels per clip (RGB only)")


def add_logging_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("logging, validation and samples")
    g.add_argument("--wandb", action="store_true", help="log to WandB (offline when not logged in)")
    g.add_argument("--wandb_project", type=str, default="WuBuGAADHybridGenV01", help="WandB project")
    g.add_argument("--wandb_run_name", type=str, default=None, help="WandB run name (generated when absent)")
    g.add_argument("--log_interval", type=int, default=10,
                   help="console/WandB scalar logging every N optimizer steps" + _v01(50))
    g.add_argument("--save_interval", type=int, default=1000,
                   help="extra checkpoint every N optimizer steps (<= 0 disables)")
    g.add_argument("--log_grad_norm", action="store_true", help="log gradient norms per network")
    g.add_argument("--wandb_log_train_recon_interval", type=int, default=0,
                   help="log training predictions/context/targets every N steps (0: never)")
    g.add_argument("--wandb_log_fixed_noise_samples_interval", type=int, default=0,
                   help="log generations from a fixed latent (and fixed context) every N steps (0: never)")
    g.add_argument("--use_lpips_for_verification", action="store_true", help="compute LPIPS in validation")
    g.add_argument("--lpips_weights", type=str, default=None,
                   help="LPIPS backbone weights file (default: the torch hub cache)")
    g.add_argument("--validation_video_path", type=str, default=None,
                   help="separate validation video or folder (a path that does not exist is an error)")
    g.add_argument("--validation_split_fraction", type=float, default=0.1,
                   help="share of windows held out when there is no validation video, in [0, 1)")
    g.add_argument("--val_block_size", type=int, default=20, help="windows per held-out block")
    g.add_argument("--val_interval", type=int, default=0,
                   help="validate every N optimizer steps (0 = at the end of each epoch)")
    g.add_argument("--val_max_clips", type=int, default=0, help="validation clips used at most (0 = all)")
    g.add_argument("--val_num_samples", type=int, default=0,
                   help="sampled futures per validation clip for best/mean/worst-of-N and diversity "
                        "(val/sample_*); 0 = off: each costs a generate forward per clip")
    g.add_argument("--val_primary_metric", choices=KNOWN_METRICS, default="pred_psnr",
                   help="metric that selects the best checkpoint: prediction PSNR by default, since the "
                        "reconstruction metrics (avg_val_*) let the posterior see the targets; or the "
                        "learned gain over the baselines (v0.1 names allowed; v0.1 default: avg_val_psnr)")
    g.add_argument("--ema_decay", type=float, default=0.99,
                   help="validation, samples and the best checkpoint use an exponential moving average of "
                        "the model's weights, θ̄ ← θ̄ + (1 − d)(θ − θ̄) after every optimizer step (0.99: about "
                        "the last 100 steps); training steps the raw weights; 0 = validate the raw weights")
    g.add_argument("--num_val_samples_to_log", type=int, default=2,
                   help="clips whose frames are logged as images")
    g.add_argument("--demo_num_samples", type=int, default=4, help="samples generated at the end of the run; "
                   "also the futures sampled (seeded by --seed) behind samples/fixed_noise_generated "
                   "and the sampled-futures strip")
    g.add_argument("--sample_format", choices=("mp4", "gif", "png"), default="mp4",
                   help="format of sample clips (PNG grids are always written)")
