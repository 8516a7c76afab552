"""What a training run writes and logs: checkpoints, validations (with the best checkpoint), the run
report, images and the scalars of a log step. The loop in `trainer` calls these; none of them changes
the training state beyond the counters they own (best metric, report time, step clock).
"""

from __future__ import annotations

import contextlib
import math
import time

import torch

from wubugaad.report.page import write_report
from wubugaad.train import checkpoint, config
from wubugaad.train.session import Session, rng_state
from wubugaad.train.stopping import raise_if_stopped, until_stopped
from wubugaad.train.tracking import LOSS_TO_KEY, MODEL_SIZE_KEYS, format_step_line
from wubugaad.train.validation import (
    LEARNED_GAIN_KEY,
    evaluate,
    image_grid,
    is_per_step,
    is_per_video,
    prepare_batch,
    seeded_generate,
    write_samples,
)

__all__ = ["REPORT_INTERVAL_S", "save", "scored_model", "validate", "build_report", "log_images", "log_step",
           "log_model_size", "final_line"]

# report.html is rebuilt at a validation only when the last build is this old (and always at the end):
# drawing its charts takes about a second, which frequent validations of a short run should not pay
REPORT_INTERVAL_S = 60.0


def save(s: Session, kind: str, name_epoch: int | None = None) -> None:
    """Rank 0 writes checkpoint ``kind`` (best/last/epoch/step) atomically; periodic ones are pruned."""
    if not s.dist.is_main:
        return
    with _paused(s):
        _save(s, kind, name_epoch)


@contextlib.contextmanager
def _paused(s: Session):
    """Time spent inside is not training-step time (validation, checkpoint writes)."""
    started = time.monotonic()
    try:
        yield
    finally:
        s.paused_s += time.monotonic() - started


def _save(s: Session, kind: str, name_epoch: int | None) -> None:
    extra = {"batch_in_epoch": s.batch_in_epoch, "rng": rng_state()}
    payload = checkpoint.build_payload(s.model, s.disc, s.opt_g, s.opt_d, s.scaler_g, s.scaler_d, s.step,
                                       s.epoch, s.best_metric, s.config_dict, extra, q_g=s.q_g, q_d=s.q_d,
                                       ema=None if s.ema is None else s.ema.module)
    name = checkpoint.checkpoint_name(kind, epoch=s.epoch if name_epoch is None else name_epoch, step=s.step)
    checkpoint.save_checkpoint(s.run_dir / name, payload)
    if kind in ("epoch", "step"):
        checkpoint.prune_checkpoints(s.run_dir, s.args.keep_last_n, up_to_step=s.step)


def scored_model(s: Session) -> torch.nn.Module:
    """What validation and samples run: the averaged weights when there are (`train/ema.py`), else the
    raw ones."""
    return s.model if s.ema is None else s.ema.module


def validate(s: Session, tag: str) -> dict[str, float]:
    """Metrics over the whole validation set, samples on rank 0, best checkpoint by the primary metric.

    Runs under ``fork_rng`` so the training noise stream does not depend on the validation schedule. A stop
    signal abandons it between batches (``stopping.ValidationAbandonedError``): nothing of it is logged or
    saved.
    """
    with _paused(s):
        return _validate(s, tag)


def _validate(s: Session, tag: str) -> dict[str, float]:
    args = s.args
    devices = [s.dist.device] if s.dist.device.type == "cuda" else []
    model = scored_model(s)
    with torch.random.fork_rng(devices=devices):
        scores = {}
        if s.val_loader is not None:
            held_out = s.val_loader.dataset  # this rank's Subset of the validation set
            batches = lambda it, desc: s.tracker.progress(until_stopped(it, s.stop), desc=desc)  # noqa: E731
            torch.manual_seed(args.seed)  # the sampled futures (--val_num_samples) reuse one noise stream
            scores = evaluate(model, s.val_loader, args.num_input_frames, s.dist.device, s.lpips,
                              s.autocast, progress=batches,
                              num_predict_frames=args.num_predict_frames, baseline_cache=s.baseline_scores,
                              video_names=getattr(held_out.dataset, "video_names", None),
                              num_samples=args.val_num_samples)
        raise_if_stopped(s.stop)
        if s.dist.is_main:
            clip, flow = prepare_batch(s.sample_batch, s.dist.device)
            with s.autocast():
                grids = write_samples(model, clip, flow, args.demo_num_samples, args.seed,
                                      args.num_input_frames, s.run_dir / "samples", tag, args.sample_format)
            s.tracker.log_images(s.step, grids)
    if scores:
        s.tracker.log_scalars(s.step, {f"val/{k}": v for k, v in scores.items()}, epoch=s.epoch)
        summary = ", ".join(f"{k}={v:.4f}" for k, v in scores.items()
                            if not (is_per_step(k) or is_per_video(k)))
        s.tracker.info(f"validation @ step {s.step}: {summary}")
        value = scores.get(args.val_primary_metric)
        if value is not None and math.isfinite(value):
            sign = 1.0 if config.metric_mode(args.val_primary_metric) == "max" else -1.0
            if s.best_metric is None or sign * value > sign * s.best_metric:
                s.best_metric = value
                save(s, "best")
    if time.monotonic() - s.report_built_at >= REPORT_INTERVAL_S:
        build_report(s, "running")
    return scores


def build_report(s: Session, state: str) -> None:
    """Rank 0 rebuilds ``report.html`` in the run folder; a failure is one warning line, never fatal."""
    if not s.dist.is_main:
        return
    s.report_built_at = time.monotonic()
    try:
        write_report(s.run_dir, {"state": state, "device": str(s.dist.device),
                                 "world_size": s.dist.world_size})
    except Exception as exc:  # the report is a convenience: training must go on
        s.tracker.info(f"warning: report.html not written ({type(exc).__name__}: {exc})")


