"""Inputs that used to end the process natively (a segmentation fault, exit 139, no message): OpenCV's DIS
flow on short frames, and non-finite flow reaching ``grid_sample``'s backward. Each case runs in a
subprocess, so a crash fails the test instead of killing the test run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from test_entry import ENTRY, ROOT, run_script, tiny_run_argv
from test_reliability import one_error_line
from wubugaad.model import vaegan as model_lib
from wubugaad.train import checkpoint, config, exits
from wubugaad.train.checkpoint import checkpoint_name

DRAFT_PY = ROOT / "draftPY"


def _python(code: str) -> subprocess.CompletedProcess:
    prelude = f"import sys\nsys.path.insert(0, {str(DRAFT_PY)!r})\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


def test_dis_flow_on_frames_under_32_px_high_is_computed_not_a_crash():
    # sizes that crashed OpenCV (24 × 256, 28 × 256 from Moving Fashion-MNIST at 28 px, 30 × 200, 31 × 128)
    # or that it refused (8 × 8), and one it always handled
    code = ("import numpy as np\nfrom wubugaad.data.flow import opencv_flow\n"
            "for h, w in ((24, 256), (28, 256), (30, 200), (31, 128), (14, 320), (8, 8), (64, 64)):\n"
            "    frames = (np.random.default_rng(h * w).random((3, h, w, 3)) * 255).astype(np.uint8)\n"
            "    flow = opencv_flow(frames, 'dis')\n"
            "    assert flow.shape == (2, 2, h, w) and np.isfinite(flow).all(), (h, w)\n"
            "print('ok')\n")
    done = _python(code)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])


def test_dis_flow_of_a_short_frame_still_follows_the_motion():
    # the padding must not turn the estimate into noise: a 24 × 256 texture moving 2 px right per frame
    code = ("import cv2, numpy as np\nfrom wubugaad.data.flow import opencv_flow\n"
            "tex = (np.random.default_rng(0).random((24, 300, 3)) * 255).astype(np.uint8)\n"
            "tex = cv2.normalize(cv2.GaussianBlur(tex, (0, 0), 1.5), None, 0, 255, cv2.NORM_MINMAX)\n"
            "frames = np.stack([tex[:, 20 - 2 * t: 276 - 2 * t] for t in range(3)])\n"
            "inner = opencv_flow(np.ascontiguousarray(frames), 'dis')[:, :, 4:-4, 16:-16]\n"
            "print(np.median(inner[:, 0]), np.median(inner[:, 1]))\n")
    done = _python(code)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    dx, dy = map(float, done.stdout.split())
    assert abs(dx - 2) < 0.5 and abs(dy) < 0.5


def test_training_on_24_by_256_frames_runs(tmp_path):
    done = run_script(ENTRY, tiny_run_argv(tmp_path, "--max_steps", "1", "--image_h", "24", "--image_w",
                                           "256", "--val_max_clips", "2"), tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])


def test_warp_of_nonfinite_flow_has_a_backward_and_a_nonfinite_output_there():
    code = ("import torch\nfrom wubugaad.geometry.warp import warp\n"
            "frames = torch.rand(2, 3, 8, 16, requires_grad=True)\n"
            "flow = torch.zeros(2, 2, 8, 16)\n"
            "flow[0, 0, 3, 5] = float('nan')\nflow[1, 1, 2, 2] = float('inf')\n"
            "flow.requires_grad_()\nout = warp(frames, flow)\n(out ** 2).sum().backward()\n"
            "bad = ~torch.isfinite(out).all(dim=1)\n"
            "assert bad.nonzero().tolist() == [[0, 3, 5], [1, 2, 2]], bad.nonzero().tolist()\n"
            "assert torch.equal(out[~bad.unsqueeze(1).expand_as(out)], "
            "frames.detach()[~bad.unsqueeze(1).expand_as(out)])\n"
            "assert not torch.isfinite(flow.grad).all()\nprint('ok')\n")
    done = _python(code)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])


def test_a_nan_weight_in_a_resumed_checkpoint_ends_with_the_nonfinite_exit_code(tmp_path):
    # the spatial generator warps by its flow: a NaN weight makes the flow NaN; the steps are skipped and
    # counted, and the run stops with exit 4, not a segmentation fault in grid_sample's backward
    args = config.parse_args(tiny_run_argv(tmp_path))
    model, _ = model_lib.build(args)
    payload = checkpoint.build_payload(model, None, None, None, None, None, 1, 0, None,
                                       config.resolved_config(args))
    key = next(k for k, v in payload["model"].items() if k.startswith("generator.") and v.is_floating_point()
               and v.dim() > 1)
    payload["model"][key].view(-1)[0] = float("nan")
    poisoned = checkpoint.save_checkpoint(tmp_path / "poisoned" / checkpoint_name("last"), payload)
    argv = tiny_run_argv(tmp_path, "--max_steps", "4", "--max_consecutive_nonfinite", "2",
                         "--load_checkpoint", str(poisoned), "--val_interval", "100")
    done = run_script(ENTRY, argv, tmp_path)
    assert done.returncode == exits.NONFINITE, (done.returncode, done.stderr[-3000:])
    assert "--max_consecutive_nonfinite 2" in one_error_line(done)
    assert not (Path(tmp_path) / "run" / checkpoint_name("last")).exists()  # NaN weights are never saved
    assert torch.isnan(checkpoint.load_checkpoint(poisoned)["model"][key]).any()
