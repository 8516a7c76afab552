"""Reward terms of the HAKMEM Q-controller, as pure functions of host floats.

The controller (`wubugaad.optim.qcontrol`) calls these once per macro-batch with the previous and current
averaged losses. Each function returns its terms in a dict (name → float) so that tests can pin every
term and the trainer can log them; the controller sums the terms and clips the total to ±2.

Notation: ``rel(prev, cur) = (cur − prev) / (|prev| + 1e-8)`` (relative change, negative = the loss fell);
``improve(prev, cur) = tanh(−5 · rel(prev, cur))`` ∈ (−1, 1) (positive when the loss fell; the gain 5
maps a 10 % drop to tanh(0.5) ≈ 0.46, so small noisy moves earn little and the tanh saturates big jumps).

Generator terms (weights from v0.1 where it had them, the rest chosen here):
    recon       2.5 · improve(recon_prev, recon)
    adv         1.2 · improve(adv_prev, adv)
    stability   +0.1 when |rel(total_prev, total)| ≤ 0.05, else 0
    kl          −0.3 when the KL-problem flag is 2 (KL large while reconstruction is poor), else 0
    balance     +0.2 when 0.4 < D_total < 0.75 (D neither winning nor losing),
                −0.3 when D_total ≤ 0.3 (D winning easily: G's gradients are uninformative), else 0
Discriminator terms:
    balance     +0.2 when 0.4 < D_total < 0.65; −0.25 when D_total < 0.3 (D overpowering G);
                −0.25 when D_total > 0.8 (D losing), else 0
    real        +0.15 when D_real < 0.3 (real clips recognised)
    fake        +0.15 when 0.05 < D_fake < 0.3 (fakes recognised, but not so trivially that G has collapsed)
    fooled      −0.3 when G_adv < 0.2 (G fools D too easily)
    stability   +0.1 when |rel(D_total_prev, D_total)| ≤ 0.05, else 0
Both roles:
    oscillation −0.1 when the last 5 raw rewards (this one included) change sign at least 3 times
    huge        −1.0 when any loss has |value| > 1e3 (finite but exploding)
Non-finite losses do not reach these functions: the controller credits ``NONFINITE_REWARD`` (−2, the
clip floor) instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

EPS = 1e-8
IMPROVEMENT_GAIN = 5.0

G_RECON_WEIGHT = 2.5
G_ADV_WEIGHT = 1.2
STABILITY_BONUS = 0.1
STABLE_REL_CHANGE = 0.05
G_KL_PENALTY = 0.3
G_BALANCE_RANGE = (0.4, 0.75)
G_BALANCE_BONUS = 0.2
G_D_TOO_STRONG = 0.3
G_D_TOO_STRONG_PENALTY = 0.3

D_BALANCE_RANGE = (0.4, 0.65)
D_BALANCE_BONUS = 0.2
D_TOO_STRONG = 0.3
D_TOO_WEAK = 0.8
D_IMBALANCE_PENALTY = 0.25
D_LOW_REAL = 0.3
D_LOW_REAL_BONUS = 0.15
D_FAKE_RANGE = (0.05, 0.3)
D_LOW_FAKE_BONUS = 0.15
D_FOOLED_G_ADV = 0.2
D_FOOLED_PENALTY = 0.3

OSCILLATION_WINDOW = 5
OSCILLATION_MIN_FLIPS = 3
OSCILLATION_PENALTY = 0.1
HUGE_LOSS = 1e3
HUGE_LOSS_PENALTY = 1.0
NONFINITE_REWARD = -2.0


def relative_change(prev: float, cur: float) -> float:
    """``(cur − prev) / (|prev| + 1e-8)``: negative when the loss fell."""
    return (cur - prev) / (abs(prev) + EPS)


def improvement(prev: float, cur: float) -> float:
    """``tanh(−5 · rel(prev, cur))`` ∈ (−1, 1): positive when the loss fell."""
    return math.tanh(-IMPROVEMENT_GAIN * relative_change(prev, cur))


def stability(prev: float, cur: float) -> float:
    """+0.1 when the loss moved by at most 5 % relative to its previous value."""
    return STABILITY_BONUS if abs(relative_change(prev, cur)) <= STABLE_REL_CHANGE else 0.0


def generator_terms(prev: Mapping[str, float], cur: Mapping[str, float], kl_problem: int) -> dict[str, float]:
    """Reward terms for the generator's controller (see the module docstring for each formula)."""
    d_total = cur["loss_d_total"]
    if G_BALANCE_RANGE[0] < d_total < G_BALANCE_RANGE[1]:
        balance = G_BALANCE_BONUS
    elif d_total <= G_D_TOO_STRONG:
        balance = -G_D_TOO_STRONG_PENALTY
    else:
        balance = 0.0
    return {
        "recon": G_RECON_WEIGHT * improvement(prev["loss_g_recon"], cur["loss_g_recon"]),
        "adv": G_ADV_WEIGHT * improvement(prev["loss_g_adv"], cur["loss_g_adv"]),
        "stability": stability(prev["loss_g_total"], cur["loss_g_total"]),
        "kl": -G_KL_PENALTY if kl_problem == 2 else 0.0,
        "balance": balance,
    }


def discriminator_terms(prev: Mapping[str, float], cur: Mapping[str, float]) -> dict[str, float]:
    """Reward terms for the discriminator's controller (see the module docstring for each formula)."""
    d_total, d_real, d_fake = cur["loss_d_total"], cur["loss_d_real"], cur["loss_d_fake"]
    if D_BALANCE_RANGE[0] < d_total < D_BALANCE_RANGE[1]:
        balance = D_BALANCE_BONUS
    elif d_total < D_TOO_STRONG or d_total > D_TOO_WEAK:
        balance = -D_IMBALANCE_PENALTY
    else:
        balance = 0.0
    return {
        "balance": balance,
        "real": D_LOW_REAL_BONUS if d_real < D_LOW_REAL else 0.0,
        "fake": D_LOW_FAKE_BONUS if D_FAKE_RANGE[0] < d_fake < D_FAKE_RANGE[1] else 0.0,
        "fooled": -D_FOOLED_PENALTY if cur["loss_g_adv"] < D_FOOLED_G_ADV else 0.0,
        "stability": stability(prev["loss_d_total"], d_total),
    }


def oscillation_penalty(recent_rewards: Sequence[float]) -> float:
    """−0.1 when the last 5 raw rewards flip sign ≥ 3 times (the controller is thrashing), else 0.

    A flip is a pair of consecutive rewards with strictly opposite signs; zeros never flip.
    """
    window = list(recent_rewards)[-OSCILLATION_WINDOW:]
    flips = sum(1 for a, b in zip(window[:-1], window[1:], strict=True) if a * b < 0)
    return -OSCILLATION_PENALTY if flips >= OSCILLATION_MIN_FLIPS else 0.0


def huge_loss_penalty(losses: Mapping[str, float]) -> float:
    """−1.0 when any loss is finite but larger than 1e3 in magnitude (training is blowing up)."""
    return -HUGE_LOSS_PENALTY if any(abs(v) > HUGE_LOSS for v in losses.values()) else 0.0
