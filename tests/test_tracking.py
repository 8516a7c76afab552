"""Tracking: WandB mode choice, key names, run-folder files, the console line, rank-0 only."""

from __future__ import annotations

import json
import sys
import types
from argparse import Namespace

import pytest
import torch
from wubugaad.train import config, session, tracking, trainer

SECTION_12_SCALARS = (
    "train/loss_recon", "train/loss_kl", "train/loss_g_adv", "train/loss_g_total", "train/loss_d_real",
    "train/loss_d_fake", "train/loss_d_total", "train/lr_gen", "train/lr_disc", "train/lambda_kl_eff",
    "q_ctrl_gen/epsilon", "q_ctrl_gen/lrscale", "q_ctrl_gen/momentumscale", "q_ctrl_gen/avgreward",
    "q_ctrl_gen/qtablesize", "q_ctrl_disc/epsilon", "q_ctrl_disc/lrscale", "q_ctrl_disc/momentumscale",
    "q_ctrl_disc/avgreward", "q_ctrl_disc/qtablesize",
)


class FakeWandb(types.ModuleType):
    """Stands in for the ``wandb`` module: records init kwargs and every logged dict."""

    def __init__(self):
        super().__init__("wandb")
        self.inits, self.logged, self.finished = [], [], False

    def init(self, **kwargs):
        self.inits.append(kwargs)

    def log(self, data, step=None):
        self.logged.append((step, dict(data)))

    def Image(self, array):  # noqa: N802 - mirrors wandb.Image
        return ("image", array.shape)

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    module = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def test_wandb_mode_respects_env_then_login_else_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("NETRC", raising=False)
    assert tracking.wandb_mode({}) == "offline"
    assert tracking.wandb_mode({"WANDB_MODE": "disabled", "WANDB_API_KEY": "x"}) == "disabled"
    assert tracking.wandb_mode({"WANDB_API_KEY": "x"}) == "online"
    (tmp_path / ".netrc").write_text("machine api.wandb.ai login user password secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert tracking.wandb_mode({}) == "online"


def test_scalar_key_constant_holds_the_section_12_names():
    assert set(SECTION_12_SCALARS) <= set(tracking.WANDB_SCALAR_KEYS)
    for metric in ("avg_val_recon_mse", "avg_val_psnr", "avg_val_ssim", "avg_val_lpips", "pred_psnr",
                   "copy_last_psnr"):
        assert f"val/{metric}" in tracking.WANDB_SCALAR_KEYS
    assert len(set(tracking.WANDB_SCALAR_KEYS)) == len(tracking.WANDB_SCALAR_KEYS)


def test_step_line_has_the_v01_layout():
    scalars = {"train/loss_g_total": 1.5, "train/loss_recon": 0.1, "train/loss_kl": 2.0,
               "train/loss_g_adv": 0.7,
               "train/loss_d_total": 0.69, "train/loss_d_real": 0.6, "train/loss_d_fake": 0.8,
               "train/lr_gen": 1e-4, "train/lr_disc": 2e-4, "q_ctrl_gen/epsilon": 0.5,
               "q_ctrl_disc/epsilon": 0.4, "q_ctrl_gen/lrscale": 1.1, "q_ctrl_disc/lrscale": 0.9}
    line = tracking.format_step_line(3, 120, scalars)
    assert line.startswith("E3 S120 | G_tot:1.5000 (Rec:0.1000 KL:2.0000 Adv:0.7000) | D_tot:0.6900 ")
    assert "(Real:0.6000 Fake:0.8000) | LR(G/D):1.0e-04/2.0e-04" in line
    assert line.endswith("Q_Eps(G/D):0.50/0.40 Q_Scl(G/D):1.10/0.90")
    assert "Q_Eps" not in tracking.format_step_line(0, 1, {"train/loss_g_total": float("nan")})
    without_d = {k: v for k, v in scalars.items() if "disc" not in k and "_d_" not in k and "adv" not in k}
    assert tracking.format_step_line(3, 120, without_d) == \
        "E3 S120 | G_tot:1.5000 (Rec:0.1000 KL:2.0000) | D: off | LR(G):1.0e-04"


def test_tracker_writes_run_folder_and_wandb_on_rank0_only(tmp_path, fake_wandb, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    args = Namespace(checkpoint_dir=str(tmp_path / "ckpt"), run_name="phase1", wandb=True,
                     wandb_project="proj", wandb_run_name=None)
    other = tracking.Tracker(args, is_main=False, resolved_config={"a": 1})
    other.log_scalars(1, {"train/loss_kl": 1.0})
    assert not (tmp_path / "ckpt").exists() and not fake_wandb.inits
    t = tracking.Tracker(args, is_main=True, resolved_config={"lambda_kl": 0.1})
    other.write_config({"a": 1})
    t.write_config({"lambda_kl": 0.1})
    assert t.dir == tmp_path / "ckpt" / "phase1"
    assert fake_wandb.inits[0]["mode"] == "offline" and fake_wandb.inits[0]["dir"] == str(t.dir)
    t.log_scalars(5, {"train/loss_kl": torch.tensor(2.5)}, epoch=1)
    t.log_images(5, {"samples/train_recon": torch.rand(3, 8, 8)})
    t.close()
    assert json.loads((t.dir / "config.json").read_text()) == {"lambda_kl": 0.1}
    assert json.loads((t.dir / "metrics.jsonl").read_text()) == {"step": 5, "epoch": 1, "train/loss_kl": 2.5}
    assert fake_wandb.logged[0] == (5, {"train/loss_kl": 2.5})
    assert fake_wandb.logged[1][1]["samples/train_recon"] == ("image", (8, 8, 3))
    assert fake_wandb.finished


def test_training_run_logs_section_12_scalars_to_wandb(tmp_path, fake_wandb, monkeypatch):
    from test_trainer import fake_build, tiny_argv

    monkeypatch.setattr(session.model_lib, "build", fake_build)
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "2", "--wandb", "--q_controller_enabled",
                                       "--log_grad_norm", "--wandb_log_train_recon_interval", "1",
                                       "--wandb_log_fixed_noise_samples_interval", "2"))
    assert trainer.run(args) == 0
    keys = set().union(*(d for _, d in fake_wandb.logged))
    assert set(SECTION_12_SCALARS) <= keys
    assert {"val/avg_val_psnr", "val/pred_psnr", "val/copy_last_psnr", "geometry/wubu_s/level0/curvature",
            "samples/train_recon", "samples/train_context", "samples/train_ground_truth",
            "samples/val_prediction_samples", "samples/fixed_noise_generated"} <= keys
    assert fake_wandb.inits[0]["dir"] == str(tmp_path / "run")
    # the tracking module's lists are the one record of what a run logs
    assert not [k for k in keys if not tracking.is_declared_key(k)]
    assert not tracking.is_declared_key("val/pred_psnr_tX") and not tracking.is_declared_key("train/other")
