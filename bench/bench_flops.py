"""FLOPs per predicted frame, parameters and an estimate of peak training memory, per configuration.

    python3 bench/bench_flops.py                                   # default, mfmnist, research
    python3 bench/bench_flops.py --config research --memory-batch 8
    python3 bench/bench_flops.py --config default --image_h 32     # unknown flags go to the model's parser

Configurations: ``default`` (the parser's defaults, the quick demo), ``mfmnist`` (the model
``bench_mfmnist.py`` trains: 10 → 10 grey 64×64 frames, its generator and loss flags) and ``research``
(the launcher's flags, read from ``run_vaegan.sh`` as ``bench_train.py`` does; random RAFT weights).

Counting: ``torch.utils.flop_counter.FlopCounterMode`` on the CPU, float32, one clip of random frames.
It counts matrix products and convolutions (2 FLOPs per multiply-add, so OpenSTL's fvcore figures, one
per multiply-add, are half of ours for the same network) and nothing elementwise, so norms, the Poincaré
maps, ``grid_sample`` and the region painting add nothing; they are a small share on these shapes.
Flow that the data loader computes with OpenCV (DIS, ``wubugaad.model.flow_reads``) is outside the model
and not counted; RAFT, which runs inside it, is.

- ``forward_gflops_per_frame``: ``model(clip, mode="predict")`` (what sampling and the benchmarks score)
  over the number of predicted frames.
- ``train_gflops_per_clip``: one training step's generator forward and backward (``mode="train"``), D's
  step on real and fake, and the adversarial term back through the frozen D (counted as after the
  ``--gan_start_step`` ramp, its steady state; D is left out when the run trains none,
  ``LossConfig.trains_discriminator``). Surrogate losses (means of every output the real losses read,
  ``LOSS_INPUTS``) stand in for them: the same backward paths, and their own cost is elementwise.
  MFU on a card = train_gflops_per_clip · clips/s / the card's peak (``mfu.py``).
- ``memory``: an estimate of peak training memory at ``--memory-batch`` (default: the configuration's
  batch size): weights, gradients, the two Adam moments and the averaged weights (``--ema_decay``) of
  the trainable parameters, the frozen weights once, plus the tensors autograd saves for the backward
  (the peak sits at the end of the forward). Saved tensors are measured with
  ``torch.autograd.graph.saved_tensors_hooks`` (distinct storages, parameters excluded) at batch 1 and 2
  and extended linearly to the batch; once in float32 and once under CPU bf16 autocast (the AMP run's
  activation dtype; CUDA's autocast casts the same kinds of op). Transient buffers (one op's workspace,
  the optimizer's temporaries) are not included: the figure is a lower bound of what the allocator peaks
  at, typically within tens of percent.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import sys
import tempfile
from pathlib import Path

import torch
from _common import FIXTURE, config_argv, emit, machine
from bench_mfmnist import CONTEXT, FUTURE, GENERATOR_FLAGS, LOSS_FLAGS
from torch.utils.flop_counter import FlopCounterMode
from wubugaad.model import vaegan
from wubugaad.model.discriminator import judging
from wubugaad.model.flow_reads import flow_reads
from wubugaad.model.losses import LossConfig
from wubugaad.train import config

MFMNIST = ["--dataset", "moving_fmnist", "--num_input_frames", str(CONTEXT), "--num_predict_frames",
           str(FUTURE), "--num_channels", "1", "--image_h", "64", "--image_w", "64", "--batch_size", "4",
           *GENERATOR_FLAGS, *LOSS_FLAGS]
CONFIGS = ("default", "mfmnist", "research")
ADAM_MOMENTS = 2  # RiemannianAdam keeps exp_avg and exp_avg_sq per parameter (the parser's default)


def model_args(name: str, extra: list[str]) -> argparse.Namespace:
    """The parser's namespace for configuration ``name`` with ``extra`` flags after it (the last value
    wins). Not validated against data paths: only the model is built."""
    with tempfile.TemporaryDirectory(prefix="wubugaad-flops-") as tmp:
        base = {"default": [], "mfmnist": MFMNIST}.get(name)
        argv = config_argv("research", FIXTURE, Path(tmp)) if base is None else base
        args = config.build_parser().parse_args([*argv, *extra])
    args.generator_type = config.resolve_generator_type(args)
    return config.broadcast_stack_lists(args)


def example_clip(args, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random frames in [-1, 1] of the configuration's shape, and zero flow where the data loader would
    hand the model OpenCV flow (its values do not change the count)."""
    T = args.num_input_frames + args.num_predict_frames
    gen = torch.Generator().manual_seed(seed)
    clip = torch.rand(batch, T, args.num_channels, args.image_h, args.image_w, generator=gen) * 2 - 1
    flow = None
    if flow_reads(args).loader_method is not None:
        flow = torch.zeros(batch, T - 1, 2, args.image_h, args.image_w)
    return clip, flow


