"""The training loop, read top to bottom: ``run(args)`` = ``train(setup(args))``.

Per micro-batch (``clip`` (B, T, C, H, W) in [-1, 1], ``T = n_in + P``)::

    out   = G(clip, mode="train")                      # ONE generator forward
    real  = [last K context frames ; targets]          # K = --disc_context_frames
    fake  = [last K context frames ; out.prediction]   # same time indices as real
    L_D   = BCE(D(real), 1)/2 + BCE(D(fake.detach()), 0)/2          → D grads only (one D call on both)
    L_G   = λ_recon·R + λ_kl·KL + λ_gan,eff·BCE(D(fake), 1)        → G grads only (D frozen, eval mode)

``R`` is ``--recon_loss`` (L1 / MSE / both); ``λ_gan,eff`` is 0 before ``--gan_start_step`` and ramps
linearly to ``--lambda_gan`` over ``--gan_ramp_steps`` (``losses.gan_weight``). While it is 0 the generator
does not back-propagate through D; the adversarial value is still logged from D's step on the same
(detached) predictions. With ``--lambda_gan 0`` and no Q-controller nothing reads D
(``LossConfig.trains_discriminator``): it is neither run nor stepped, and D's losses are not logged.

Both losses are divided by ``grad_accum_steps``; after the last micro-batch of a macro-batch each network's
gradients are clipped globally (``--global_max_grad_norm``) and its optimizer steps (a non-finite step is
skipped and counted by the optimizer). Host syncs per optimizer step: one for the averaged loss dict when
the Q-controller is on or at a log step, one for the DDP stop flag with several ranks; the rest (grad
norms, geometry) only at log steps.

The run of consecutive skipped steps is counted on the device, and the step at which it reaches
``--max_consecutive_nonfinite`` is latched there too; that step is read along with values the loop reads
anyway: after every step with the Q-controller (the loss read) and with several ranks (the stop-flag
all-reduce), so the run stops exactly at the limit; otherwise (one process without the Q-controller) at
the next log step, and the message names both steps. The abort saves ``_last.pt`` when the weights are
finite (skipped steps leave them unchanged) and raises ``NonFiniteError``. A file that cannot be written
(full disk) stops the run with ``OutputWriteError`` naming it and the newest checkpoint, which is intact.

``train`` returns 0 when done, 130 after Ctrl-C (SIGINT) and 143 after SIGTERM — both save ``_last.pt``
first. The signal handlers stay installed until everything is written (``stopping``): a signal during a
validation, the final one included, abandons the validation, not the run. The entry script maps the
errors to exit codes (``exits``).
"""

from __future__ import annotations

import contextlib
import math
import signal
import time

import torch

from wubugaad.data.augment import augment_batch, step_seed
from wubugaad.model.discriminator import judging
from wubugaad.model.losses import LOSS_KEYS, discriminator_loss, generator_losses
from wubugaad.model.vaegan import aligned_clips
from wubugaad.train import checkpoint, config, distributed, exits, grad_norms
from wubugaad.train.amp import backward, clip_and_step
from wubugaad.train.outputs import (
    build_report,
    final_line,
    log_images,
    log_model_size,
    log_step,
    save,
    validate,
)
from wubugaad.train.session import Session, setup
from wubugaad.train.stopping import StopFlag, exit_code
from wubugaad.train.validation import prepare_batch

__all__ = ["run", "setup", "train", "save", "validate", "NonFiniteError", "LOSS_KEYS"]


class NonFiniteError(RuntimeError):
    """Too many optimizer steps in a row had non-finite gradients."""


def run(args) -> int:
    """Set up and train; returns the process exit code."""
    return train(setup(args))


def apply_scales(s: Session) -> None:
    """Before each optimizer step: every group's lr is its base lr times the schedule's factor of this
    step times the Q-controller's current lr scale; the momentum (SGD's momentum, Adam's β₁) its base
    times the controller's momentum scale (capped). A pure function of the step and the controllers'
    state, so a resumed run continues exactly."""
    factor = s.schedule(s.step)
    for opt, q in ((s.opt_g, s.q_g), (s.opt_d, s.q_d)):
        lr_scale, momentum_scale = (1.0, 1.0) if q is None else (q.current_lr_scale, q.current_momentum_scale)
        opt.set_scales(factor * lr_scale, momentum_scale)


