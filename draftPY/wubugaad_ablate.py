"""Ablation study runner: does each WuBu / GAAD / motion component earn its keep?

    python3 draftPY/wubugaad_ablate.py --grid wubu --seeds 3 --max_steps 600 --out runs/ablate_wubu \\
        -- --video_data_path ~/videos/train.mp4 --validation_video_path ~/videos/held_out.mp4

Everything after ``--`` (or any flag this script does not know) is the base training configuration.
``--grid`` is a preset (wubu, gaad, motion, generator, optimizer, theory, vaegan, all) or a JSON/YAML file
mapping variant names to extra training flags (the first variant is the base). Each variant × seed trains
in its own subprocess through the real training entry script; a crash is recorded with its exit code and
the study goes on. Rerunning the same command finishes only what is missing. Outputs in ``--out``:
``ablation.csv`` (one row per run), ``ablation.md`` (mean ± std over seeds, paired effect against the
base with a 95 % interval, a verdict) and ``ablation.png`` (the effects with their intervals). The
verdicts are about prediction PSNR, or with ``--metric learned_gain_db`` about the learned gain over the
better of copy-last and flow extrapolation, or with ``--metric sample_best_psnr`` (``sample_mean_psnr``,
``sample_worst_psnr``) about the best (mean, worst) of the N futures sampled per clip, for runs with
``--val_num_samples N`` such as ``--grid vaegan``'s (rerunning with another ``--metric`` only redoes the
tables).

Exit codes: 0 every run finished (failed runs are rows, not errors); 2 bad input, before anything ran,
or another runner using ``--out`` (its PID and host named); 130 interrupted (rerun to continue).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wubugaad.study import runner as ablation  # noqa: E402
from wubugaad.study import stats as ablation_stats  # noqa: E402
from wubugaad.study.lock import FolderLockedError, folder_lock  # noqa: E402

ENTRY = Path(__file__).resolve().parent / "WuBuGAADHybridGen_v0.1.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", required=True,
                   help=f"preset ({', '.join([*ablation.PRESETS, 'all'])}) or a JSON/YAML file of variants")
    p.add_argument("--seeds", type=int, default=3, help="seeds per variant (0, 1, …, K−1)")
    p.add_argument("--max_steps", type=int, default=0, help="optimizer steps per run")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="budget: the base variant's first seed trains this long; every run gets its steps")
    p.add_argument("--equal_time", action="store_true", help="with --minutes: every run trains that long")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (CPU threads are split between them)")
    p.add_argument("--out", required=True, help="study folder (created; a rerun continues it)")
    p.add_argument("--retry_failed", action="store_true", help="rerun runs that finished with an error")
    p.add_argument("--metric", choices=tuple(ablation_stats.METRICS), default=ablation_stats.METRIC,
                   help="what the verdicts are about: prediction PSNR, the learned gain over the better "
                        "baseline (copy-last, flow extrapolation), or the best / mean / worst of the N "
                        "sampled futures' PSNR (runs with --val_num_samples, e.g. --grid vaegan)")
    return p


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The study's own flags, and the rest: the base training configuration."""
    own, base = build_parser().parse_known_args(argv)
    return own, [token for token in base if token != "--"]


def write_outputs(out: Path, study: ablation.Study, rows: list[dict],
                  metric: str = ablation_stats.METRIC) -> str:
    rows = ablation_stats.add_deltas(sorted(rows, key=lambda r: (list(study.grid).index(r["variant"]),
                                                                 int(r["seed"]))), study.base_variant, metric)
    names = ablation.OUTPUT_FILES
    ablation_stats.write_csv(out / names["csv"], rows)
    summary = ablation_stats.summarise(rows, study.base_variant, list(study.grid), metric)
    table = ablation_stats.markdown_table(summary, f"Ablation study ({len(rows)} runs)", metric)
    tmp = out / f"{names['table']}.tmp"
    tmp.write_text(table, encoding="utf-8")
    tmp.replace(out / names["table"])
    ablation_stats.effect_chart(out / names["chart"], summary, metric)
    return table


def main(argv: list[str] | None = None) -> int:
    own, base = parse(sys.argv[1:] if argv is None else argv)
    out = Path(own.out)
    held = contextlib.ExitStack()
    try:
        study = ablation.Study(tuple(base), ablation.load_grid(own.grid), own.seeds, own.max_steps,
                               own.minutes, own.equal_time)
        ablation.validate(study)
        ablation.prepare_folder(out, study)
        held.enter_context(folder_lock(out))  # until this runner ends: one runner per --out
    except (ablation.StudyError, FolderLockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with held:
        return _run(own, study, out)


def _run(own: argparse.Namespace, study: ablation.Study, out: Path) -> int:
    runs = ablation.plan(study, out)
    bar = tqdm(total=len(runs), desc="ablation runs", unit="run")
    finished: list[dict] = []

    def on_finish(row: dict) -> None:
        finished.append(row)
        bar.update(1)
        gain = row.get("learned_gain_db")
        bar.write(f"{row['variant']} seed {row['seed']}: {row['status']}, step {row['steps']}, "
                  f"prediction PSNR {row.get('pred_psnr', float('nan')):.2f} dB"
                  + ("" if gain is None else f", learned gain {gain:+.2f} dB")
                  + ("" if row.get("sample_best_psnr") is None else
                     f", best/mean/worst of N samples {row['sample_best_psnr']:.2f}/"
                     f"{row['sample_mean_psnr']:.2f}/{row['sample_worst_psnr']:.2f} dB"))

    runner = ablation.Runner(study, out, ENTRY, own.jobs, own.retry_failed, on_finish)
    bar.update(sum(1 for run in runs if runner.result(run) is not None))
    interrupted = []

    def stop(signum, _frame):
        interrupted.append(signum)
        runner.stop_children()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    try:
        rows = runner.run_all()
    except ablation.StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(write_outputs(out, study, rows, own.metric))
    if interrupted or len(rows) < len(runs):
        print(f"interrupted: {len(rows)} of {len(runs)} runs finished; rerun the same command to continue",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
