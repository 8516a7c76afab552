"""Everything the training loop needs, built before the first step: ``setup(args) → Session``.

Order: process group and device → seeds and determinism → run folder (refused when it holds another run's
outputs, ``run_folder``) and tracker → datasets, samplers and loaders → model and discriminator (shared
seed, so every rank starts from the same weights; DDP also broadcasts rank 0's) → optimizers and scalers →
resume from ``--load_checkpoint`` → ``config.json`` → DDP wrappers and ``torch.compile``. Before all of
it, every pretrained weight file the settings need is checked (``check_weight_files``), so a missing one
stops the run in seconds, not after the caches are built. Errors of bad input (``DataError``,
``CheckpointError``, ``MissingWeightsError``, ``ValueError``) propagate from here, before any training, so
the entry script can report them in one line.

Resume is exact on CPU with ``--deterministic`` and ``--num_workers 0``: the data order is a function of
(seed, epoch) (``EpochSampler``), the position within the epoch is stored (``extra.batch_in_epoch``) and
skipped on resume, and the torch / Python / NumPy RNG states are restored.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler, Subset, default_collate

from wubugaad.data import datasets as data
from wubugaad.data import demo_stream, moving_objects
from wubugaad.model import vaegan as model_lib
from wubugaad.model.flow_reads import flow_reads
from wubugaad.model.losses import LossConfig
from wubugaad.model.motion import RAFT_TYPES, raft_weights_path
from wubugaad.optim import groups
from wubugaad.optim.base import OptimizerStateError, RiemannianOptimizer
from wubugaad.optim.qcontrol import HAKMEMQController
from wubugaad.optim.radam import RiemannianAdam
from wubugaad.optim.risgd import RiemannianEnhancedSGD
from wubugaad.optim.schedules import Schedule
from wubugaad.train import amp, checkpoint, config, distributed, run_folder
from wubugaad.train.ema import WeightAverage
from wubugaad.train.integrity import REQUIRED_FOR_RESUME
from wubugaad.train.metrics import LPIPSMetric, require_lpips_weights
from wubugaad.train.stopping import StopFlag
from wubugaad.train.tracking import Tracker

__all__ = ["EpochSampler", "Session", "setup", "rng_state", "set_rng_state", "RESUME_IGNORED_SETTINGS"]

# Settings whose change between phases is expected and not worth a log line.
RESUME_IGNORED_SETTINGS = ("load_checkpoint", "local_rank", "wandb_run_name")


class EpochSampler(Sampler[int]):
    """Shuffled indices that depend only on (seed, epoch); sharded across ranks; resumable mid-epoch.

    The permutation of ``range(n)`` is padded (by wrapping) to a multiple of ``world`` so every rank gets
    ``ceil(n / world)`` indices — equal batch counts keep DDP collectives in step. ``set_epoch(e, skip)``
    drops the first ``skip`` indices of this rank's share (the part consumed before a resume). With
    ``with_epoch`` it yields ``(epoch, index)`` keys, for datasets that draw fresh items every epoch.
    """

    def __init__(self, n: int, rank: int, world: int, seed: int, shuffle: bool = True,
                 with_epoch: bool = False):
        self.n, self.rank, self.world, self.seed, self.shuffle = n, rank, world, seed, shuffle
        self.with_epoch = with_epoch
        self.per_rank = math.ceil(n / world)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.n)
        total = self.per_rank * self.world
        order = order.repeat(math.ceil(total / max(self.n, 1)))[:total]  # pad by wrapping
        mine = order[self.rank::self.world][self.skip:].tolist()
        return iter([(self.epoch, i) for i in mine] if self.with_epoch else mine)

    def __len__(self) -> int:
        return max(self.per_rank - self.skip, 0)


def rng_state() -> dict:
    """torch (uint8 tensor), Python and NumPy RNG states as checkpoint-safe plain data."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss],
             "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@dataclass
