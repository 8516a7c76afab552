"""Cost of building the offline run report (report.html) for a long run.

    python3 bench/bench_report.py [--steps 100000] [--val-every 1000] [--repeats 3]

Writes a synthetic run folder (temporary) whose ``metrics.jsonl`` has ``--steps`` logged steps with the
keys a real run logs (losses, learning rates, Q-controller, per-component gradient norms, geometry of
WuBu-S/M/T) and a validation line every ``--val-every`` steps, then times:

- ``cold_s``: the first build in a fresh process state (parse the whole file + draw), what the command
  ``wubugaad_report.py`` costs after its imports;
- ``per_validation_s``: a rebuild after one more validation interval was appended, what the trainer pays at
  each validation (its reader parses only the new lines);
- ``parse_s``: the parse alone (the rest of ``cold_s`` is drawing); ``matplotlib_import_s`` once per
  process. ``*_cpu_s``: the same as CPU time of this process, the figure to trust on a busy machine.

Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "draftPY"))


def train_record(step: int, rng: random.Random) -> dict:
    decay = 1.0 / (1.0 + step / 5000)
    rec = {"step": step, "epoch": step // 2000}
    for key, base in (("loss_recon", 0.05), ("loss_kl", 0.01), ("loss_g_adv", 0.7), ("loss_d_real", 0.6),
                      ("loss_d_fake", 0.6)):
        rec[f"train/{key}"] = base * (0.3 + decay) * (1 + 0.2 * rng.random())
    rec["train/loss_g_total"] = 10 * rec["train/loss_recon"] + 0.1 * rec["train/loss_kl"] + \
        rec["train/loss_g_adv"]
    rec["train/loss_d_total"] = (rec["train/loss_d_real"] + rec["train/loss_d_fake"]) / 2
    rec.update({"train/lr_gen": 1e-4 * decay, "train/lr_disc": 1e-4 * decay, "train/lambda_kl_eff": 0.1,
                "train/nonfinite_skipped": 0})
    for role in ("gen", "disc"):
        rec.update({f"q_ctrl_{role}/epsilon": max(0.05, decay),
                    f"q_ctrl_{role}/lrscale": 1 + 0.2 * rng.random(),
                    f"q_ctrl_{role}/momentumscale": 1 - 0.1 * rng.random(),
                    f"q_ctrl_{role}/avgreward": rng.gauss(0, 1), f"q_ctrl_{role}/qtablesize": min(step, 500)})
    for part in ("wubu_s", "wubu_t", "wubu_m", "geometry", "generator", "discriminator"):
        rec[f"grad_norm/{part}"] = decay * (1 + rng.random())
    for stack, levels in (("wubu_s", 3), ("wubu_m", 2), ("wubu_t", 2)):
        for i in range(levels):
            for name, v in (("curvature", 1 + 0.5 * math.sin(step / 9000 + i)), ("scale", 1 - 0.1 * decay),
                            ("spread", 0.1 + 0.01 * i)):
                rec[f"geometry/{stack}/level{i}/{name}"] = v
        rec[f"geometry/{stack}/rotation_orthogonality_error"] = 1e-6 * rng.random()
        rec[f"geometry/{stack}/boundary_saturation"] = 0.5 + 0.1 * rng.random()
    return rec


def val_record(step: int, rng: random.Random) -> dict:
    gain = 3 * (1 - 1 / (1 + step / 20000))
    rec = {"step": step, "epoch": step // 2000}
    for prefix, offset in (("avg_val_", 6.0), ("pred_", gain), ("copy_last_", 0.0)):
        rec[f"val/{prefix}psnr"] = 25 + offset + rng.random() * 0.2
        rec[f"val/{prefix}ssim"] = 0.8 + offset / 100
        mse_key = "val/avg_val_recon_mse" if prefix == "avg_val_" else f"val/{prefix}mse"
        rec[mse_key] = 10 ** (-(25 + offset) / 10)
    return rec


def write_lines(path: Path, start: int, stop: int, val_every: int, rng: random.Random) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for step in range(start, stop + 1):
            f.write(json.dumps(train_record(step, rng)) + "\n")
            if step % val_every == 0:
                f.write(json.dumps(val_record(step, rng)) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3, help="per-validation rebuilds timed (median kept)")
    args = p.parse_args()
    t = time.perf_counter()
    import matplotlib.figure  # noqa: F401
    from wubugaad.report import data as report_data
    from wubugaad.report import page as report
    import_s = time.perf_counter() - t
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        (run / "samples").mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"val_primary_metric": "pred_psnr"}))
        write_lines(run / "metrics.jsonl", 1, args.steps, args.val_every, rng)
        size_mb = (run / "metrics.jsonl").stat().st_size / 1e6
        t, c = time.perf_counter(), time.process_time()
        report_data.metrics_log(run / "metrics.jsonl")
        parse_s, parse_cpu_s = time.perf_counter() - t, time.process_time() - c
        report_data._LOGS.clear()  # the cold build below parses again
        t, c = time.perf_counter(), time.process_time()
        report.write_report(run, {"state": "running"})
        cold_s, cold_cpu_s = time.perf_counter() - t, time.process_time() - c
        per_val, per_val_cpu, step = [], [], args.steps
        for _ in range(args.repeats):
            write_lines(run / "metrics.jsonl", step + 1, step + args.val_every, args.val_every, rng)
            step += args.val_every
            t, c = time.perf_counter(), time.process_time()
            report.write_report(run, {"state": "running"})
            per_val.append(time.perf_counter() - t)
            per_val_cpu.append(time.process_time() - c)
        page_kb = (run / "report.html").stat().st_size / 1e3
        charts = (run / "report.html").read_text(encoding="utf-8").count('class="chart-svg"')
    per_val.sort()
    per_val_cpu.sort()
    print(json.dumps({"logged_steps": args.steps, "metrics_mb": round(size_mb, 1), "charts": charts,
                      "page_kb": round(page_kb), "matplotlib_import_s": round(import_s, 3),
                      "cold_s": round(cold_s, 3), "parse_s": round(parse_s, 3),
                      "cold_cpu_s": round(cold_cpu_s, 3), "parse_cpu_s": round(parse_cpu_s, 3),
                      "per_validation_s": round(per_val[len(per_val) // 2], 3),
                      "per_validation_cpu_s": round(per_val_cpu[len(per_val_cpu) // 2], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
