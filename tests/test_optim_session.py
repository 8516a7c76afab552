"""The optimizers inside a training session: Q-controllers beside the optimizers, old checkpoints."""

from __future__ import annotations

import pytest
import torch
from test_trainer import fake_build, tiny_argv
from wubugaad.train import config, session, trainer
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint, save_checkpoint


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(session.model_lib, "build", fake_build)


def test_q_controller_state_is_stored_once_and_old_layout_still_loads(tmp_path, fake):
    run = tmp_path / "run"
    argv = tiny_argv(tmp_path, "--max_steps", "3", "--q_controller_enabled", "--optimizer", "risgd")
    assert trainer.run(config.parse_args(argv)) == 0
    path = run / checkpoint_name("last")
    payload = load_checkpoint(path)
    assert payload["q_controller_g"]["role"] == "gen" and payload["q_controller_d"]["role"] == "disc"
    assert "q_controller" not in payload["opt_g"] and "q_controller" not in payload["opt_d"]
    # the layout written while the controller lived inside the optimizer
    old = dict(payload)
    for short in ("g", "d"):
        old[f"opt_{short}"] = {k: v for k, v in payload[f"opt_{short}"].items() if k != "kind"}
        old[f"opt_{short}"]["q_controller"] = old.pop(f"q_controller_{short}")
    old_path = tmp_path / "old" / checkpoint_name("last")
    save_checkpoint(old_path, old)
    args = config.parse_args(tiny_argv(tmp_path, "--checkpoint_dir", str(tmp_path / "resumed"), "--max_steps",
                                       "4", "--q_controller_enabled", "--optimizer", "risgd",
                                       "--load_checkpoint", str(old_path)))
    s = session.setup(args)
    assert s.q_g.state_dict() == payload["q_controller_g"] and s.q_d.state_dict() == payload["q_controller_d"]
    for opt, key in ((s.opt_g, "opt_g"), (s.opt_d, "opt_d")):
        saved = payload[key]["state"]
        assert len(opt.state) == len(saved) > 0
        for p_state, saved_state in zip(opt.state.values(), saved.values(), strict=True):
            assert torch.equal(p_state["momentum_buffer"], saved_state["momentum_buffer"])
    assert trainer.train(s) == 0


def test_switching_the_optimizer_between_phases_starts_its_state_fresh(tmp_path, fake, capsys):
    run = tmp_path / "run"
    first = tiny_argv(tmp_path, "--max_steps", "2", "--optimizer", "risgd")
    assert trainer.run(config.parse_args(first)) == 0
    argv = tiny_argv(tmp_path, "--max_steps", "3", "--optimizer", "riemannian_adam", "--load_checkpoint",
                     str(run / checkpoint_name("last")))
    assert trainer.run(config.parse_args(argv)) == 0
    out = capsys.readouterr().out
    assert "opt_g: saved optimizer state is for 'risgd'" in out and "starts fresh" in out
    assert load_checkpoint(run / checkpoint_name("last"))["opt_g"]["kind"] == "riemannian_adam"
