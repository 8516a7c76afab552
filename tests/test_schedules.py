"""Learning-rate schedules: values, composition with the Q-controller's scale, exact resume."""

from __future__ import annotations

import math

import pytest
from test_trainer import _assert_resume_equivalent, read_metrics, tiny_argv
from wubugaad.optim import schedules
from wubugaad.optim.schedules import Schedule, lr_factor
from wubugaad.train import config, session, trainer


def test_constant_with_warmup():
    assert [lr_factor("constant", k, 10, 4) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_factor("constant", 0, 10) == 1.0


def test_cosine_warms_up_then_falls_to_zero_at_the_horizon():
    values = [lr_factor("cosine", k, 102, 2) for k in range(110)]
    assert values[:3] == [0.5, 1.0, 1.0]
    assert values[52] == pytest.approx(0.5)  # half way through the cosine part
    assert all(a >= b for a, b in zip(values[2:], values[3:], strict=False))
    assert values[102:] == [0.0] * 8


def test_onecycle_rises_from_a_25th_and_anneals_to_almost_nothing():
    total = 100
    values = [lr_factor("onecycle", k, total) for k in range(total + 1)]
    assert values[0] == pytest.approx(schedules.ONECYCLE_START) and max(values) == values[30] == 1.0
    assert values[15] == pytest.approx(schedules.ONECYCLE_START + (1 - schedules.ONECYCLE_START) / 2)
    assert values[total] == pytest.approx(schedules.ONECYCLE_END)
    assert lr_factor("onecycle", 10, total, warmup_steps=10) == 1.0  # an explicit rise length


def test_schedule_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown"):
        Schedule("linear")
    with pytest.raises(ValueError, match="total_steps"):
        Schedule("cosine", 0)
    assert math.isclose(Schedule("cosine", 10, 0)(5), lr_factor("cosine", 5, 10))


@pytest.fixture
def fake(monkeypatch):
    from test_trainer import fake_build
    monkeypatch.setattr(session.model_lib, "build", fake_build)


def test_logged_lr_is_base_times_schedule_times_q_scale(tmp_path, fake):
    argv = tiny_argv(tmp_path, "--max_steps", "6", "--lr_schedule", "cosine", "--lr_warmup_steps", "2",
                     "--q_controller_enabled")
    assert trainer.run(config.parse_args(argv)) == 0
    records = [r for r in read_metrics(tmp_path / "run") if "train/lr_gen" in r]
    assert [r["step"] for r in records] == list(range(1, 7))
    assert records[0]["train/lr_gen"] == pytest.approx(0.05 * 0.5)  # step index 0: half the warm-up
    # the step just taken has index step - 1; the scale the controller chose after step k is used at k + 1
    for before, after in zip(records, records[1:], strict=False):
        factor = lr_factor("cosine", after["step"] - 1, 6, 2)
        assert after["train/lr_gen"] == pytest.approx(0.05 * factor * before["q_ctrl_gen/lrscale"])
        assert after["train/lr_disc"] == pytest.approx(0.05 * factor * before["q_ctrl_disc/lrscale"])


def test_resume_with_a_schedule_is_exactly_equivalent(tmp_path, fake):
    # the horizon must not depend on where the first half stops
    _assert_resume_equivalent(tmp_path, ("--lr_schedule", "onecycle", "--lr_schedule_steps", "8",
                                         "--optimizer", "riemannian_adam", "--q_controller_enabled"), steps=4)