class Session:
    """Built pieces plus the mutable counters the loop advances and checkpoints store."""

    args: object
    dist: distributed.DistInfo
    tracker: Tracker
    config_dict: dict
    model: torch.nn.Module          # plain modules (state dicts, validation, the G-step's frozen D)
    disc: torch.nn.Module
    model_fwd: torch.nn.Module      # DDP-wrapped (and compiled) forwards used for training
    disc_fwd: torch.nn.Module
    opt_g: RiemannianOptimizer
    opt_d: RiemannianOptimizer
    scaler_g: torch.amp.GradScaler | None
    scaler_d: torch.amp.GradScaler | None
    autocast: object
    train_loader: torch.utils.data.DataLoader
    train_sampler: EpochSampler
    val_loader: torch.utils.data.DataLoader | None
    sample_batch: dict
    fixed_z: torch.Tensor
    lpips: object | None
    losses: LossConfig              # the objective's weights, GAN schedule and whether D trains
    q_g: HAKMEMQController | None = None  # the Q-controllers steering opt_g / opt_d (None when off)
    q_d: HAKMEMQController | None = None
    ema: WeightAverage | None = None  # the averaged weights validation reads (None: --ema_decay 0)
    schedule: Schedule = field(default_factory=Schedule)  # learning-rate factor of each optimizer step
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float | None = None
    changed_settings: list = field(default_factory=list)
    report_built_at: float = -math.inf  # time.monotonic() of the last report.html build
    lap_started: float = 0.0  # time.monotonic() at the last log step (train/seconds_per_step)
    lap_step: int = 0  # the step of that log step
    paused_s: float = 0.0  # validation and checkpoint time since then, left out of the step time
    baseline_scores: dict = field(default_factory=dict)  # the baselines' validation means, scored once
    stop: StopFlag | None = None  # the stop-signal flag while `trainer.train` runs (validations read it)

    @property
    def run_dir(self) -> Path:
        return self.tracker.dir


def _determinism(args, device: torch.device) -> None:
    if args.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _datasets(args, info: distributed.DistInfo):
    """(train, validation or None) of the chosen source; the generated sources (moving objects, the demo
    stream) validate on their fixed test set."""
    if args.dataset == "video":
        return data.build_datasets(args, info.rank, info.world_size, barrier=distributed.barrier,
                                   flow=flow_reads(args).loader_method)
    if args.dataset == demo_stream.NAME:
        return demo_stream.build_datasets(config.demo_stream_config(args))
    return moving_objects.build_datasets(config.moving_objects_config(args), info.rank, info.world_size,
                                         barrier=distributed.barrier)


def _describe(ds) -> str:
    """What a dataset draws from, for the start-up summary (``describe()`` where the source has one)."""
    if ds is None or len(ds) == 0:
        return "nothing (no validation set)"
    if hasattr(ds, "describe"):
        return ds.describe()
    fresh = "fresh " if getattr(ds, "fresh_each_epoch", False) else ""
    return f"{len(ds)} {fresh}sequences" + (" per epoch" if fresh else "")


def _loaders(args, info: distributed.DistInfo, tracker: Tracker | None = None):
    train_ds, val_ds = _datasets(args, info)
    # one-line reports of how the windows were built (scene cuts dropped), on the console
    for note in getattr(train_ds, "notes", []) + getattr(val_ds, "notes", []):
        if tracker is not None:
            tracker.info(note)
    if tracker is not None:
        tracker.info(f"data: training on {_describe(train_ds)}; validating on {_describe(val_ds)}")
    sampler = EpochSampler(len(train_ds), info.rank, info.world_size, args.seed,
                           with_epoch=getattr(train_ds, "fresh_each_epoch", False))
    train_loader = data.build_dataloader(train_ds, args, shuffle=False, sampler=sampler)
    # a private generator: the loader's base seed must not consume the global RNG (exact resume)
    train_loader.generator = torch.Generator().manual_seed(distributed.rank_seed(args.seed, info.rank))
    val_loader = None
    sample_source = train_ds
    if val_ds is not None and len(val_ds) > 0:
        limit = args.val_max_clips if args.val_max_clips > 0 else len(val_ds)
        limit = min(limit, len(val_ds))
        # shard without padding: rank r scores clips r, r + world, ... so the gathered sums are exact
        val_loader = data.build_dataloader(Subset(val_ds, range(info.rank, limit, info.world_size)), args,
                                           shuffle=False)
        sample_source = val_ds
    count = min(max(args.num_val_samples_to_log, 1), len(sample_source))
    sample_batch = default_collate([sample_source[i] for i in range(count)])
    return train_loader, sampler, val_loader, sample_batch


def _controllers(args) -> tuple[HAKMEMQController | None, HAKMEMQController | None]:
    """One Q-controller per optimizer, or none. The same seed on every rank: with all-reduced losses their
    choices stay identical."""
    if not args.q_controller_enabled:
        return None, None
    return HAKMEMQController(role="gen", seed=args.seed), HAKMEMQController(role="disc", seed=args.seed)


