"""The sampler's generate mode: N futures per context side by side, rollouts beyond the training horizon,
unconditional generation (no context) that still gives distinct videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch
from test_checkpoint_fixtures import sampler
from test_entry import VAL_VIDEO, tiny_run_argv
from wubugaad.model import vaegan as model_lib
from wubugaad.model.flow_reads import flow_reads
from wubugaad.train import checkpoint, config, sampling
from wubugaad.train.checkpoint import checkpoint_name

H, W = 16, 32  # tiny_run_argv's frame size


def _checkpoint(folder: Path, *extra: str) -> Path:
    args = config.parse_args(tiny_run_argv(folder, *extra))
    torch.manual_seed(0)
    model, _ = model_lib.build(args)
    payload = checkpoint.build_payload(model, None, None, None, None, None, 1, 0, None,
                                       config.resolved_config(args))
    return checkpoint.save_checkpoint(folder / checkpoint_name("last"), payload)


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("cond"))


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("uncond"), "--num_input_frames", "0", "--generator_type",
                       "global")


def _run(ckpt: Path, out: Path, *extra: str) -> int:
    return sampler().main(["--checkpoint", str(ckpt), "--output_dir", str(out), "--device", "cpu",
                           "--format", "png", *extra])


def test_generate_writes_truth_and_n_sample_rows_per_context_beyond_the_horizon(tmp_path, conditional):
    code = _run(conditional, tmp_path, "--mode", "generate", "--video", str(VAL_VIDEO), "--num_clips", "2",
                "--num_samples", "3", "--num_frames", "3")  # the model predicts 1 frame: 3 is a rollout
    assert code == 0
    grid = cv2.imread(str(tmp_path / "generate_grid.png"))
    rows, cols = 2 * (1 + 3), 2 + 3  # per context: truth + 3 samples; 2 context + 3 future frames
    assert grid.shape[:2] == (rows * (H + 2) + 2, sampling.LABEL_WIDTH + cols * (W + 2) + 2)
    clip = cv2.imread(str(tmp_path / "generate.png"))  # every frame of the clip in one row
    assert clip.shape[0] == 2 * H + 4 and clip.shape[1] == cols * (4 * W + 2) + 2  # 2 contexts × 4 columns


def test_samples_of_one_context_differ_and_a_seed_repeats_them(conditional):
    model, args = sampler().load(str(conditional), torch.device("cpu"), "unused")
    torch.manual_seed(1)
    with torch.no_grad():  # as initialised, the spatial generator's paths from z start at zero
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    context = torch.rand(2, args.num_input_frames, 3, H, W) * 2 - 1
    flow, method = torch.zeros(2, 1, 2, H, W), flow_reads(args).loader_method  # later chunks measure theirs
    torch.manual_seed(3)
    first = sampling.sample_rows(model, context, flow, 4, 2, args.num_predict_frames, method)
    torch.manual_seed(3)
    again = sampling.sample_rows(model, context, flow, 4, 2, args.num_predict_frames, method)
    assert first.shape == (2, 4, 2, 3, H, W) and torch.equal(first, again)
    assert (first[:, 0] - first[:, 1]).abs().amax() > 0


def test_unconditional_generation_gives_distinct_videos(tmp_path, unconditional):
    model, args = sampler().load(str(unconditional), torch.device("cpu"), "unused")
    assert args.num_input_frames == 0
    torch.manual_seed(0)
    videos = sampling.sample_rows(model, torch.zeros(1, 0, 3, H, W), None, 3, args.num_predict_frames,
                                  args.num_predict_frames, None)[0]  # (3, P, C, H, W)
    flat = videos.flatten(1)
    assert all((flat[i] - flat[j]).abs().amax() > 0 for i in range(3) for j in range(i + 1, 3))
    assert _run(unconditional, tmp_path, "--mode", "generate", "--num_samples", "3") == 0  # no --video
    grid = cv2.imread(str(tmp_path / "generate_grid.png"))
    assert grid.shape[0] == 3 * (H + 2) + 2  # three sample rows, no truth row


def test_unconditional_rollout_beyond_the_horizon_is_refused(tmp_path, unconditional, capsys):
    assert _run(unconditional, tmp_path, "--mode", "generate", "--num_frames", "5") == 2
    assert "--num_frames 5" in capsys.readouterr().err


def test_predict_rolls_out_beyond_the_horizon(tmp_path, conditional):
    assert _run(conditional, tmp_path, "--mode", "predict", "--video", str(VAL_VIDEO), "--num_clips", "2",
                "--num_frames", "3") == 0
    grid = cv2.imread(str(tmp_path / "predict_grid.png"))
    assert grid.shape[:2] == (2 * (H + 2) + 2, (2 + 3 + 3) * (W + 2) + 2)  # context | truth | rollout
