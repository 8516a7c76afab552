"""torch.compile rehearsed on the CPU: the generator's training step under inductor against eager.

    OMP_NUM_THREADS=1 python3 bench/bench_compile.py                # the quick-demo model at 32×32
    python3 bench/bench_compile.py --steps 5 --image_h 64 --image_w 64   # unknown flags: the model's parser
    python3 bench/bench_compile.py --backend aot_eager              # capture and autograd only, no codegen

The trainer compiles on CUDA only (``--compile``; on the CPU it says so and runs eager); this script runs
the same call, ``torch.compile(model)`` with the default (inductor) backend, on the CPU, so the graph
capture, the recompilation behaviour and the numerics are checked where no GPU is lent. Inductor needs a
C++ compiler on the CPU (``g++``; the script stops with a message naming it when there is none) and
minutes of a quiet machine for this model; ``--backend aot_eager`` checks the capture (graph breaks,
recompilations, forward and backward graphs) in seconds, without generating code.

One JSON line: ``compile_s`` (the first compiled step: capture + inductor, forward and backward),
``eager_step_s`` / ``compiled_step_s`` (medians of ``--steps`` generator steps of one shape: forward in
``mode="train"``, a reconstruction loss, backward), ``frames_compiled_first`` and ``recompiles`` (frames
dynamo compiled during the first step and during all later ones: must be 0, a recompilation storm
shows here), ``graph_breaks``, and ``max_abs_diff_prediction`` / ``max_rel_diff_loss`` /
``max_rel_diff_grad`` between the eager and the compiled step on the same weights and inputs (inductor
draws its random numbers like eager with ``fallback_random``, so the sampled ``z`` and dropout agree).
Tolerance: 1e-4 relative on the loss and 1e-3 relative on the largest gradient (float32 reassociation).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import shutil
import statistics
import sys
import time

import torch
import torch._dynamo
import torch._inductor.config
from _common import emit, machine
from bench_flops import example_clip, surrogate_loss
from wubugaad.model import vaegan
from wubugaad.train import config

LOSS_RTOL, GRAD_RTOL = 1e-4, 1e-3
BACKENDS = ("inductor", "aot_eager")
SMALL = ["--image_h", "32", "--image_w", "32", "--batch_size", "2"]


def generator_step(model: torch.nn.Module, clip: torch.Tensor, flow: torch.Tensor | None, seed: int):
    """Forward (train mode, seeded noise), an L1 reconstruction loss on the targets plus a small term on
    every other output a loss reads (so the backward reaches all of it), backward.
    Returns (prediction, loss), detached."""
    torch.manual_seed(seed)
    out = model(clip, mode="train", flow=flow)
    n_in = clip.shape[1] - out.prediction.shape[1]
    loss = (out.prediction.float() - clip[:, n_in:]).abs().mean() + 1e-3 * surrogate_loss(out)
    loss.backward()
    return out.prediction.detach(), loss.detach()


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _frames() -> int:
    return torch._dynamo.utils.counters["frames"]["ok"]


def compare(eager_model, compiled, model, clip, flow, seed) -> dict:
    """Largest differences between one eager and one compiled step on identical weights and inputs
    (``model`` holds the compiled module's parameters, under their own names)."""
    pred_e, loss_e = generator_step(eager_model, clip, flow, seed)
    grads_e = _grads(eager_model)
    pred_c, loss_c = generator_step(compiled, clip, flow, seed)
    grads_c = _grads(model)
    # a parameter the loss does not reach has no gradient in eager and a zero one from a compiled
    # backward: a missing gradient counts as zeros, so only values are compared
    names = sorted(set(grads_e) | set(grads_c))
    rel_grad = 0.0
    for name in names:
        e, c = grads_e.get(name), grads_c.get(name)
        e = torch.zeros_like(c) if e is None else e
        c = torch.zeros_like(e) if c is None else c
        rel_grad = max(rel_grad, ((e - c).abs().max() / e.abs().max().clamp_min(1e-12)).item())
    return {"max_abs_diff_prediction": (pred_e - pred_c).abs().max().item(),
            "max_rel_diff_loss": ((loss_e - loss_c).abs() / loss_e.abs().clamp_min(1e-12)).item(),
            "max_rel_diff_grad": rel_grad, "grads_compared": len(names),
            "grads_only_compiled": len(set(grads_c) - set(grads_e)),
            "grads_only_eager": len(set(grads_e) - set(grads_c))}


def run(extra: list[str], steps: int, backend: str) -> dict:
    args = config.build_parser().parse_args([*SMALL, *extra])
    args.generator_type = config.resolve_generator_type(args)
    config.broadcast_stack_lists(args)
    torch.manual_seed(args.seed)
    model, _ = vaegan.build(args, pretrained_flow=False)
    model.train()
    twin = copy.deepcopy(model)  # the eager reference, same weights
    clip, flow = example_clip(args, args.batch_size)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    torch._inductor.config.fallback_random = True
    compiled = torch.compile(model, backend=backend)
    compile_s, _ = _timed(lambda: generator_step(compiled, clip, flow, 0))
    model.zero_grad(set_to_none=True)
    first = _frames()
    eager_s, compiled_s = [], []
    for step in range(1, steps + 1):
        eager_s.append(_timed(lambda s=step: generator_step(twin, clip, flow, s))[0])
        twin.zero_grad(set_to_none=True)
        compiled_s.append(_timed(lambda s=step: generator_step(compiled, clip, flow, s))[0])
        model.zero_grad(set_to_none=True)
    recompiles = _frames() - first
    record = {
        "date": datetime.date.today().isoformat(), "machine": machine(), "backend": backend,
        "image": f"{args.image_w}x{args.image_h}", "frames": f"{args.num_input_frames}+"
        f"{args.num_predict_frames}", "batch_size": args.batch_size,
        "parameters_g": sum(p.numel() for p in model.parameters()), "steps": steps,
        "compile_s": compile_s, "eager_step_s": statistics.median(eager_s),
        "compiled_step_s": statistics.median(compiled_s), "frames_compiled_first": first,
        "recompiles": recompiles,
        "graph_breaks": sum(torch._dynamo.utils.counters["graph_break"].values()),
        **compare(twin, compiled, model, clip, flow, steps + 1),
    }
    record["matches_eager"] = (record["max_rel_diff_loss"] <= LOSS_RTOL
                               and record["max_rel_diff_grad"] <= GRAD_RTOL)
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Unknown flags are passed on to the model's parser.")
    p.add_argument("--steps", type=int, default=3, help="timed steps after the compiling one (default 3)")
    p.add_argument("--backend", choices=BACKENDS, default="inductor",
                   help="torch.compile backend (default inductor, what --compile uses)")
    opts, extra = p.parse_known_args(argv)
    if opts.steps < 1:
        p.error("--steps must be >= 1")
    if opts.backend == "inductor" and shutil.which("g++") is None and shutil.which("c++") is None:
        print("bench_compile: inductor needs a C++ compiler on the CPU and none is on PATH (install g++, "
              "e.g. `apt-get install -y g++`)", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):
        record = run(extra, opts.steps, opts.backend)
    emit(record)
    return 0 if record["recompiles"] == 0 and record["matches_eager"] else 1


if __name__ == "__main__":
    sys.exit(main())