def _trainable(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def _optimizers(args, model, disc):
    def make(module, lr):
        params = groups.param_groups(module, args.weight_decay, geometry_lr_mult=args.geometry_lr_mult,
                                     decay_ball=args.weight_decay_ball)
        common = dict(lr=lr, weight_decay=args.weight_decay, max_grad_norm=args.risgd_max_grad_norm)
        if args.optimizer == "riemannian_adam":
            betas = (args.adam_beta1, args.adam_beta2)
            return RiemannianAdam(params, betas=betas, eps=args.adam_eps, **common)
        return RiemannianEnhancedSGD(params, momentum=args.risgd_momentum, **common)

    return make(model, args.learning_rate_gen), make(disc, args.learning_rate_disc)


def _schedule(args, sampler: EpochSampler) -> Schedule:
    """The run's schedule; its horizon is --lr_schedule_steps, else --max_steps, else every optimizer step
    of --epochs."""
    steps_per_epoch = math.ceil(math.ceil(sampler.per_rank / args.batch_size) / args.grad_accum_steps)
    total = args.lr_schedule_steps or args.max_steps or args.epochs * steps_per_epoch
    return Schedule(args.lr_schedule, max(total, 1), args.lr_warmup_steps)


def _resume(s: Session) -> None:
    """Restore a checkpoint, then let the command line's loss weights and optimizer settings win; log the
    changes."""
    args = s.args
    if args.load_checkpoint == "auto":
        path = checkpoint.find_latest_checkpoint(s.run_dir)
        if path is None:
            raise checkpoint.CheckpointError(f"--load_checkpoint auto: no checkpoint in '{s.run_dir}' "
                                             f"(give a file path, or drop --load_checkpoint to start fresh)")
    else:
        path = Path(args.load_checkpoint)
    if not path.is_file():
        raise checkpoint.CheckpointError(f"--load_checkpoint: no checkpoint file at '{path}' "
                                         f"(check the path, or 'auto' for the newest in --checkpoint_dir)")
    payload = checkpoint.load_checkpoint(path, map_location=s.dist.device)
    missing = [key for key in REQUIRED_FOR_RESUME if key not in payload]
    if missing:
        raise checkpoint.CheckpointError(f"checkpoint '{path}' has no {' or '.join(missing)} field to resume "
                                         f"from (use a checkpoint the trainer wrote)")
    strict = args.load_strict
    exact = True
    for name, module in (("model", s.model), ("discriminator", s.disc)):
        missing, unexpected, mismatched = checkpoint.restore_model(module, payload.get(name), strict=strict)
        if missing or unexpected or mismatched:
            exact = False
            s.tracker.info(f"partial load of {name} from {path.name}: kept fresh (missing) {missing}; "
                           f"ignored (unexpected) {unexpected}; kept fresh (shape changed) {mismatched}")
    if exact:
        for opt, key, module in ((s.opt_g, "opt_g", s.model), (s.opt_d, "opt_d", s.disc)):
            if payload.get(key) is not None:
                try:
                    opt.load_state_dict(groups.regroup_flat_state(payload[key], opt, _trainable(module)))
                except OptimizerStateError as err:
                    s.tracker.info(f"{key}: {err}: its state starts fresh")
        for scaler, key in ((s.scaler_g, "scaler_g"), (s.scaler_d, "scaler_d")):
            if scaler is not None and payload.get(key):
                scaler.load_state_dict(payload[key])
    else:
        s.tracker.info("architecture changed: optimizer and scaler states start fresh")
    _resume_average(s, payload, exact)
    for controller, key in ((s.q_g, "q_controller_g"), (s.q_d, "q_controller_d")):
        state = payload.get(key)
        if controller is not None and state is not None:
            controller.load_state_dict(state)
    extra = payload.get("extra") or {}
    s.step, s.epoch = int(payload["step"]), int(payload["epoch"])
    s.batch_in_epoch = int(extra.get("batch_in_epoch", 0))
    s.best_metric = payload.get("best_metric")
    if path.resolve().parent != s.run_dir.resolve():
        # a new phase (checkpoint from another folder) keeps its own best: its metric may never beat the
        # previous phase's (e.g. a larger λ_kl), and it must still leave a _best.pt behind
        s.best_metric = None
    saved_metric = (payload.get("config") or {}).get("val_primary_metric")
    if s.best_metric is not None and saved_metric != args.val_primary_metric:
        # a best score of another metric (e.g. reconstruction PSNR, the old default) cannot rank this one
        s.tracker.info(f"--val_primary_metric is {args.val_primary_metric}, the checkpoint's best was "
                       f"{saved_metric}: the best checkpoint is chosen afresh")
        s.best_metric = None
    if "rng" in extra and s.dist.world_size == 1:
        set_rng_state(extra["rng"])
    # a new phase means new settings: the optimizers keep the command line's hyper-parameters (their
    # load_state_dict restores only per-parameter state) and the loss weights are read from args
    s.changed_settings = checkpoint.diff_settings(payload.get("config") or {}, s.config_dict,
                                                  ignore=RESUME_IGNORED_SETTINGS)
    s.tracker.info(f"resumed from {path} at epoch {s.epoch}, step {s.step}")
    dropped = s.tracker.drop_metrics_after(s.step)
    if dropped:
        s.tracker.info(f"metrics.jsonl: dropped {dropped} lines logged after step {s.step} (they are "
                       f"logged again)")
    for key, old, new in s.changed_settings:
        s.tracker.info(f"setting changed since checkpoint: {key}: {old!r} -> {new!r}")


def _resume_average(s: Session, payload: dict, exact: bool) -> None:
    """The averaged weights continue from the checkpoint's; they start from the restored model when it has
    none (written before the average existed, or with --ema_decay 0) or when the architecture changed."""
    if s.ema is None:
        return
    state = payload.get("ema")
    if exact and state is not None:
        checkpoint.restore_model(s.ema.module, state, strict=True)
        return
    s.ema.reset(s.model)
    if state is None:
        s.tracker.info("the checkpoint holds no averaged weights: the average starts from its model")


def check_weight_files(args) -> None:
    """``MissingWeightsError`` (one line: the file, where to put it, the other ways out) unless every
    pretrained weight file the settings need exists: RAFT's for a RAFT motion branch, AlexNet's for LPIPS."""
    if (args.use_wubu_motion_branch and args.optical_flow_net_type in RAFT_TYPES
            and not args.optical_flow_random_init):
        raft_weights_path(args.optical_flow_net_type, args.optical_flow_weights)
    if args.use_lpips_for_verification:
        require_lpips_weights(args.lpips_weights)


def setup(args) -> Session:
    """Build the whole training session (see the module docstring for the order)."""
    check_weight_files(args)
    info = distributed.setup()
    _determinism(args, info.device)
    # Python / NumPy share the seed on all ranks (identical Q-controller and data decisions); torch noise
    # (dropout, ε) differs per rank.
    distributed.seed_everything(args.seed)
    config_dict = config.resolved_config(args)
    moved = run_folder.claim(args, info.is_main)  # before anything is written into the run folder
    tracker = Tracker(args, info.is_main, config_dict)
    if moved:
        tracker.info(moved)
    if args.use_amp and not amp.amp_enabled(args, info.device):
        tracker.info("note: --use_amp applies on CUDA only; training in float32 on the CPU")
    train_loader, sampler, val_loader, sample_batch = _loaders(args, info, tracker)
    model, disc = model_lib.build(args, pretrained_flow=not args.optical_flow_random_init)
    model, disc = model.to(info.device), disc.to(info.device)
    if args.freeze_geometry:
        tracker.info(f"--freeze_geometry: {groups.freeze_geometry(model)} geometry scalars stay at their "
                     f"initial values")
    torch.manual_seed(distributed.rank_seed(args.seed, info.rank))
    opt_g, opt_d = _optimizers(args, model, disc)
    q_g, q_d = _controllers(args)
    fixed_z = torch.randn(model.noise_shape(max(args.demo_num_samples, 1)),
                          generator=torch.Generator().manual_seed(args.seed)).to(info.device)
    lpips = None
    if args.use_lpips_for_verification:
        lpips = LPIPSMetric(weights_path=args.lpips_weights, device=info.device)
        if not lpips.available:
            tracker.info("note: LPIPS unavailable (backbone weights could not be loaded); not reported")
            lpips = None
    s = Session(args=args, dist=info, tracker=tracker, config_dict=config_dict, model=model, disc=disc,
                model_fwd=model, disc_fwd=disc, opt_g=opt_g, opt_d=opt_d,
                scaler_g=amp.make_scaler(args, info.device), scaler_d=amp.make_scaler(args, info.device),
                autocast=amp.autocast_factory(args, info.device), train_loader=train_loader,
                train_sampler=sampler, val_loader=val_loader, sample_batch=sample_batch, fixed_z=fixed_z,
                lpips=lpips, losses=LossConfig.from_args(args), q_g=q_g, q_d=q_d,
                schedule=_schedule(args, sampler),
                ema=WeightAverage(model, args.ema_decay) if args.ema_decay > 0 else None)
    if args.load_checkpoint:
        _resume(s)
    tracker.write_config(config_dict)  # only once set-up succeeded: a failed start leaves the old one
    if info.world_size > 1:
        ids = [info.device.index] if info.device.type == "cuda" else None
        s.model_fwd = DistributedDataParallel(model, device_ids=ids)
        s.disc_fwd = DistributedDataParallel(disc, device_ids=ids)
    if args.compile and info.device.type != "cuda":
        tracker.info("note: --compile applies on CUDA only (on the CPU compiling takes minutes and does not "
                     "speed up the step); running uncompiled")
    elif args.compile:
        s.model_fwd, s.disc_fwd = torch.compile(s.model_fwd), torch.compile(s.disc_fwd)
    return s
