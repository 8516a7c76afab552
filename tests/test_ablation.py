"""The ablation runner: statistics on hand-made rows, input errors before anything runs, and a tiny real
study (2 variants + 1 crashing × 2 seeds) that is killed midway and finished by a rerun."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_entry import tiny_run_argv
from wubugaad.study import runner as ablation
from wubugaad.study import stats as ablation_stats

ROOT = Path(__file__).resolve().parents[1]
ABLATE = ROOT / "draftPY" / "wubugaad_ablate.py"
T_975_2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom


def _row(variant, seed, pred, copy=20.0, status="ok"):
    return {"variant": variant, "seed": str(seed), "status": status, "exit_code": "0", "flags": "",
            "steps": "10", "s_per_step": "0.5", "pred_psnr": "" if pred is None else str(pred),
            "recon_psnr": str((pred or 0) + 1), "copy_last_psnr": str(copy)}


def test_statistics_on_hand_made_csv(tmp_path):
    rows = [_row("base", 0, 21.0), _row("base", 1, 22.0), _row("base", 2, 23.0),
            _row("better", 0, 22.0), _row("better", 1, 23.2), _row("better", 2, 23.8),
            _row("noisy", 0, 22.0), _row("noisy", 1, 21.0), _row("noisy", 2, 23.5),
            _row("worse", 0, 19.0), _row("worse", 1, 20.1), _row("worse", 2, 20.9),
            _row("lonely", 0, 25.0), _row("lonely", 1, None, status="exit 2")]
    path = tmp_path / "ablation.csv"
    ablation_stats.write_csv(path, rows)
    read = ablation_stats.add_deltas(ablation_stats.read_csv(path), "base")
    assert float(read[3]["delta_vs_base"]) == pytest.approx(1.0)
    assert float(read[0]["delta_vs_copy_last"]) == pytest.approx(1.0)
    summary = {s["variant"]: s for s in ablation_stats.summarise(
        read, "base", ["base", "better", "noisy", "worse", "lonely"])}
    # better: d = (1.0, 1.2, 0.8) → mean 1.0, sd 0.2, half-width t·sd/√3
    mean, low, high = summary["better"]["effect"]
    half = T_975_2 * 0.2 / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((1.0, 1.0 - half, 1.0 + half))
    assert summary["better"]["verdict"] == "helps"
    assert summary["noisy"]["verdict"] == "within noise"
    assert summary["worse"]["verdict"] == "hurts"
    assert summary["lonely"]["verdict"] == "needs ≥ 2 seeds" and summary["lonely"]["failed"] == 1
    assert summary["base"]["pred_psnr"] == pytest.approx((22.0, 1.0))
    table = ablation_stats.markdown_table(list(summary.values()), "t")
    assert "| better | 3 (0) | 23.00 ± 0.92 |" in table and "+1.00 [+0.50, +1.50]" in table
    ablation_stats.effect_chart(tmp_path / "chart.png", list(summary.values()))
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_verdicts_can_be_about_the_learned_gain(tmp_path):
    """A variant that raises prediction PSNR only as much as it raises the flow baseline (say, it changes
    the loader's flow) gains nothing: judged by the learned gain it is within noise, not a help."""
    rows = []
    for seed, (pred, flow) in enumerate([(22.0, 21.5), (23.0, 22.4), (22.5, 22.1)]):
        for variant, lift in (("base", 0.0), ("new_flow", 1.0)):
            row = _row(variant, seed, pred + lift)
            gain = pred + lift + (0.05 * seed if variant == "new_flow" else 0.0) - (flow + lift)
            row.update(flow_extrap_psnr=str(flow + lift), learned_gain_db=str(gain))
            rows.append(row)
    path = tmp_path / "ablation.csv"
    ablation_stats.write_csv(path, rows)
    for metric, verdict in (("pred_psnr", "helps"), ("learned_gain_db", "within noise")):
        read = ablation_stats.add_deltas(ablation_stats.read_csv(path), "base", metric)
        summary = ablation_stats.summarise(read, "base", ["base", "new_flow"], metric)
        assert summary[1]["verdict"] == verdict, metric
    table = ablation_stats.markdown_table(summary, "t", "learned_gain_db")
    assert "learned gain over the better baseline" in table and "| new_flow | 3 (0) |" in table


def _study(base, grid, **kw):
    return ablation.Study(tuple(base), grid, kw.pop("seeds", 2), kw.pop("max_steps", 3), **kw)


@pytest.mark.parametrize("grid, base, expected", [
    ({"base": [], "bad": ["--no_such_flag", "1"]}, [], "variant 'bad': the training parser rejects"),
    ({"base": [], "clash": ["--latent_dim", "4"]}, ["--latent_dim", "8"], "also sets: remove it"),
    ({"base": []}, ["--seed", "3"], "the study sets for every run"),
    ({"base": [], "x": ["--checkpoint_dir", "elsewhere"]}, [], "also sets"),
])
def test_bad_studies_are_refused_before_anything_runs(grid, base, expected):
    with pytest.raises(ablation.StudyError, match=expected):
        ablation.validate(_study(base, grid))


def test_budget_rules():
    with pytest.raises(ablation.StudyError, match="exactly one budget"):
        ablation.validate(_study([], {"base": []}, max_steps=0))
    with pytest.raises(ablation.StudyError, match="--equal_time needs --minutes"):
        ablation.validate(_study([], {"base": []}, equal_time=True))


def test_every_preset_parses():
    for name in [*ablation.PRESETS, "all"]:
        ablation.validate(_study([], ablation.load_grid(name)))


def test_vaegan_preset_arms():
    grid = ablation.load_grid("vaegan")
    assert list(grid) == ["deterministic", "vae", "gan", "vaegan"]
    value = lambda flags, flag: flags[flags.index(flag) + 1] if flag in flags else None  # noqa: E731
    for name, flags in grid.items():
        latent_off, gan_off = value(flags, "--latent_dim") == "0", value(flags, "--lambda_gan") == "0"
        assert (latent_off, gan_off) == {"deterministic": (True, True), "vae": (False, True),
                                         "gan": (True, False), "vaegan": (False, False)}[name]
        assert int(value(flags, "--val_num_samples")) > 1  # every arm ranks by its sampled futures
        if not gan_off:  # the adversarial term is on within a short study
            assert int(value(flags, "--gan_start_step")) + int(value(flags, "--gan_ramp_steps")) <= 100
    assert not any(v.startswith("vaegan/") for v in ablation.load_grid("all"))
    ablation.validate(_study([], grid))


def test_read_metrics_and_tables_carry_the_sample_metrics(tmp_path):
    record = {"step": 4, "val/pred_psnr": 20.0, "val/sample_best_psnr": 23.0, "val/sample_mean_psnr": 21.0,
              "val/sample_worst_psnr": 19.0, "val/sample_diversity": 0.05}
    (tmp_path / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    found = ablation.read_metrics(tmp_path)
    assert (found["sample_best_psnr"], found["sample_diversity"]) == (23.0, 0.05)
    rows = [{**_row(v, k, 20.0), "sample_best_psnr": str(23.0 + (v == "vae") + k / 10),
             "sample_mean_psnr": "21", "sample_worst_psnr": "19", "sample_diversity": "0.05"}
            for v in ("deterministic", "vae") for k in range(2)]
    rows = ablation_stats.add_deltas(rows, "deterministic", "sample_best_psnr")
    summary = ablation_stats.summarise(rows, "deterministic", ["deterministic", "vae"], "sample_best_psnr")
    assert summary[1]["effect"][0] == pytest.approx(1.0)
    table = ablation_stats.markdown_table(summary, "t", "sample_best_psnr")
    assert "best-of-N sample PSNR" in table and "| vae | 24.05 ± 0.07 | 21.00 ± 0.00 |" in table


def test_grid_files(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"base": [], "small": "--latent_dim 4", "gaad": ["--gaad_num_regions", "3"]}))
    assert ablation.load_grid(str(path)) == {"base": [], "small": ["--latent_dim", "4"],
                                             "gaad": ["--gaad_num_regions", "3"]}
    path.write_text("[1, 2]")
    with pytest.raises(ablation.StudyError, match="expected a mapping"):
        ablation.load_grid(str(path))
    with pytest.raises(ablation.StudyError, match="neither a preset"):
        ablation.load_grid(str(tmp_path / "missing.json"))