def optimizer_steps(s: Session, parts: tuple | None) -> dict[str, torch.Tensor]:
    """Scales, global clipping and the step of both optimizers. Returns the tensors to log (no sync):
    the networks' pre-clip norms with ``--log_grad_norm``, the component norms when ``parts`` (the
    `grad_norms` components of G and D) are given — the trainer gives them at log steps only."""
    apply_scales(s)
    want, limit = s.args.log_grad_norm, s.args.global_max_grad_norm
    parts_g, parts_d = parts if parts is not None else (None, None)
    norm_g, measured_g = clip_and_step(s.opt_g, s.model.parameters(), s.scaler_g, limit, want, parts_g)
    norms = dict(measured_g)
    if want:
        norms["train/grad_norm_gen"] = norm_g
    if s.losses.trains_discriminator:
        norm_d, measured_d = clip_and_step(s.opt_d, s.disc.parameters(), s.scaler_d, limit, want, parts_d)
        norms.update(measured_d)
        if want:
            norms["train/grad_norm_disc"] = norm_d
    return norms


def _nonfinite_message(s: Session, reached_at: int) -> str:
    limit = s.args.max_consecutive_nonfinite
    when = f"reached at step {reached_at}"
    if reached_at != s.step:
        when += f", checked at step {s.step}, the next log step"
    return (f"{limit} optimizer steps in a row had non-finite gradients (limit --max_consecutive_nonfinite "
            f"{limit}, {when}): lower --learning_rate_gen/--learning_rate_disc, lower --lambda_gan or "
            f"--global_max_grad_norm, or try --detect_anomaly")


def _weights_finite(s: Session) -> bool:
    tensors = [t for module in (s.model, s.disc) for t in module.state_dict().values()
               if t.is_floating_point()]
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True


def _newest_checkpoint(s: Session) -> str:
    try:
        newest = checkpoint.find_latest_checkpoint(s.run_dir)
    except checkpoint.CheckpointError:
        newest = None
    if newest is None:
        return "no checkpoint had been written yet"
    return f"the newest checkpoint '{newest}' is intact"


def _keep_last_finite(s: Session) -> str:
    """Save ``_last.pt`` when the weights are finite; says what was kept."""
    last = checkpoint.checkpoint_name("last")
    if _weights_finite(s):
        save(s, "last")
        return f"saved the last finite state (step {s.step}) to {s.run_dir / last}"
    return f"the weights are not finite, so {last} was not written; {_newest_checkpoint(s)}"


def train(s: Session) -> int:
    """Train until ``--epochs`` (absolute), ``--max_steps`` or ``--max_train_minutes``; returns the exit
    code, or raises ``NonFiniteError`` / ``OutputWriteError`` after stopping cleanly (module docstring)."""
    # the handlers cover the whole run, the final validation, the last save and the report included
    with StopFlag() as s.stop:
        try:
            return _train(s)
        except NonFiniteError as err:
            message = f"{err}; {_keep_last_finite(s)}"
            _close(s, f"stopped at step {s.step}: non-finite gradients")
            raise NonFiniteError(message) from None
        except OSError as err:
            failure = exits.write_failure(err)
            if failure is None:
                raise
            s.tracker.close()
            distributed.cleanup()
            raise exits.OutputWriteError(failure.path, f"{failure.reason}; the run stopped at step {s.step}; "
                                         f"{_newest_checkpoint(s)} (free space, then resume with "
                                         f"--load_checkpoint auto)", failure.errno) from err


