"""HAKMEM Q-controller: actions, ε schedule, update rule, reward terms, states, pruning, plain-data state."""

import json
import math

import pytest
from wubugaad.optim import qrewards
from wubugaad.optim.qcontrol import (
    LR_SCALE_OPTIONS,
    MOMENTUM_SCALE_OPTIONS,
    HAKMEMQController,
    level_bin,
    trend_bin,
)

PREV = {"loss_g_total": 2.0, "loss_g_recon": 1.0, "loss_g_kl": 5.0, "loss_g_adv": 0.8, "loss_d_total": 0.5,
        "loss_d_real": 0.4, "loss_d_fake": 0.6}
CUR = {"loss_g_total": 2.05, "loss_g_recon": 0.9, "loss_g_kl": 150.0, "loss_g_adv": 1.0, "loss_d_total": 0.5,
       "loss_d_real": 0.2, "loss_d_fake": 0.1}


def _losses(i: int) -> dict[str, float]:
    """A deterministic, varied loss stream (so states, rewards and actions all move)."""
    return {
        "loss_g_total": 2.0 + math.sin(i), "loss_g_recon": 0.5 + 0.3 * math.cos(0.7 * i),
        "loss_g_kl": 80.0 + 40.0 * math.sin(0.3 * i), "loss_g_adv": 0.7 + 0.5 * math.sin(1.3 * i),
        "loss_d_total": 0.6 + 0.3 * math.cos(i), "loss_d_real": 0.3 + 0.2 * math.sin(0.5 * i),
        "loss_d_fake": 0.4 + 0.3 * math.cos(0.9 * i),
    }


def test_action_sets():
    assert LR_SCALE_OPTIONS == (0.8, 0.9, 1.0, 1.1, 1.2)
    assert MOMENTUM_SCALE_OPTIONS == (0.95, 0.98, 1.0, 1.01, 1.02)
    ctrl = HAKMEMQController(role="gen", seed=0)
    assert ctrl.options("lr") == list(LR_SCALE_OPTIONS)
    assert ctrl.options("momentum") == list(MOMENTUM_SCALE_OPTIONS)
    seen_lr, seen_mom = set(), set()
    for i in range(200):
        lr_scale, mom_scale = ctrl.observe(_losses(i))
        assert (lr_scale, mom_scale) == (ctrl.current_lr_scale, ctrl.current_momentum_scale)
        seen_lr.add(lr_scale)
        seen_mom.add(mom_scale)
    assert seen_lr == set(LR_SCALE_OPTIONS) and seen_mom == set(MOMENTUM_SCALE_OPTIONS)


def test_epsilon_schedule():
    ctrl = HAKMEMQController(seed=0)
    assert ctrl.epsilon == 0.5
    ctrl.choose_action((2, 2, 2, 0, 1, 2))
    assert ctrl.epsilon == pytest.approx(0.49975, rel=1e-12)  # 0.5 · 0.9995
    for _ in range(9):
        ctrl.choose_action((2, 2, 2, 0, 1, 2))
    assert ctrl.epsilon == pytest.approx(0.4975056175065589, rel=1e-12)  # 0.5 · 0.9995^10
    for _ in range(4580):  # 0.5 · 0.9995^k < 0.05 once k > ln(0.1)/ln(0.9995) ≈ 4604.0
        ctrl.choose_action((2, 2, 2, 0, 1, 2))
    assert ctrl.epsilon == pytest.approx(0.5 * 0.9995**4590, rel=1e-9) and ctrl.epsilon > 0.05
    for _ in range(20):
        ctrl.choose_action((2, 2, 2, 0, 1, 2))
    assert ctrl.epsilon == 0.05


def test_epsilon_phase_bins():
    ctrl = HAKMEMQController(epsilon=0.3, epsilon_min=0.05)
    assert ctrl.epsilon_phase() == 2
    ctrl.epsilon = 0.2
    assert ctrl.epsilon_phase() == 1
    ctrl.epsilon = 0.05
    assert ctrl.epsilon_phase() == 0


