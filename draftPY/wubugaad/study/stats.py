"""Statistics and tables of an ablation study: per-variant mean ± std over seeds, paired differences.

Every run is one row (a dict with the columns of `COLUMNS`). A variant's effect is measured against the
base variant *paired by seed*: for each seed k that both finished, ``d_k = metric(variant, k) −
metric(base, k)``; the effect is ``mean(d)`` with the 95 % interval ``mean(d) ± t(0.975, n−1)·sd(d)/√n``.
Pairing removes the seed-to-seed spread that variants share (same data order, same initial weights where
the architecture agrees). The verdict: "helps" when the interval lies above 0, "hurts" when below,
"within noise" when it contains 0, "needs ≥ 2 seeds" with fewer pairs.

The metric is prediction PSNR by default, or the learned gain (``learned_gain_db``: prediction PSNR minus
the better of copy-last and flow extrapolation, ``train/baselines.py``), which is what a variant should be
judged by when it changes the validation set or the loader's flow, and so the baselines themselves; or,
for runs with ``--val_num_samples`` N (the ``vaegan`` preset), the best, mean or worst of N sampled
futures' PSNR (``train/sample_metrics.py``): a stochastic model is judged by its samples, not by the one
prior-mean prediction.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from scipy import stats

SAMPLE_COLUMNS = ("sample_best_psnr", "sample_mean_psnr", "sample_worst_psnr", "sample_diversity")
COLUMNS = ("variant", "seed", "status", "exit_code", "flags", "steps", "s_per_step", "params_gen",
           "params_disc", "pred_psnr", "pred_ssim", "recon_psnr", "recon_ssim", "copy_last_psnr",
           "flow_extrap_psnr", "learned_gain_db", *SAMPLE_COLUMNS, "delta_vs_copy_last", "delta_vs_base")
# what a verdict can be about (validation keys of the training script, all in dB); the first is the default
METRICS = {"pred_psnr": "prediction PSNR", "learned_gain_db": "learned gain over the better baseline",
           "sample_best_psnr": "best-of-N sample PSNR", "sample_mean_psnr": "mean-of-N sample PSNR",
           "sample_worst_psnr": "worst-of-N sample PSNR"}
METRIC = "pred_psnr"


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def add_deltas(rows: list[dict], base: str, metric: str = METRIC) -> list[dict]:
    """Fill ``delta_vs_copy_last`` (prediction PSNR) and ``delta_vs_base`` (``metric``, same seed) of every
    finished row."""
    base_by_seed = {int(r["seed"]): _number(r.get(metric)) for r in rows if r["variant"] == base}
    for row in rows:
        pred, copy = _number(row.get("pred_psnr")), _number(row.get("copy_last_psnr"))
        row["delta_vs_copy_last"] = None if pred is None or copy is None else pred - copy
        value, reference = _number(row.get(metric)), base_by_seed.get(int(row["seed"]))
        row["delta_vs_base"] = None if value is None or reference is None else value - reference
    return rows


def paired_interval(differences: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the paired differences; the interval is nan with fewer than 2 pairs."""
    n = len(differences)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(differences)
    if n < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, n - 1) * statistics.stdev(differences) / math.sqrt(n)
    return mean, mean - half, mean + half


def verdict(low: float, high: float) -> str:
    if math.isnan(low):
        return "needs ≥ 2 seeds"
    if low > 0:
        return "helps"
    if high < 0:
        return "hurts"
    return "within noise"


