"""Checkpoints written by earlier rounds (kept fixtures, tests/data/README.md) load into today's code,
predict what they predicted then (to float32 rounding), and resume with every state restored; ``upgrade``
owns the old layouts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from wubugaad.train import checkpoint
from wubugaad.train.upgrade import upgrade, upgrade_config

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "checkpoints"
ROUNDS = ("round7_tiny", "round8_tiny")


def sampler():
    path = ROOT / "draftPY" / "wubugaad_sample.py"
    spec = importlib.util.spec_from_file_location("sampler_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A convolution's sums are ordered by the thread count and by the CPU's vector kernels (AVX2 and AVX-512
# machines differ by ~2e-6 on these fixtures, recorded at one thread on an AMD EPYC), so the prediction is
# compared to rounding, not bit for bit; a weight loaded into the wrong place or a changed wiring moves it
# by orders of magnitude more.
PREDICTION_ATOL = 1e-5


@pytest.fixture
def one_thread():
    """The fixtures' predictions were recorded with one thread: the closest to their summation order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", ROUNDS)
def test_an_old_rounds_checkpoint_predicts_what_it_predicted_then(name, one_thread):
    model, _ = sampler().load(str(FIXTURES / f"{name}.pt"), torch.device("cpu"))
    expected = torch.load(FIXTURES / f"{name}.expected.pt", weights_only=True)
    with torch.no_grad():
        prediction = model(expected["clip"], mode="predict", flow=expected["flow"]).prediction
    torch.testing.assert_close(prediction, expected["prediction"], rtol=0.0, atol=PREDICTION_ATOL)


@pytest.mark.parametrize("name", ROUNDS)
def test_an_old_rounds_checkpoint_resumes_with_every_state(name, tmp_path):
    from test_entry import ENTRY, TINY_MODEL, run_script
    payload = checkpoint.load_checkpoint(FIXTURES / f"{name}.pt")
    argv = ["--video_data_path", str(ROOT / "tests/data/bbb_excerpt.mp4"), "--validation_video_path",
            str(ROOT / "tests/data/bbb_excerpt_val.mp4"), "--cache_dir", str(tmp_path / "cache"),
            "--checkpoint_dir", str(tmp_path / "run"), "--image_h", "16", "--image_w", "32",
            "--num_input_frames", "3", "--num_predict_frames", "2", "--batch_size", "2", "--num_workers", "0",
            "--val_max_clips", "2", "--max_steps", str(payload["step"] + 1), "--epochs", "2",
            "--val_interval", "1000", "--save_interval", "1000", "--seed", "5", "--gan_start_step", "0",
            "--load_checkpoint", str(FIXTURES / f"{name}.pt"), *TINY_MODEL,
            # the architecture those rounds trained (on by default since): the checkpoint's head
            "--no_gen_flow_confidence", "--no_gen_extrapolate", "--no_gen_copy_blend",
            # and their spatial latent (off by default since the per-frame latent came; that latent's
            # heads, which they predate, join at their init through upgrade())
            "--latent_map_channels", "8"]
    done = run_script(ENTRY, argv, tmp_path)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-2000:]
    assert "partial load" not in said and "start fresh" not in said
    # the generator's parameters changed with the per-frame latent (the clip-level posterior head went,
    # the per-frame heads came, at their init): the model loads exactly, but the generator's optimizer
    # state, kept per parameter, cannot be mapped onto the new set and starts fresh; every other state
    # resumes
    fresh = [line for line in said.splitlines() if "starts fresh" in line]
    assert all(line.startswith("opt_g:") for line in fresh), fresh


def test_upgrade_leaves_todays_payload_as_it_is_and_fills_in_old_layouts():
    today = checkpoint.load_checkpoint(FIXTURES / "round8_tiny.pt")
    again = upgrade(today)
    assert again.keys() == today.keys() and again["config"] == today["config"]
    kindless = {k: v for k, v in today["opt_g"].items() if k != "kind"}
    old = {**today, "q_controller_g": None, "opt_g": {**kindless, "q_controller": {"role": "gen"}}}
    up = upgrade(old)
    assert up["opt_g"]["kind"] == "risgd" and "q_controller" not in up["opt_g"]
    assert up["q_controller_g"] == {"role": "gen"}
    assert "q_controller" in old["opt_g"]  # the input is left as it is


@pytest.mark.parametrize("missing, expected", [
    ("generator_type", {"generator_type": "global"}),
    ("gen_flow_prior", {"gen_flow_prior": "none", "gen_extrapolate": False}),
    ("gen_synthesis", {"gen_synthesis": True}),
    ("latent_map_channels", {"latent_map_channels": 0}),
    ("gen_rollout", {"gen_rollout": False}),
])
def test_each_setting_that_changed_meaning_is_made_explicit(missing, expected):
    config = checkpoint.load_checkpoint(FIXTURES / "round8_tiny.pt")["config"]
    old = {k: v for k, v in config.items() if k != missing}
    up = upgrade_config(old)
    assert {k: up[k] for k in expected} == expected