def _every(interval: int, step: int) -> bool:
    return interval > 0 and step % interval == 0


def log_images(s: Session, clip: torch.Tensor, pred: torch.Tensor) -> None:
    """WandB images: this batch's context / truth / training output, and fixed-noise generations."""
    args, n_in = s.args, s.args.num_input_frames
    if s.tracker.wandb is None:
        return
    images = {}
    if _every(args.wandb_log_train_recon_interval, s.step):
        k = max(args.num_val_samples_to_log, 1)
        images["samples/train_context"] = image_grid(clip[:k, :n_in]) if n_in > 0 else None
        images["samples/train_ground_truth"] = image_grid(clip[:k, n_in:])
        images["samples/train_recon"] = image_grid(pred[:k].detach())
    if _every(args.wandb_log_fixed_noise_samples_interval, s.step):
        with s.autocast():  # seeded_generate forks the RNG: the training noise stream is untouched
            sample_clip, flow = prepare_batch(s.sample_batch, s.dist.device)
            index = torch.arange(max(args.demo_num_samples, 1), device=s.dist.device) % sample_clip.shape[0]
            flow = None if flow is None else flow[index]
            fixed = seeded_generate(scored_model(s), sample_clip[index], flow, args.seed, n_in)
        images["samples/fixed_noise_generated"] = image_grid(fixed)
    s.tracker.log_images(s.step, {k: v for k, v in images.items() if v is not None})


def log_step(s: Session, losses: dict[str, float], norms: dict) -> None:
    """Console line + scalars (losses, LRs, Q-controller, grad norms keyed as logged, geometry) at a log
    step."""
    args = s.args
    scalars = {LOSS_TO_KEY[k]: losses[k] for k in LOSS_TO_KEY if k in losses}  # D's only when it trains
    scalars["train/lr_gen"] = s.opt_g.current_lr()  # of the step just taken
    if s.losses.trains_discriminator:
        scalars["train/lr_disc"] = s.opt_d.current_lr()
    scalars["train/lambda_kl_eff"] = args.lambda_kl
    scalars["train/lambda_gan_eff"] = s.losses.gan_weight(s.step - 1)
    now = time.monotonic()
    if s.step > s.lap_step:  # wall time per step since the last log step, validation and saves left out
        scalars["train/seconds_per_step"] = (now - s.lap_started - s.paused_s) / (s.step - s.lap_step)
    for role, q in (("gen", s.q_g), ("disc", s.q_d)):
        if q is not None:
            scalars.update({f"q_ctrl_{role}/epsilon": q.epsilon, f"q_ctrl_{role}/lrscale": q.current_lr_scale,
                            f"q_ctrl_{role}/momentumscale": q.current_momentum_scale,
                            f"q_ctrl_{role}/avgreward": q.average_reward(),
                            f"q_ctrl_{role}/qtablesize": q.q_table_size()})
    tensors = {k: v for k, v in norms.items() if v is not None}
    tensors["train/nonfinite_skipped"] = s.opt_g.skipped_steps + s.opt_d.skipped_steps
    if hasattr(s.model, "geometry_stats"):
        tensors.update({f"geometry/{k}": v for k, v in s.model.geometry_stats().items()})
    # one host sync for every tensor scalar of this log step
    values = torch.stack([v.detach().float().reshape(()) for v in tensors.values()]).tolist()
    scalars.update(zip(tensors, values, strict=True))
    s.tracker.log_scalars(s.step, scalars, epoch=s.epoch)
    s.tracker.info(format_step_line(s.epoch, s.step, scalars))
    s.lap_started, s.lap_step, s.paused_s = time.monotonic(), s.step, 0.0


def log_model_size(s: Session) -> None:
    """Parameter counts of both networks, logged once when a run starts from scratch."""
    gen_key, disc_key = MODEL_SIZE_KEYS
    sizes = {gen_key: sum(p.numel() for p in s.model.parameters()),
             disc_key: sum(p.numel() for p in s.disc.parameters())}
    s.tracker.info(f"parameters: generator {sizes[gen_key] / 1e6:.2f} M, discriminator "
                   f"{sizes[disc_key] / 1e6:.2f} M")
    if s.step == 0:
        s.tracker.log_scalars(0, sizes, epoch=s.epoch)


def final_line(scores: dict[str, float]) -> str:
    """The run's last line: prediction against copying the last context frame on the validation set, then
    against the flow extrapolation and the learned gain over the better of the two (appended, so readers
    of the older line still find its numbers in the same place and format)."""
    if "pred_psnr" not in scores or "copy_last_psnr" not in scores:
        return "final validation: no prediction-vs-copy-last figures (no validation set or no context)"
    pred, copy = scores["pred_psnr"], scores["copy_last_psnr"]
    recon = scores.get("avg_val_psnr", float("nan"))
    line = (f"final validation: val/pred_psnr={pred:.3f} dB  val/copy_last_psnr={copy:.3f} dB  "
            f"pred - copy_last = {pred - copy:+.3f} dB  (reconstruction {recon:.3f} dB)")
    if "flow_extrap_psnr" in scores:
        line += f"  val/flow_extrap_psnr={scores['flow_extrap_psnr']:.3f} dB"
    if LEARNED_GAIN_KEY in scores:
        line += f"  learned gain = {scores[LEARNED_GAIN_KEY]:+.3f} dB"
    return line

