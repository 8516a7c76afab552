"""Make a kept old-checkpoint fixture: run INSIDE a checkout of the round to keep (e.g. a `git worktree` of
its last commit), then copy the two files it writes into tests/data/checkpoints/.

    python3 tests/data/make_checkpoint_fixture.py OLD_CHECKOUT OUT.pt

It trains the tiny model of the tests for 2 steps on the test video, then records what that round's own
sampler loader (`wubugaad_sample.load`) predicts on a fixed random clip and flow: `OUT.pt` is the
checkpoint, `OUT.expected.pt` the clip, the flow and the prediction. `tests/test_checkpoint_fixtures.py`
requires today's code to load the checkpoint and predict exactly the same tensor.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

TINY = ["--gaad_num_regions", "3", "--wubu_s_hyperbolic_dims", "8", "--wubu_t_hyperbolic_dims", "8",
        "--encoder_initial_tangent_dim", "8", "--gen_base_channels", "8", "--disc_base_disc_channels", "8",
        "--encoder_shallow_cnn_channels", "8", "--encoder_pixel_patch_size", "4", "--disc_min_hidden_fc_dim",
        "8", "--disc_max_hidden_fc_dim", "16", "--disc_max_disc_channels", "16", "--latent_dim", "8"]


def main(root: Path, out: Path) -> None:
    work = out.parent / f"work-{out.stem}"
    argv = ["--video_data_path", str(root / "tests/data/bbb_excerpt.mp4"), "--validation_video_path",
            str(root / "tests/data/bbb_excerpt_val.mp4"), "--cache_dir", str(work / "cache"),
            "--checkpoint_dir", str(work / "run"), "--image_h", "16", "--image_w", "32", "--num_input_frames",
            "3", "--num_predict_frames", "2", "--batch_size", "2", "--num_workers", "0", "--val_max_clips",
            "2", "--max_steps", "2", "--epochs", "1", "--val_interval", "1000", "--save_interval", "1000",
            "--seed", "5", "--gan_start_step", "0", *TINY]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    subprocess.run([sys.executable, str(root / "draftPY/WuBuGAADHybridGen_v0.1.py"), *argv], check=True,
                   env=env, cwd=out.parent)
    ckpt = work / "run" / "wubugaad_hybridgen_ckpt_v01_last.pt"
    sys.path.insert(0, str(root / "draftPY"))
    spec = importlib.util.spec_from_file_location("old_sampler", root / "draftPY/wubugaad_sample.py")
    sampler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sampler)
    model, _ = sampler.load(str(ckpt), torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    clip = torch.rand(2, 5, 3, 16, 32, generator=g) * 2 - 1
    flow = torch.randn(2, 4, 2, 16, 32, generator=g)
    with torch.no_grad():
        prediction = model(clip, mode="predict", flow=flow).prediction
    shutil.copy(ckpt, out)
    torch.save({"clip": clip, "flow": flow, "prediction": prediction}, out.with_suffix(".expected.pt"))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