def test_update_rule_hand_computed():
    ctrl = HAKMEMQController(seed=0)
    s1, s2, s3 = (0, 0, 0, 0, 0, 2), (1, 1, 1, 1, 1, 2), (4, 4, 4, 2, 3, 2)
    assert ctrl.update_q(s2, {"lr": 0, "momentum": 3}, 1.0, s3) == 1.0
    assert ctrl.q_values(s2)["lr"] == [0.01, 0.0, 0.0, 0.0, 0.0]  # 0.01 · (1 + 0.9 · 0 − 0)
    assert ctrl.q_values(s2)["momentum"] == [0.0, 0.0, 0.0, 0.01, 0.0]
    ctrl.update_q(s1, {"lr": 2, "momentum": 4}, 0.5, s2)
    assert ctrl.q_values(s1)["lr"][2] == pytest.approx(0.00509, abs=1e-15)  # 0.01 · (0.5 + 0.9 · 0.01)
    assert ctrl.q_values(s1)["momentum"][4] == pytest.approx(0.00509, abs=1e-15)
    ctrl.update_q(s1, {"lr": 2, "momentum": 4}, 0.0, s1)  # bootstraps from its own row: max Q(s1) = 0.00509
    assert ctrl.q_values(s1)["lr"][2] == pytest.approx(0.00509 + 0.01 * (0.9 * 0.00509 - 0.00509), abs=1e-15)


def test_reward_and_q_clipping():
    ctrl = HAKMEMQController(seed=0)
    assert ctrl.update_q((0,), {"lr": 1, "momentum": 1}, 10.0, (1,)) == 2.0  # reward clipped to +2
    assert ctrl.q_values((0,))["lr"][1] == pytest.approx(0.02)
    assert ctrl.update_q((0,), {"lr": 0, "momentum": 0}, -7.0, (1,)) == -2.0
    tight = HAKMEMQController(q_clip=0.015, seed=0)
    tight.update_q((0,), {"lr": 1, "momentum": 1}, 2.0, (1,))
    assert tight.q_values((0,))["lr"][1] == 0.015  # 0.02 clipped to q_clip


def test_generator_reward_terms_hand_computed():
    terms = qrewards.generator_terms(PREV, CUR, kl_problem=2)
    assert terms["recon"] == pytest.approx(1.1552928931500244, rel=1e-7)  # 2.5 · tanh(5 · 0.1)
    assert terms["adv"] == pytest.approx(-1.0179403679490153, rel=1e-7)  # 1.2 · tanh(−5 · 0.25)
    assert terms["stability"] == 0.1  # |2.05 − 2| / 2 = 0.025 ≤ 0.05
    assert terms["kl"] == -0.3
    assert terms["balance"] == 0.2  # 0.4 < 0.5 < 0.75
    assert qrewards.generator_terms(PREV, CUR, kl_problem=1)["kl"] == 0.0
    for d_total, balance in ((0.3, -0.3), (0.1, -0.3), (0.35, 0.0), (0.75, 0.0), (0.9, 0.0)):
        assert qrewards.generator_terms(PREV, dict(CUR, loss_d_total=d_total), 0)["balance"] == balance
    assert qrewards.generator_terms(PREV, dict(CUR, loss_g_total=2.2), 0)["stability"] == 0.0  # 10 % move


def test_discriminator_reward_terms_hand_computed():
    terms = qrewards.discriminator_terms(PREV, CUR)
    assert terms == {"balance": 0.2, "real": 0.15, "fake": 0.15, "fooled": 0.0, "stability": 0.1}
    for d_total, balance in ((0.29, -0.25), (0.81, -0.25), (0.35, 0.0), (0.7, 0.0), (0.64, 0.2)):
        assert qrewards.discriminator_terms(PREV, dict(CUR, loss_d_total=d_total))["balance"] == balance
    assert qrewards.discriminator_terms(PREV, dict(CUR, loss_d_real=0.5))["real"] == 0.0
    assert qrewards.discriminator_terms(PREV, dict(CUR, loss_d_fake=0.01))["fake"] == 0.0  # too easy
    assert qrewards.discriminator_terms(PREV, dict(CUR, loss_d_fake=0.5))["fake"] == 0.0
    assert qrewards.discriminator_terms(PREV, dict(CUR, loss_g_adv=0.1))["fooled"] == -0.3


