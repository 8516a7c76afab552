"""The theory study's tables, one per benchmark, from the study folders `wubugaad_ablate.py` wrote.

    python3 bench/theory_tables.py "Moving Fashion-MNIST 10 → 10"=runs/theory_mfmnist \\
        "held-out synthetic video"=runs/theory_video [--flops flops.jsonl]

Each table has the two baselines as rows (copy-last and the flow extrapolation: the same validation set in
every arm, so their mean over the base variant's seeds), then every arm: prediction PSNR and learned gain
(mean ± std over seeds), the paired effect on the learned gain against the base variant with its 95 %
t-interval and verdict (`wubugaad.study.stats`), seconds per step as the runs measured them, and, with
`--flops`, the generator's parameters and forward GFLOPs per predicted frame (`bench_flops.py` lines,
each carrying a `"variant"` key). Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import _common  # noqa: F401  (puts draftPY on the import path first)
from wubugaad.study import stats
from wubugaad.study.stats import fmt_effect, fmt_pm

BASE = "default"


def _mean(rows: list[dict], key: str) -> float:
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return statistics.fmean(values) if values else math.nan


def table(title: str, folder: Path, flops: dict[str, dict]) -> str:
    rows = stats.add_deltas(stats.read_csv(folder / "ablation.csv"), BASE, "learned_gain_db")
    order = list(dict.fromkeys(r["variant"] for r in rows))
    summary = stats.summarise(rows, BASE, order, "learned_gain_db")
    base_rows = [r for r in rows if r["variant"] == BASE and r["status"] == "ok"]
    steps = sorted({r["steps"] for r in rows})
    seeds = ", ".join(sorted({r["seed"] for r in rows}))
    lines = [f"### {title}", "", f"{len(rows)} runs, {', '.join(steps)} steps each, seeds {seeds}; effect = "
             "paired difference of the learned gain to the default (same seed), 95 % t-interval.", "",
             "| row | pred PSNR (dB) | learned gain (dB) | effect vs default (dB) | verdict "
             "| s/step (as run) | G params | GFLOPs / frame |", "|---|---|---|---|---|---|---|---|",
             f"| copy-last (baseline) | {_mean(base_rows, 'copy_last_psnr'):.2f} | | | | | | |",
             f"| flow extrapolation (baseline) | {_mean(base_rows, 'flow_extrap_psnr'):.2f} | | | | | | |"]
    for s in summary:
        cost = flops.get(s["variant"], {})
        params = f"{cost['parameters_g'] / 1e6:.3f} M" if cost else "—"
        gflops = f"{cost['forward_gflops_per_frame']:.4f}" if cost else "—"
        lines.append(f"| {s['variant']} | {fmt_pm(s['pred_psnr'])} | {fmt_pm(s['learned_gain_db'])} | "
                     f"{fmt_effect(s['effect'])} | {s['verdict']} | {fmt_pm(s['s_per_step'], 3)} | {params} "
                     f"| {gflops} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("studies", nargs="+", help="TITLE=FOLDER, a study folder holding ablation.csv")
    p.add_argument("--flops", type=Path, help="JSON lines of bench_flops.py, each with a 'variant' key")
    args = p.parse_args()
    flops = {}
    if args.flops:
        for line in args.flops.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            flops[record["variant"]] = record
    for spec in args.studies:
        title, _, folder = spec.rpartition("=")
        if not title or not (Path(folder) / "ablation.csv").is_file():
            p.error(f"{spec!r}: give TITLE=FOLDER with FOLDER/ablation.csv (a finished wubugaad_ablate.py "
                    "study)")
        print(table(title, Path(folder), flops))


if __name__ == "__main__":
    main()