def test_a_folder_holding_another_study_is_refused(tmp_path):
    ablation.prepare_folder(tmp_path / "out", _study([], {"base": []}))
    ablation.prepare_folder(tmp_path / "out", _study([], {"base": []}))  # the same study: fine
    with pytest.raises(ablation.StudyError, match="holds a different study"):
        ablation.prepare_folder(tmp_path / "out", _study([], {"base": []}, seeds=3))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ablation.StudyError, match="not empty"):
        ablation.prepare_folder(tmp_path / "other", _study([], {"base": []}))


def _ablate(argv, **kw):
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(ABLATE), *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_entry_reports_bad_input_with_exit_2(tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"base": [], "typo": ["--latent_dimm", "4"]}))
    done = _ablate(["--grid", str(grid), "--max_steps", "2", "--out", str(tmp_path / "out")])
    out, err = done.communicate(timeout=120)
    assert done.returncode == 2 and err.strip().startswith("error: variant 'typo'")
    assert not (tmp_path / "out").exists()


def test_tiny_study_survives_a_kill_and_a_crashing_variant(tmp_path):
    base = tiny_run_argv(tmp_path)
    # the runner owns --checkpoint_dir; tiny_run_argv sets one, so drop that pair
    i = base.index("--checkpoint_dir")
    base = base[:i] + base[i + 2:] + ["--val_interval", "0"]
    grid = tmp_path / "grid.json"
    # frame_skip 50 needs 101 source frames per clip: the 72-frame fixture cannot give one → exit 2
    grid.write_text(json.dumps({"base": [], "learned_prior": ["--prior", "learned"],
                                "crashes": ["--frame_skip", "50"]}))
    out = tmp_path / "study"
    argv = ["--grid", str(grid), "--seeds", "2", "--max_steps", "3", "--out", str(out), "--", *base]
    first = _ablate(argv)
    deadline = time.monotonic() + 240
    results = out / "runs"
    while time.monotonic() < deadline and not list(results.glob("*/seed*/result.json")):
        assert first.poll() is None, first.communicate()[1][-3000:]
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    done_first = {p: p.stat().st_mtime_ns for p in results.glob("*/seed*/result.json")}
    assert 1 <= len(done_first) < 6
    again = _ablate(argv)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr[-3000:]
    rows = {(r["variant"], r["seed"]): r for r in ablation_stats.read_csv(out / "ablation.csv")}
    assert len(rows) == 6
    for path, mtime in done_first.items():  # finished runs were not run again
        assert path.stat().st_mtime_ns == mtime
    for variant in ("base", "learned_prior"):
        for seed in ("0", "1"):
            row = rows[(variant, seed)]
            assert row["status"] == "ok" and int(row["steps"]) == 3
            assert math.isfinite(float(row["pred_psnr"])) and math.isfinite(float(row["delta_vs_base"]))
    assert rows[("crashes", "0")]["status"] == "exit 2" and rows[("crashes", "1")]["exit_code"] == "2"
    assert "| learned_prior | 2 (0) |" in (out / "ablation.md").read_text()
    assert (out / "ablation.png").exists()


