"""``bench/bench_flops.py``: its counts and memory estimate on a tiny model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from test_entry import TINY_MODEL
from wubugaad.model import vaegan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_flops  # noqa: E402  (the bench scripts import their siblings from their own folder)

TINY = [*TINY_MODEL, "--image_h", "16", "--image_w", "16", "--num_predict_frames", "2"]


def test_flops_grow_with_the_batch_and_training_counts_the_backward():
    args = bench_flops.model_args("default", TINY)
    torch.manual_seed(0)
    model, disc = vaegan.build(args, pretrained_flow=False)
    one, two = (bench_flops.forward_flops(model, args, batch) for batch in (1, 2))
    assert one > 0 and two == pytest.approx(2 * one, rel=0.01)
    train = bench_flops.training_flops(model, disc, args)
    assert train > 2 * one  # the backward of the forecast and the latent, and D's step, on top
    assert all(p.grad is None for m in (model, disc) for p in m.parameters())
    record = bench_flops.memory_estimate(model, disc, args, batch=4)
    params = sum(p.numel() for m in (model, disc) for p in m.parameters())
    averaged = sum(p.numel() for p in model.parameters())
    assert record["static_mib"] * 2**20 == 4 * (4 * params + averaged)  # all trainable here
    assert 0 < record["activations_bf16_autocast_mib"] < record["activations_fp32_mib"]
    assert record["peak_estimate_fp32_mib"] > record["static_mib"]