def test_shared_reward_terms():
    assert qrewards.oscillation_penalty([1.0, -1.0, 1.0, -1.0]) == -0.1  # 3 flips
    assert qrewards.oscillation_penalty([1.0, -1.0, 1.0, 1.0, 1.0]) == 0.0  # 2 flips
    assert qrewards.oscillation_penalty([0.0, 1.0, 0.0, -1.0, 0.0]) == 0.0  # zeros never flip
    assert qrewards.oscillation_penalty([5.0, 1.0, -1.0, 1.0, -1.0, 1.0]) == -0.1  # last 5 only
    assert qrewards.huge_loss_penalty({"a": 1.0, "b": -2e3}) == -1.0
    assert qrewards.huge_loss_penalty({"a": 999.0}) == 0.0
    assert qrewards.improvement(2.0, 2.0) == 0.0


def test_trend_and_level_binning():
    # median 1.0; values chosen to be exact in binary so the edges are tested exactly.
    assert [trend_bin([1.0, 1.0, 1.0], x) for x in (0.75, 0.875, 0.984375, 1.0, 1.015625, 1.125, 1.25)] == [
        0, 1, 2, 2, 2, 3, 4,
    ]
    assert trend_bin([], 5.0) == 2
    assert trend_bin([1.0, 3.0], 2.0) == 2  # even length: median 2
    assert trend_bin([10.0, 1.0, 1.0, 1.0, 9.0], 1.0) == 2  # median, not mean
    assert [level_bin(x, (0.3, 0.6, 1.0)) for x in (0.0, 0.29, 0.3, 0.7, 1.0, 5.0)] == [0, 0, 1, 2, 3, 3]


def test_states_from_losses():
    gen = HAKMEMQController(role="gen", seed=0)
    assert gen.state_from_losses(PREV) == (2, 2, 2, 0, 2, 2)  # empty histories; adv 0.8 → level 2
    gen.observe(PREV)
    assert gen.state_from_losses(CUR) == (3, 2, 1, 2, 3, 2)  # +2.5 %, flat, −10 %, KL 150 & recon 0.9
    assert gen.kl_problem(150.0, 0.05) == 1 and gen.kl_problem(50.0, 0.9) == 0
    disc = HAKMEMQController(role="disc", seed=0)
    # D_total 0.5 → 1; ratio 0.6/0.4 = 1.5 → 2; G_adv 0.8 → 2.
    assert disc.state_from_losses(PREV) == (2, 2, 1, 2, 2, 2)
    disc.observe(PREV)
    assert disc.state_from_losses(CUR) == (2, 3, 1, 0, 2, 2)  # G_total +2.5 %; ratio 0.1/0.2 = 0.5 → 0


def test_reward_credited_to_previous_state_and_action():
    ctrl = HAKMEMQController(role="gen", seed=0)
    ctrl.observe(PREV)
    s1, a1 = ctrl.prev_state, dict(ctrl.prev_action)
    ctrl.observe(CUR)
    reward = 1.1552928931500244 - 1.0179403679490153 + 0.1 - 0.3 + 0.2  # terms of the test above
    assert sum(ctrl.last_reward_terms.values()) == pytest.approx(reward, rel=1e-6)
    assert ctrl.q_values(s1)["lr"][a1["lr"]] == pytest.approx(0.01 * reward, rel=1e-6)  # Q(s2) still 0
    assert ctrl.q_values(s1)["momentum"][a1["momentum"]] == pytest.approx(0.01 * reward, rel=1e-6)
    assert ctrl.average_reward() == pytest.approx(reward, rel=1e-6)
    assert ctrl.prev_state == (3, 2, 1, 2, 3, 2)