def _train(s: Session) -> int:
    args, device, n_in, stop = s.args, s.dist.device, s.args.num_input_frames, s.stop
    accum = args.grad_accum_steps
    log_every = args.log_interval
    q_on = s.q_g is not None or s.q_d is not None
    components = (grad_norms.components(s.model), grad_norms.discriminator_components(s.disc))
    batches_per_epoch = math.ceil(s.train_sampler.per_rank / args.batch_size)
    streak = torch.zeros((), dtype=torch.long, device=device)      # current run of skipped steps
    reached_at = torch.zeros((), dtype=torch.long, device=device)  # step the limit was reached (0: not)
    limit = args.max_consecutive_nonfinite
    anomaly = torch.autograd.detect_anomaly() if args.detect_anomaly else contextlib.nullcontext()
    done = s.step >= args.max_steps > 0 or s.epoch >= args.epochs
    if done:
        s.tracker.info(f"nothing to train: step {s.step}, epoch {s.epoch} already reach --max_steps "
                       f"{args.max_steps} / --epochs {args.epochs} (both are absolute; raise them to go on)")
    budget_min = args.max_train_minutes  # wall-clock budget (benchmarks); 0 = none
    deadline = time.monotonic() + 60.0 * budget_min if budget_min > 0 else math.inf
    # a finished run resumed has its final validation logged already (one stopped during it has not)
    validated_at = s.step if done and _validated_before(s) else -1
    final_scores: dict[str, float] = {}
    augment = config.augment_config(args)
    with_disc, keys = s.losses.trains_discriminator, s.losses.keys
    if not with_disc:
        s.tracker.info("--lambda_gan 0 (and no Q-controller): nothing reads the discriminator, so it is "
                       "neither run nor trained")
    log_model_size(s)
    s.lap_started, s.lap_step, s.paused_s = time.monotonic(), s.step, 0.0
    with anomaly:
        try:
            epochs = s.tracker.progress(range(s.epoch, args.epochs), desc="epochs",
                                        total=max(args.epochs - s.epoch, 0), leave=True)
            for s.epoch in epochs:
                if done:
                    break
                s.train_sampler.set_epoch(s.epoch, skip=s.batch_in_epoch * args.batch_size)
                loss_sum = torch.zeros(len(keys), device=device)
                micro = 0
                for batch in s.train_loader:
                    clip, flow = prepare_batch(batch, device)
                    seed = step_seed(args.seed, s.dist.rank, s.step, micro)
                    clip, flow = augment_batch(clip, flow, augment, seed)
                    micro += 1
                    s.batch_in_epoch += 1
                    last = micro == accum or s.batch_in_epoch == batches_per_epoch
                    sync = contextlib.nullcontext() if last or s.dist.world_size == 1 else _no_sync(s)
                    with sync:
                        # ---- one generator forward --------------------------------------------------
                        with s.autocast():
                            out = s.model_fwd(clip, mode="train", flow=flow)
                        pred = out.prediction
                        fake_logits, d_parts = None, {}
                        if with_disc:
                            fake_logits, d_parts = _discriminator_step(s, clip, out, accum)
                        # ---- generator step (through a frozen D while its weight is above 0) ---------
                        g_loss, g_parts = generator_losses(out, clip[:, n_in:], s.losses, s.step, fake_logits)
                        backward(g_loss / accum, s.scaler_g)
                    parts = {**g_parts, **d_parts}
                    loss_sum += torch.stack([parts[k].float() for k in keys])
                    if not last:
                        continue
                    # ---- optimizer steps: global clipping, skip counting ---------------------------
                    skipped_before = s.opt_g.skipped_steps + s.opt_d.skipped_steps
                    norms = optimizer_steps(s, components if (s.step + 1) % log_every == 0 else None)
                    skipped = (s.opt_g.skipped_steps + s.opt_d.skipped_steps) > skipped_before
                    streak = torch.where(skipped, streak + 1, torch.zeros_like(streak))
                    s.step += 1
                    if s.ema is not None:
                        s.ema.update(s.model, s.step)
                    reached_at = torch.where((reached_at == 0) & (streak >= limit), s.step, reached_at)
                    log_now = s.step % log_every == 0
                    tripped = 0
                    if q_on or log_now:
                        # one host sync: the macro-batch mean of every loss (averaged over ranks), and
                        # the step the non-finite limit was reached (float64 holds any step exactly)
                        mean = distributed.all_reduce_mean(loss_sum / micro)
                        *means, tripped = torch.cat([mean.double(), reached_at.double().reshape(1)]).tolist()
                        losses = dict(zip(keys, means, strict=True))
                        for controller in (s.q_g, s.q_d):
                            if controller is not None:
                                controller.observe(losses)
                        if log_now:
                            log_step(s, losses, norms)
                    loss_sum.zero_()
                    micro = 0
                    log_images(s, clip, pred)
                    if args.save_interval > 0 and s.step % args.save_interval == 0:
                        save(s, "step")
                    if args.val_interval > 0 and s.step % args.val_interval == 0:
                        final_scores = validate(s, f"step{s.step}")
                        validated_at = s.step
                    signalled, out_of_time, tripped_any = _stop_requested(
                        s, stop, time.monotonic() >= deadline, reached_at)
                    if signalled:
                        return _interrupted(s, stop)
                    if tripped or tripped_any:
                        raise NonFiniteError(_nonfinite_message(s, int(tripped or tripped_any)))
                    if s.step >= args.max_steps > 0 or out_of_time:
                        done = True
                        break
                if done:
                    break
                # ---- epoch end: next epoch starts at its first batch -------------------------------
                s.batch_in_epoch = 0
                s.epoch += 1
                if args.val_interval <= 0:
                    final_scores = validate(s, f"ep{s.epoch - 1}")
                    validated_at = s.step
                save(s, "epoch", name_epoch=s.epoch - 1)
            if validated_at != s.step and not stop.signum:
                final_scores = validate(s, f"step{s.step}")
        except Exception:
            if not stop.signum:
                raise
            # a validation abandoned on a signal; Ctrl-C also reaches data-loader workers, whose exit
            # surfaces here as an error
            return _interrupted(s, stop)
    if stop.signum:
        return _interrupted(s, stop)
    save(s, "last")
    s.tracker.info(f"training finished at epoch {s.epoch}, step {s.step}; outputs in {s.run_dir}")
    s.tracker.info(final_line(final_scores))
    _close(s, f"finished at step {s.step}")
    # a signal during the last save or the report: everything is written, the code still says it came
    return exit_code(stop.signum) if stop.signum else 0


