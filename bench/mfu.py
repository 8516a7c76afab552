"""Model FLOPs utilisation of measured training runs: ``bench_train.py`` records joined with
``bench_flops.py`` counts, against the card's dense bf16 peak.

    python3 bench/mfu.py --flops flops.jsonl --bench bench.jsonl          # card name from torch.cuda
    python3 bench/mfu.py --flops flops.jsonl --bench bench.jsonl --peak-tflops 989

MFU = train_gflops_per_clip · clips_per_s / peak. The FLOPs are the counted matrix products and
convolutions of one training micro-batch per clip (``bench_flops.py``: G forward and backward, D's step,
the adversarial term through D) — elementwise work, RAFT's backward (frozen) and the data loader's OpenCV
flow are not in the numerator, so MFU is the share of the card's matrix throughput the model's own
arithmetic used. Both the float32 and the AMP runs are divided by the bf16 peak (the figure to aim at).
One JSON line per bench record; the bench's clock figures (step time, data wait, host syncs) come along.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

# dense bf16 tensor-core peaks in TFLOPS (vendor data sheets, without sparsity); first match of the name wins
BF16_PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("GH200", 989.4), ("H200", 989.4),
                    ("H100", 989.4), ("A100", 312.0), ("L40S", 362.1), ("L40", 181.0), ("L4", 121.0),
                    ("A10", 125.0), ("RTX 4090", 165.2), ("RTX 3090", 71.0))
CARRIED = ("config", "device", "amp", "compile", "batch_size", "clips_per_s", "step_time_median_s",
           "data_wait_fraction", "host_sync_wait_fraction", "host_syncs_per_step")


def peak_for(name: str) -> float | None:
    """The dense bf16 peak of the card called ``name`` (``torch.cuda.get_device_name``), None if unknown."""
    return next((tflops for key, tflops in BF16_PEAK_TFLOPS if key in name), None)


def read_lines(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def mfu_records(flops: list[dict], bench: list[dict], peak_tflops: float | None, card: str) -> list[dict]:
    """One record per timed bench record; the FLOP count is the one of the same configuration without
    its ``-amp`` suffix (AMP changes the arithmetic's precision, not its amount)."""
    counts = {r["config"]: r["train_gflops_per_clip"] for r in flops if "train_gflops_per_clip" in r}
    out = []
    for record in bench:
        row = {"card": card, "peak_bf16_tflops": peak_tflops, **{k: record.get(k) for k in CARRIED}}
        gflops = counts.get(str(record.get("config", "")).removesuffix("-amp"))
        row["train_gflops_per_clip"] = gflops
        if "clips_per_s" not in record or gflops is None:
            row["mfu"] = None
            row["why_none"] = record.get("skipped") or record.get("error") or "no FLOP count or clip rate"
        else:
            row["achieved_tflops"] = gflops * record["clips_per_s"] / 1e3
            row["mfu"] = row["achieved_tflops"] / peak_tflops if peak_tflops else None
            if not peak_tflops:
                row["why_none"] = f"no bf16 peak known for '{card}' (give --peak-tflops)"
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flops", type=Path, required=True, help="bench_flops.py JSON lines")
    p.add_argument("--bench", type=Path, required=True, help="bench_train.py JSON lines")
    p.add_argument("--peak-tflops", type=float, default=None, help="the card's dense bf16 peak (default: "
                   "looked up from the CUDA device's name)")
    opts = p.parse_args(argv)
    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    peak = opts.peak_tflops if opts.peak_tflops is not None else peak_for(card)
    for row in mfu_records(read_lines(opts.flops), read_lines(opts.bench), peak, card):
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
