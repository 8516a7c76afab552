"""Moving Fashion-MNIST 10 → 10: train the default model, score it in the benchmark's metrics, and put it
beside the published table and the two baselines that learn nothing (copy-last, flow extrapolation).

    python3 bench/bench_mfmnist.py --minutes 20                      # CPU preset, 500 test sequences
    python3 bench/bench_mfmnist.py --epochs 2 --test-sequences 200
    python3 bench/bench_mfmnist.py --preset gpu --minutes 8          # CUDA: bf16 AMP, 10000 test sequences
    python3 bench/bench_mfmnist.py --minutes 2 --batch_size 8        # unknown flags go to the training parser

Trains with the real session and trainer (``--dataset moving_fmnist``, 10 context + 10 target frames, grey,
64×64) for ``--minutes`` (``--max_train_minutes``) or ``--epochs``, with no validation until the end; the
trainer's final validation on the fixed seed-0 test set writes ``val/bench_*`` (and per future step
``val/bench_*_t{k}``, and ``val/copy_last_bench_*``, ``val/flow_extrap_bench_*``) to ``metrics.jsonl``,
which this script reads. Writes ``mfmnist_<preset>.json`` and ``mfmnist_<preset>.md`` (our row beside the
published rows, copy-last and the flow extrapolation, with parameters, training time, steps and machine)
into ``--out``; prints the JSON record on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import NEVER, machine, write_record
from wubugaad.data.moving_objects import SOURCES
from wubugaad.train import config, session, trainer

# OpenSTL's Moving Fashion-MNIST table: 10 → 10, 64×64, 200 epochs on one V100.
# (method, parameters in millions, MSE, MAE, SSIM, PSNR)
PUBLISHED = (
    ("ConvLSTM-S", 15.0, 28.87, 113.20, 0.8793, 22.07),
    ("PredNet", 12.5, 185.94, 318.30, 0.6713, 14.83),
    ("PhyDNet", 3.1, 34.75, 125.66, 0.8567, 22.03),
    ("PredRNN", 23.8, 22.01, 91.74, 0.9091, 23.42),
    ("PredRNN++", 38.6, 21.71, 91.97, 0.9097, 23.45),
    ("DMVFN", 3.5, 118.32, 220.02, 0.7572, 16.76),
    ("SimVP+IncepU", 58.0, 30.77, 113.94, 0.8740, 21.81),
    ("TAU", 44.7, 24.24, 96.72, 0.8995, 22.87),
)
PRESETS = {
    "cpu": {"flags": ["--batch_size", "4", "--num_workers", "1"], "test_sequences": 500},
    "gpu": {"flags": ["--batch_size", "16", "--num_workers", "6", "--use_amp", "--amp_dtype", "bf16"],
            "test_sequences": 10000},
}
METRICS = ("mse", "mae", "ssim", "psnr")
CONTEXT, FUTURE = 10, 10
# all ten target frames in one pass, each warped from the last context frame (measured: the rollout scores
# worse here at CPU budgets, bench/RESULTS.md); frame t+10 then sits up to 36 px away (3.6 px per frame),
# beyond the parser's 16 px bound on the flow. Far frames of bouncing objects must be invented rather than
# warped: the synthesis is on and its blend mask starts half open (MSE 211.9 against 235.4 with the mask
# nearly shut, bench/RESULTS.md)
# The prior's confidence and the extrapolation channel (on by default since the ninth round) stay off: the
# recorded configuration (eighth round), not yet measured with them.
GENERATOR_FLAGS = ["--no_gen_rollout", "--gen_max_flow_px", "40", "--gen_synthesis", "--gen_mask_init_logit",
                   "0", "--no_gen_extrapolate", "--no_gen_flow_confidence"]
# trained on the benchmark's own metric alone, as the published methods are: against the L1 default, MSE 169
# vs 231 at ~720 steps (paired 8-minute screens), for a blurrier guess (SSIM 0.35 vs 0.64). No adversarial
# term, so no discriminator is run or trained: it only ever shaped the latent's correction, which the
# benchmark's predictions leave out, and without it a step takes a third less time (5585 steps in 20
# minutes against 3783), bench/RESULTS.md
LOSS_FLAGS = ["--recon_loss", "mse", "--lambda_gan", "0"]
# the grid code (one per clip in the joint pass), which the decoder reads; its prior-mean prediction beat the
# vector code's at 1200 training sequences (MSE 172.7 against 178.9, seeds 42 and 1) with fewer parameters
# (3.38 M against 3.55 M), bench/RESULTS.md, eleventh round; at λ_kl 30 rather than 10 it is better again on
# each of three seeds (paired −2.9 MSE at 1200 sequences; λ_kl 100 no better than 10), twelfth round; the
# same code and weight as bench_stochastic.py samples
LATENT_FLAGS = ["--latent_layout", "grid", "--latent_dim", "8", "--lambda_kl", "30"]


class TimedLoader:
    """Iterates a loader and adds up the seconds spent from its first to its last batch (validation)."""

    def __init__(self, loader):
        self.loader, self.seconds = loader, 0.0
        self.dataset = loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        t0 = time.perf_counter()
        yield from self.loader
        self.seconds += time.perf_counter() - t0


def training_argv(opts, work: Path) -> list[str]:
    preset = PRESETS[opts.preset]
    tests = opts.test_sequences or preset["test_sequences"]
    epochs = str(opts.epochs) if opts.epochs else NEVER
    return ["--dataset", "moving_fmnist", "--mnist_path", opts.mnist_path,
            "--num_input_frames", str(CONTEXT), "--num_predict_frames", str(FUTURE), "--num_channels", "1",
            "--image_h", "64", "--image_w", "64", "--moving_test_sequences", str(tests), *GENERATOR_FLAGS,
            *LATENT_FLAGS, *LOSS_FLAGS, *preset["flags"], "--checkpoint_dir", str(work),
            "--run_name", "mfmnist",
            "--cache_dir", opts.cache_dir, "--epochs", epochs, "--max_train_minutes", str(opts.minutes or 0),
            "--save_interval", "0", "--val_interval", NEVER, "--sample_format", "png",
            "--val_primary_metric", "bench_mse", "--seed", str(opts.seed)]


def final_scores(metrics_file: Path) -> dict:
    """The last record of ``metrics.jsonl`` that holds the benchmark metrics."""
    last = None
    with open(metrics_file, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if "val/bench_mse" in record:
                last = record
    if last is None:
        raise RuntimeError(f"{metrics_file}: no validation record with val/bench_mse")
    return last


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def train_session(argv: list[str]):
    """Parse ``argv``, set the session up and train it (console output to stderr): ``(args, session, wall
    seconds)``; a training that exits non-zero raises."""
    with contextlib.redirect_stdout(sys.stderr):
        args = config.parse_args(argv)
        s = session.setup(args)
        s.val_loader = TimedLoader(s.val_loader)
        t0 = time.perf_counter()
        code = trainer.train(s)
        wall = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"training ended with exit code {code}")
    return args, s, wall


def run(opts, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="wubugaad-mfmnist-") as tmp:
        argv = [*training_argv(opts, Path(tmp)), *extra]
        args, s, wall = train_session(argv)
        scores = final_scores(s.run_dir / "metrics.jsonl")
    ours = {m: scores[f"val/bench_{m}"] for m in METRICS}
    copy = {m: scores[f"val/copy_last_bench_{m}"] for m in METRICS}
    flow = {m: scores[f"val/flow_extrap_bench_{m}"] for m in METRICS}
    per_step = [{"k": k, **{m: scores[f"val/bench_{m}_t{k}"] for m in METRICS},
                 "copy_last_mse": scores[f"val/copy_last_bench_mse_t{k}"],
                 "flow_extrap_mse": scores[f"val/flow_extrap_bench_mse_t{k}"]} for k in range(1, FUTURE + 1)]
    return {
        "benchmark": "moving_fmnist 10->10 64x64", "preset": opts.preset,
        "date": datetime.date.today().isoformat(), "machine": machine(),
        "minutes": opts.minutes, "epochs_limit": opts.epochs, "steps": s.step, "epochs_done": s.epoch,
        "batch_size": args.batch_size, "sequences_seen": s.step * args.batch_size * args.grad_accum_steps,
        "train_s": wall - s.val_loader.seconds, "final_validation_s": s.val_loader.seconds,
        "test_sequences": args.moving_test_sequences, "model_params": _count(s.model),
        "discriminator_params": _count(s.disc), "discriminator_trained": s.losses.trains_discriminator,
        "extra_flags": extra,
        "ours": ours, "copy_last": copy, "flow_extrap": flow, "per_step": per_step,
    }


def _cells(v: dict) -> str:
    return f"{v['mse']:.2f} | {v['mae']:.2f} | {v['ssim']:.4f} | {v['psnr']:.2f}"


def _row(name: str, params: str, v: dict, training: str) -> str:
    return f"| {name} | {params} | {_cells(v)} | {training} |"


def markdown(r: dict) -> str:
    m = r["machine"]
    where = m.get("gpu") or f"{m['cpu']} ({m['cores']} cores)"
    rows = ["| method | params | MSE | MAE | SSIM | PSNR | training |", "|---|---|---|---|---|---|---|"]
    rows += [_row(n, f"{p:.1f} M", dict(zip(METRICS, v, strict=True)), "200 epochs, 1× V100")
             for n, p, *v in PUBLISHED]
    rows.append(_row("copy last frame", "0", r["copy_last"], "none"))
    rows.append(_row("flow extrapolation (DIS, constant velocity)", "0", r["flow_extrap"], "none"))
    ours = f"{r['train_s'] / 60:.1f} min, {r['steps']} steps (batch {r['batch_size']}), {where}"
    rows.append(_row("**WuBuGAADHybridGen**", f"{r['model_params'] / 1e6:.2f} M", r["ours"], ours))
    steps = ["| step | MSE | MAE | SSIM | PSNR | copy-last MSE | flow-extrapolation MSE |",
             "|---|---|---|---|---|---|---|"]
    steps += [f"| t+{p['k']} | {_cells(p)} | {p['copy_last_mse']:.2f} | {p['flow_extrap_mse']:.2f} |"
              for p in r["per_step"]]
    disc = (f"the discriminator (training only) has {r['discriminator_params'] / 1e6:.2f} M parameters"
            if r["discriminator_trained"] else "no discriminator was trained (the reconstruction loss alone)")
    notes = (f"Ours: {r['test_sequences']} test sequences of the fixed seed-0 set (the published protocol "
             f"uses 10000), preset `{r['preset']}`, {r['date']}; {disc}. MSE / MAE: per frame, summed over "
             f"the 64×64 pixels of [0, 1] frames; published rows from OpenSTL.")
    return "\n".join(["## Moving Fashion-MNIST 10 → 10", "", *rows, "", "Per future step (ours):", "",
                      *steps, "", notes, ""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Unknown flags are passed on to the training parser.")
    p.add_argument("--minutes", type=float, default=None, help="training wall-clock budget in minutes")
    p.add_argument("--epochs", type=int, default=None, help="train this many epochs instead (or as well)")
    p.add_argument("--preset", choices=tuple(PRESETS), default="cpu", help="cpu or gpu (CUDA, bf16 AMP)")
    p.add_argument("--test-sequences", type=int, default=None,
                   help="fixed test-set size (default: 500 for cpu, 10000 for gpu)")
    p.add_argument("--mnist-path", default=SOURCES["moving_fmnist"][0], help="folder of the idx files")
    p.add_argument("--cache-dir", default=".wubugaad_cache", help="where the test set is cached")
    p.add_argument("--out", type=Path, default=Path("bench_out"), help="folder for the JSON and markdown")
    p.add_argument("--seed", type=int, default=42, help="training seed (the test set always uses seed 0)")
    opts, extra = p.parse_known_args(argv)
    if opts.minutes is None and opts.epochs is None:
        p.error("give --minutes M (wall-clock budget) or --epochs N")
    if opts.minutes is not None and not opts.minutes > 0 or opts.epochs is not None and opts.epochs < 1:
        p.error("--minutes must be > 0 and --epochs >= 1")
    if opts.test_sequences is not None and opts.test_sequences < 1:
        p.error("--test-sequences must be >= 1")
    record = run(opts, extra)
    write_record(opts.out / f"mfmnist_{opts.preset}", record, markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
