"""The theory study's tables (bench/theory_tables.py): baselines as rows, paired effects, costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wubugaad.study import stats

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _study(folder: Path) -> None:
    rows = []
    for seed, base_gain in enumerate((1.0, 1.2, 1.1)):
        for variant, shift in (("default", 0.0), ("euclidean_limit", -0.3)):
            gain = base_gain + shift + 0.01 * seed
            rows.append({"variant": variant, "seed": seed, "status": "ok", "steps": 300, "s_per_step": 0.5,
                         "pred_psnr": 14.0 + gain, "copy_last_psnr": 11.0 + 0.1 * seed,
                         "flow_extrap_psnr": 14.0, "learned_gain_db": gain})
    folder.mkdir()
    stats.write_csv(folder / "ablation.csv", rows)


def test_tables_carry_both_baselines_the_paired_effect_and_the_costs(tmp_path):
    _study(tmp_path / "study")
    flops = tmp_path / "flops.jsonl"
    flops.write_text(json.dumps({"variant": "default", "parameters_g": 2_295_379,
                                 "forward_gflops_per_frame": 0.0347}) + "\n")
    done = subprocess.run([sys.executable, str(BENCH / "theory_tables.py"), f"MFMNIST={tmp_path / 'study'}",
                           "--flops", str(flops)], capture_output=True, text=True, check=True)
    lines = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if line.startswith("| ")}
    assert "| 11.10 |" in lines["copy-last (baseline)"]  # the mean over the default's seeds
    assert "| 14.00 |" in lines["flow extrapolation (baseline)"]
    assert "2.295 M" in lines["default"] and "0.0347" in lines["default"]
    assert "-0.30 [-0.30, -0.30]" in lines["euclidean_limit"] and "hurts" in lines["euclidean_limit"]


def test_a_folder_without_a_finished_study_is_refused_with_the_fix(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH / "theory_tables.py"), f"X={tmp_path}"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "ablation.csv" in done.stderr