def _count(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def forward_flops(model: torch.nn.Module, args, batch: int = 1) -> int:
    """FLOPs of one prediction pass over ``batch`` clips."""
    clip, flow = example_clip(args, batch)
    model.eval()
    with torch.no_grad():
        return _count(lambda: model(clip, mode="predict", flow=flow))


# every output a generator loss reads (model/losses.py): a surrogate through all of them backpropagates
# into everything the real losses do (the prediction alone would skip the forecast, which it holds detached)
LOSS_INPUTS = ("prediction", "forecast", "prior_prediction", "mu", "logvar", "prior_mu", "prior_logvar",
               "map_mu", "map_logvar")


def surrogate_loss(out) -> torch.Tensor:
    """Sum of the means of the model outputs the generator losses read (elementwise: no counted FLOPs)."""
    return sum(getattr(out, name).float().abs().mean() for name in LOSS_INPUTS
               if getattr(out, name) is not None)


def training_pass(model: torch.nn.Module, disc: torch.nn.Module, args, clip: torch.Tensor,
                  flow: torch.Tensor | None) -> None:
    """The trainer's passes of one micro-batch, with means as losses: G forward, D's step on real and
    detached fake (one call), the adversarial term through the frozen D, one backward per network."""
    model.train()
    disc.train()
    out = model(clip, mode="train", flow=flow)
    g_loss = surrogate_loss(out)
    if LossConfig.from_args(args).trains_discriminator:
        real, fake = vaegan.aligned_clips(clip, out.prediction, args.num_input_frames,
                                          args.disc_context_frames)
        cond = out.condition
        both = None if cond is None else torch.cat([cond, cond])
        disc(torch.cat([real, fake.detach()]), both).float().mean().backward()
        if args.lambda_gan > 0:
            with judging(disc):
                g_loss = g_loss + disc(fake, cond).float().mean()
    g_loss.backward()


def training_flops(model: torch.nn.Module, disc: torch.nn.Module, args, batch: int = 1) -> int:
    """FLOPs of one training micro-batch of ``batch`` clips (forward and backward of both networks)."""
    clip, flow = example_clip(args, batch)
    flops = _count(lambda: training_pass(model, disc, args, clip, flow))
    for module in (model, disc):
        module.zero_grad(set_to_none=True)
    return flops


def saved_bytes(model: torch.nn.Module, disc: torch.nn.Module, args, batch: int,
                autocast: bool = False) -> int:
    """Bytes of the distinct storages autograd saves for the backward during one training forward (G and
    both D calls), parameters excluded."""
    clip, flow = example_clip(args, batch)
    params = {p.untyped_storage().data_ptr() for m in (model, disc) for p in m.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    cast = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    # the backward is what frees them: run the forward passes only (no backward), then drop the graph
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), cast:
        model.train()
        out = model(clip, mode="train", flow=flow)
        if LossConfig.from_args(args).trains_discriminator:
            real, fake = vaegan.aligned_clips(clip, out.prediction, args.num_input_frames,
                                              args.disc_context_frames)
            both = None if out.condition is None else torch.cat([out.condition, out.condition])
            disc(torch.cat([real, fake.detach()]), both)
            if args.lambda_gan > 0:
                with judging(disc):
                    disc(fake, out.condition)
    return sum(seen.values())


def memory_estimate(model: torch.nn.Module, disc: torch.nn.Module, args, batch: int) -> dict:
    """Static bytes (weights, gradients, Adam moments, averaged weights, frozen weights) plus saved
    activations extended linearly from batches 1 and 2 to ``batch``; float32 and bf16-autocast."""
    trainable = sum(p.numel() for m in (model, disc) for p in m.parameters() if p.requires_grad)
    frozen = sum(p.numel() for m in (model, disc) for p in m.parameters() if not p.requires_grad)
    averaged = sum(p.numel() for p in model.parameters()) if args.ema_decay > 0 else 0
    static = 4 * (trainable * (2 + ADAM_MOMENTS) + frozen + averaged)
    record = {"batch": batch, "static_mib": static / 2**20}
    for label, cast in (("fp32", False), ("bf16_autocast", True)):
        one, two = (saved_bytes(model, disc, args, b, autocast=cast) for b in (1, 2))
        activations = one + (batch - 1) * (two - one)
        record[f"activations_{label}_mib"] = activations / 2**20
        record[f"peak_estimate_{label}_mib"] = (static + activations) / 2**20
    return record


def measure(name: str, extra: list[str], memory_batch: int | None, with_memory: bool = True) -> dict:
    args = model_args(name, extra)
    torch.manual_seed(args.seed)
    model, disc = vaegan.build(args, pretrained_flow=False)
    P = args.num_predict_frames
    record = {
        "config": name, "date": datetime.date.today().isoformat(), "machine": machine(),
        "image": f"{args.image_w}x{args.image_h}x{args.num_channels}",
        "frames": f"{args.num_input_frames}+{P}", "batch_size": args.batch_size,
        "motion": args.optical_flow_net_type if args.use_wubu_motion_branch else None,
        "loader_flow": flow_reads(args).loader_method,
        "trains_discriminator": LossConfig.from_args(args).trains_discriminator,
        "parameters_g": sum(p.numel() for p in model.parameters()),
        "parameters_g_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "parameters_d": sum(p.numel() for p in disc.parameters()),
    }
    forward = forward_flops(model, args)
    train = training_flops(model, disc, args)
    record.update({"forward_gflops_per_clip": forward / 1e9, "forward_gflops_per_frame": forward / P / 1e9,
                   "train_gflops_per_clip": train / 1e9,
                   "train_gflops_per_step": train * args.batch_size * args.grad_accum_steps / 1e9})
    if with_memory:
        record["memory"] = memory_estimate(model, disc, args, memory_batch or args.batch_size)
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Unknown flags are passed on to the model's parser.")
    p.add_argument("--config", action="append", choices=CONFIGS, help="configuration (repeatable; default: "
                   "all three)")
    p.add_argument("--memory-batch", type=int, default=None,
                   help="batch size of the memory estimate (default: the configuration's --batch_size)")
    p.add_argument("--no-memory", action="store_true", help="FLOPs and parameters only")
    opts, extra = p.parse_known_args(argv)
    if opts.memory_batch is not None and opts.memory_batch < 1:
        p.error("--memory-batch must be >= 1")
    torch.set_grad_enabled(True)
    with contextlib.redirect_stdout(sys.stderr):
        records = [measure(name, extra, opts.memory_batch, not opts.no_memory)
                   for name in opts.config or CONFIGS]
    for record in records:
        emit(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