def test_theory_preset_runs_end_to_end_with_two_seeds(tmp_path):
    """Every matched control of the theory study trains and validates (tiny sizes, one step, two seeds;
    sixteen training processes, about a minute and a half of CPU, mostly imports)."""
    base = tiny_run_argv(tmp_path)
    i = base.index("--checkpoint_dir")
    base = base[:i] + base[i + 2:] + ["--val_interval", "0", "--lambda_gan", "0", "--demo_num_samples", "0",
                                      "--num_val_samples_to_log", "0", "--val_max_clips", "2"]
    out = tmp_path / "study"
    done = _ablate(["--grid", "theory", "--seeds", "2", "--max_steps", "1", "--jobs", "2", "--out", str(out),
                    "--", *base])
    _, stderr = done.communicate(timeout=900)
    assert done.returncode == 0, stderr[-3000:]
    rows = ablation_stats.read_csv(out / "ablation.csv")
    grid = ablation.load_grid("theory")
    assert {"euclidean_limit", "euclidean_bounded", "plain_mlp", "stacks_off", "gaad_grid", "gaad_random",
            "no_paint"} < set(grid)
    assert sorted((r["variant"], r["seed"]) for r in rows) == sorted((v, s) for v in grid for s in "01")
    for row in rows:
        assert row["status"] == "ok" and math.isfinite(float(row["pred_psnr"])), row
    params = {r["variant"]: float(r["params_gen"]) for r in rows}
    assert params["euclidean_limit"] == params["euclidean_bounded"] == params["default"]  # matched twins
    assert params["stacks_off"] < params["default"]