def _validated_before(s: Session) -> bool:
    """Whether the run's log holds a validation at the current step: rank 0 reads it, every rank follows."""
    seen = torch.tensor([float(s.tracker.validated_at(s.step))], device=s.dist.device)
    distributed.all_reduce_sum(seen)
    return seen.tolist()[0] > 0


def _discriminator_step(s: Session, clip: torch.Tensor, out, accum: int):
    """D's backward on the detached predictions (real and fake in one call) → (logits of the fakes for
    the generator's adversarial term, D's loss breakdown). The logits flow into G through a frozen D while
    the adversarial weight of this step is above 0; before that they are D's own, detached (the value is
    still logged)."""
    n_in = s.args.num_input_frames
    # both (B, K + P, C, H, W): the last K context frames, then targets / predictions
    real, fake = aligned_clips(clip, out.prediction, n_in, s.args.disc_context_frames)
    cond = out.condition
    both_cond = None if cond is None else torch.cat([cond, cond]).detach()
    with s.autocast():
        # float32 logits: D's loss, like G's, is computed outside autocast (model/losses.py)
        logits = s.disc_fwd(torch.cat([real, fake.detach()]), both_cond).float()
    d_loss, d_parts = discriminator_loss(*logits.chunk(2))
    backward(d_loss / accum, s.scaler_d)
    if s.losses.gan_weight(s.step) <= 0:
        return logits.chunk(2)[1].detach(), d_parts
    with judging(s.disc), s.autocast():
        return s.disc(fake, cond).float(), d_parts


def _interrupted(s: Session, stop: StopFlag) -> int:
    save(s, "last")
    s.tracker.info(f"stopped by signal {stop.signum} at step {s.step}: saved _last.pt")
    _close(s, f"stopped by signal {stop.signum} at step {s.step}")
    return exit_code(stop.signum)


def _close(s: Session, state: str) -> None:
    build_report(s, state)
    s.tracker.close()
    distributed.barrier()
    distributed.cleanup()


def _no_sync(s: Session):
    """Skip DDP's gradient all-reduce on the micro-batches before the last of a macro-batch."""
    stack = contextlib.ExitStack()
    for module in (s.model_fwd, s.disc_fwd):
        stack.enter_context(getattr(module, "no_sync", contextlib.nullcontext)())
    return stack


def _stop_requested(s: Session, stop: StopFlag, out_of_time: bool,
                    reached_at: torch.Tensor) -> tuple[bool, bool, int]:
    """(signalled, out of time, step the non-finite limit was reached or 0) agreed by every rank, so all
    stop at the same step: any rank's signal or expired ``--max_train_minutes`` budget stops them all (one
    all-reduce with several ranks, which also carries the non-finite latch; ranks step on the same
    all-reduced gradients, so their latches agree)."""
    if s.dist.world_size == 1:
        return bool(stop.signum), out_of_time, 0
    flags = torch.cat([torch.tensor([stop.signum, int(out_of_time)], device=s.dist.device),
                       reached_at.reshape(1)])
    distributed.all_reduce_sum(flags)
    signum, expired, reached_sum = flags.tolist()
    if signum and not stop.signum:
        stop.signum = signal.SIGTERM
    return bool(signum), bool(expired), reached_sum // s.dist.world_size