def test_nonfinite_losses_penalised_without_touching_histories():
    ctrl = HAKMEMQController(role="disc", seed=0)
    assert ctrl.observe(dict(PREV, loss_d_total=float("nan"))) == (1.0, 1.0)  # nothing to credit yet
    ctrl.observe(PREV)
    s1, a1 = ctrl.prev_state, dict(ctrl.prev_action)
    histories = {k: list(v) for k, v in ctrl.histories.items()}
    ctrl.observe(dict(PREV, loss_d_real=float("inf")))
    assert {k: list(v) for k, v in ctrl.histories.items()} == histories
    assert ctrl.q_values(s1)["lr"][a1["lr"]] == pytest.approx(-0.02)  # 0.01 · (−2 + 0.9 · 0 − 0)
    assert ctrl.prev_state == s1


def test_huge_loss_penalised_in_reward():
    ctrl = HAKMEMQController(role="gen", seed=0)
    ctrl.observe(PREV)
    ctrl.observe(dict(PREV, loss_g_kl=5e3))
    assert ctrl.last_reward_terms["huge"] == -1.0


def test_missing_keys_and_bad_config_raise():
    with pytest.raises(ValueError, match="loss_d_fake"):
        HAKMEMQController(role="disc").observe({k: v for k, v in PREV.items() if k != "loss_d_fake"})
    with pytest.raises(ValueError, match="role"):
        HAKMEMQController(role="critic")
    with pytest.raises(ValueError, match="epsilon"):
        HAKMEMQController(epsilon=0.01, epsilon_min=0.05)


def test_pruning_keeps_table_bounded_and_spares_frequent_states():
    ctrl = HAKMEMQController(max_q_table_size=10, seed=0)
    frequent = (9, 9, 9, 9, 9, 9)
    for _ in range(5):
        ctrl.choose_action(frequent)
    for i in range(30):
        ctrl.choose_action((i, 0, 0, 0, 0, 0))
        assert ctrl.q_table_size() <= 10
    assert frequent in ctrl.q_table  # most visits
    assert (29, 0, 0, 0, 0, 0) in ctrl.q_table  # just visited
    assert (0, 0, 0, 0, 0, 0) not in ctrl.q_table  # one visit, least recent


@pytest.mark.parametrize("role", ["gen", "disc"])
def test_plain_data_round_trip_gives_same_next_actions(role):
    ctrl = HAKMEMQController(role=role, seed=11)
    for i in range(40):
        ctrl.observe(_losses(i))
    text = json.dumps(ctrl.state_dict(), allow_nan=False)
    restored = HAKMEMQController(role=role, seed=12345)
    restored.load_state_dict(json.loads(text))
    assert restored.state_dict() == json.loads(text)
    for i in range(40, 100):
        assert ctrl.observe(_losses(i)) == restored.observe(_losses(i))
    assert ctrl.state_dict() == restored.state_dict()
    assert ctrl.average_reward() == restored.average_reward() and ctrl.epsilon == restored.epsilon


def test_load_rejects_other_role():
    state = HAKMEMQController(role="gen").state_dict()
    with pytest.raises(ValueError, match="role"):
        HAKMEMQController(role="disc").load_state_dict(state)


def test_the_watched_loss_keys_come_from_the_one_list():
    from wubugaad.loss_names import LOSS_KEYS, pick
    from wubugaad.optim.qcontrol import DISC_KEYS, GEN_KEYS
    assert set(GEN_KEYS) <= set(LOSS_KEYS) and set(DISC_KEYS) <= set(LOSS_KEYS)
    with pytest.raises(KeyError, match="loss_g_l2"):
        pick("loss_g_total", "loss_g_l2")