def summarise(rows: Iterable[Mapping], base: str, order: Sequence[str], metric: str = METRIC) -> list[dict]:
    """One summary per variant (in ``order``): runs, failures, mean ± std of the metrics, paired effect on
    ``metric`` (``add_deltas`` must have used the same one)."""
    rows = list(rows)
    out = []
    for name in order:
        mine = [r for r in rows if r["variant"] == name]
        done = [r for r in mine if r["status"] == "ok" and _number(r.get(metric)) is not None]

        def spread(key: str, runs=done) -> tuple[float, float]:
            values = [v for v in (_number(r.get(key)) for r in runs) if v is not None]
            if not values:
                return math.nan, math.nan
            return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0

        diffs = [] if name == base else [_number(r["delta_vs_base"]) for r in done
                                         if _number(r.get("delta_vs_base")) is not None]
        mean, low, high = paired_interval(diffs)
        out.append({"variant": name, "runs": len(mine), "failed": len(mine) - len(done),
                    **{key: spread(key) for key in ("pred_psnr", "recon_psnr", "copy_last_psnr",
                                                    "learned_gain_db", "delta_vs_copy_last", "s_per_step",
                                                    *SAMPLE_COLUMNS)},
                    "effect": (mean, low, high), "pairs": len(diffs),
                    "verdict": "base" if name == base else verdict(low, high)})
    return out


def write_csv(path: Path, rows: Iterable[Mapping]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def fmt_pm(pair: tuple[float, float], digits: int = 2) -> str:
    mean, std = pair
    return "—" if math.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_effect(effect: tuple[float, float, float]) -> str:
    mean, low, high = effect
    if math.isnan(mean):
        return "—"
    return f"{mean:+.2f}" if math.isnan(low) else f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def markdown_table(summary: Sequence[Mapping], title: str, metric: str = METRIC) -> str:
    lines = [f"# {title}", "",
             "Prediction PSNR on the validation windows; mean ± std over seeds; learned gain = prediction "
             "PSNR − the better of copy-last and flow extrapolation; effect = paired difference of the "
             f"{METRICS[metric]} to the base variant (same seed) with its 95 % t-interval.", "",
             "| variant | runs (failed) | pred PSNR (dB) | Δ vs copy-last (dB) | learned gain (dB) | "
             "recon PSNR (dB) | effect vs base (dB) | verdict | s/step |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['variant']} | {s['runs']} ({s['failed']}) | {fmt_pm(s['pred_psnr'])} | "
                     f"{fmt_pm(s['delta_vs_copy_last'])} | {fmt_pm(s['learned_gain_db'])} | "
                     f"{fmt_pm(s['recon_psnr'])} | {fmt_effect(s['effect'])} | {s['verdict']} | "
                     f"{fmt_pm(s['s_per_step'], 3)} |")
    sampled = [s for s in summary if not math.isnan(s.get("sample_best_psnr", (math.nan,))[0])]
    if sampled:  # runs with --val_num_samples: the samples' figures in a table of their own
        lines += ["", "Sampled futures (--val_num_samples N per clip): best / mean / worst of N by the "
                  "sample's mean PSNR over the horizon; diversity = mean absolute pixel difference between "
                  "two samples on [0, 1] (0: all N identical).", "",
                  "| variant | best of N (dB) | mean of N (dB) | worst of N (dB) | diversity |",
                  "|---|---|---|---|---|"]
        lines += [f"| {s['variant']} | {fmt_pm(s['sample_best_psnr'])} | {fmt_pm(s['sample_mean_psnr'])} | "
                  f"{fmt_pm(s['sample_worst_psnr'])} | {fmt_pm(s['sample_diversity'], 4)} |" for s in sampled]
    return "\n".join(lines) + "\n"


def effect_chart(path: Path, summary: Sequence[Mapping], metric: str = METRIC) -> None:
    """PNG: each non-base variant's paired effect on ``metric`` with its 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    shown = [s for s in summary if s["verdict"] != "base"]
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * max(len(shown), 1)))
    for i, s in enumerate(shown):
        mean, low, high = s["effect"]
        if math.isnan(mean):
            continue
        err = None if math.isnan(low) else [[mean - low], [high - mean]]
        ax.errorbar(mean, i, xerr=err, fmt="o", capsize=4, color="tab:blue")
    ax.axvline(0.0, color="grey", lw=1)
    ax.set_yticks(range(len(shown)), [s["variant"] for s in shown])
    ax.set_xlabel(f"{METRICS[metric]} − base (dB), paired by seed, 95 % interval")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
