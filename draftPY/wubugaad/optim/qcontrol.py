"""HAKMEM Q-controller: tabular ε-greedy Q-learning that chooses an optimizer's lr and momentum scales.

One controller per optimizer (role "gen" or "disc"), held by the trainer beside the optimizer. Once per
macro-batch the trainer hands it the averaged losses (host floats) through `observe(losses)`, and applies
``current_lr_scale`` / ``current_momentum_scale`` to the optimizer before its next step; the controller

1. discretises the losses into a state (below), using loss histories of length 5 that hold the
   *previous* macro-batches (the current values are appended after the state is read);
2. computes a reward from the previous and current losses (`wubugaad.optim.qrewards`), clips it to ±2 and
   credits it to the previous state/action with the tabular update, separately for each head,
   ``Q(s, a) += α · (r + γ · max_a' Q(s', a') − Q(s, a))``, α = 0.01, γ = 0.9, Q clipped to ±30;
3. picks the next action for the new state with two independent ε-greedy heads,
   lr scale ∈ {0.8, 0.9, 1.0, 1.1, 1.2} and momentum scale ∈ {0.95, 0.98, 1.0, 1.01, 1.02}
   (greedy ties broken uniformly at random); ε starts at 0.5 and after each choice becomes
   ``max(0.05, 0.9995 · ε)``, so after k choices ``ε_k = max(0.05, 0.5 · 0.9995^k)``.

State (tuple of small ints):
    trend(h, x): relative change ``(x − median(h)) / (|median(h)| + 1e-8)`` binned by
        ``< −0.15 → 0, < −0.02 → 1, ≤ 0.02 → 2, ≤ 0.15 → 3, else 4``; an empty history gives 2 (flat).
    level(x, t): number of thresholds t_i ≤ x (``bisect_right``), e.g. thresholds 0.3/0.6/1.0 → 0..3.
    ε phase: level(ε, (0.1, 0.3)) → 0 (ε < 0.1, exploiting), 1, 2 (ε ≥ 0.3, exploring).
    G: (trend G_total, trend D_total, trend recon, KL flag, level(G_adv; 0.3/0.6/1.0), ε phase), where the
        KL flag is 0 when KL ≤ kl_high (default 100, the KL is summed over latent dims), 1 when KL is large
        while recon ≤ recon_poor (default 0.1, MSE in [-1, 1] space), 2 when KL is large and recon is poor.
    D: (trend D_total, trend G_total, level(D_total; 0.35/0.65/0.85), level(D_fake / (D_real + 1e-8);
        0.8/1.2/2.0), level(G_adv; 0.2/0.5), ε phase).

Non-finite losses: the reward is −2 (the clip floor), the state stays the previous one (bootstrapping from
it), and the histories are left untouched so that one bad batch does not poison the medians.

The table is pruned when it holds more than `max_q_table_size` (20 000) states: it drops back to 90 % of
that size, removing the least used states first (fewest visits), then the least recently used, then the
oldest; the states just visited are kept. The controller owns its `random.Random(seed)`, and
`state_dict()` (plain lists, dicts, numbers, strings: `json.dumps` accepts it) restores an identical
controller, RNG included, so the same losses give the same next actions.
"""

from __future__ import annotations

import bisect
import math
import random
import statistics
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from wubugaad.loss_names import pick
from wubugaad.optim import qrewards

LR_SCALE_OPTIONS = (0.8, 0.9, 1.0, 1.1, 1.2)
MOMENTUM_SCALE_OPTIONS = (0.95, 0.98, 1.0, 1.01, 1.02)
# the breakdown keys each controller watches, checked against the losses' own list
GEN_KEYS = pick("loss_g_total", "loss_g_recon", "loss_g_kl", "loss_g_adv", "loss_d_total")
DISC_KEYS = pick("loss_d_total", "loss_d_real", "loss_d_fake", "loss_g_adv", "loss_g_total")
TREND_EDGES = (-0.15, -0.02, 0.02, 0.15)
G_ADV_LEVELS = (0.3, 0.6, 1.0)
D_TOTAL_LEVELS = (0.35, 0.65, 0.85)
D_RATIO_LEVELS = (0.8, 1.2, 2.0)
D_G_ADV_LEVELS = (0.2, 0.5)
EPSILON_PHASES = (0.1, 0.3)
PRUNE_KEEP_FRACTION = 0.9
REWARD_WINDOW = 100
HEADS = ("lr", "momentum")
STATE_DICT_VERSION = 1


def trend_bin(history: Iterable[float], current: float) -> int:
    """Bin the relative change of `current` against the median of `history` into 0..4 (2 = flat)."""
    past = list(history)
    if not past:
        return 2
    median = statistics.median(past)
    rel = (current - median) / (abs(median) + qrewards.EPS)
    if rel < TREND_EDGES[0]:
        return 0
    if rel < TREND_EDGES[1]:
        return 1
    if rel <= TREND_EDGES[2]:
        return 2
    if rel <= TREND_EDGES[3]:
        return 3
    return 4


def level_bin(value: float, thresholds: Sequence[float]) -> int:
    """Number of thresholds ≤ value: 0 below the first, len(thresholds) at or above the last."""
    return bisect.bisect_right(thresholds, value)


class HAKMEMQController:
    """Tabular Q-learning controller for one optimizer's lr and momentum scales (module docstring)."""

    def __init__(
        self,
        role: str = "gen",
        lr_scale_options: Sequence[float] = LR_SCALE_OPTIONS,
        momentum_scale_options: Sequence[float] = MOMENTUM_SCALE_OPTIONS,
        learning_rate: float = 0.01,
        discount: float = 0.9,
        epsilon: float = 0.5,
        epsilon_decay: float = 0.9995,
        epsilon_min: float = 0.05,
        history_len: int = 5,
        max_q_table_size: int = 20000,
        reward_clip: float = 2.0,
        q_clip: float = 30.0,
        kl_high: float = 100.0,
        recon_poor: float = 0.1,
        seed: int = 0,
    ):
        if role not in ("gen", "disc"):
            raise ValueError(f"HAKMEMQController: role must be 'gen' or 'disc', got {role!r}")
        if not lr_scale_options or not momentum_scale_options:
            raise ValueError("HAKMEMQController: give non-empty lr_scale_options and momentum_scale_options")
        if not 0.0 <= epsilon_min <= epsilon <= 1.0 or not 0.0 < epsilon_decay <= 1.0:
            raise ValueError(
                "HAKMEMQController: need 0 <= epsilon_min <= epsilon <= 1 and 0 < epsilon_decay <= 1, got "
                f"epsilon={epsilon}, epsilon_min={epsilon_min}, epsilon_decay={epsilon_decay}"
            )
        if history_len < 1 or max_q_table_size < 2:
            raise ValueError("HAKMEMQController: history_len must be >= 1 and max_q_table_size >= 2")
        self.role = role
        self.config = {
            "lr_scale_options": [float(v) for v in lr_scale_options],
            "momentum_scale_options": [float(v) for v in momentum_scale_options],
            "learning_rate": float(learning_rate),
            "discount": float(discount),
            "epsilon_decay": float(epsilon_decay),
            "epsilon_min": float(epsilon_min),
            "history_len": int(history_len),
            "max_q_table_size": int(max_q_table_size),
            "reward_clip": float(reward_clip),
            "q_clip": float(q_clip),
            "kl_high": float(kl_high),
            "recon_poor": float(recon_poor),
        }
        self.keys = GEN_KEYS if role == "gen" else DISC_KEYS
        self.epsilon = float(epsilon)
        self.choices = 0
        self.q_table: dict[tuple[int, ...], dict] = {}
        self.histories = {k: deque(maxlen=history_len) for k in self.keys}
        self.prev_losses: dict[str, float] | None = None
        self.prev_state: tuple[int, ...] | None = None
        self.prev_action: dict[str, int] | None = None
        self.current_lr_scale = 1.0
        self.current_momentum_scale = 1.0
        self.rewards: deque[float] = deque(maxlen=REWARD_WINDOW)
        self.raw_rewards: deque[float] = deque(maxlen=qrewards.OSCILLATION_WINDOW)
        self.last_reward_terms: dict[str, float] = {}
        self._rng = random.Random(seed)

    # ----- options and table -------------------------------------------------------------------------
    def options(self, head: str) -> list[float]:
        """The action values of one head ("lr" or "momentum")."""
        return self.config["lr_scale_options" if head == "lr" else "momentum_scale_options"]

    def q_table_size(self) -> int:
        return len(self.q_table)

    def q_values(self, state: Sequence[int]) -> dict[str, list[float]]:
        """A copy of the Q-values of `state` per head (zeros for an unseen state)."""
        entry = self.q_table.get(tuple(state))
        return {h: list(entry[h]) if entry else [0.0] * len(self.options(h)) for h in HEADS}

    def _entry(self, state: tuple[int, ...], *also_keep: tuple[int, ...]) -> dict:
        """The table row of `state`, created (and the table pruned, sparing `also_keep`) when new."""
        entry = self.q_table.get(state)
        if entry is None:
            entry = {h: [0.0] * len(self.options(h)) for h in HEADS}
            entry.update(visits=0, created=self.choices, last=self.choices)
            self.q_table[state] = entry
            self._prune(keep={state, self.prev_state, *also_keep})
        return entry

    def _prune(self, keep: set) -> None:
        """Drop to 90 % of max_q_table_size by (visits, last use, creation) ascending, sparing `keep`."""
        limit = self.config["max_q_table_size"]
        if len(self.q_table) <= limit:
            return
        target = max(len(keep), int(PRUNE_KEEP_FRACTION * limit))
        candidates = sorted(
            (s for s in self.q_table if s not in keep),
            key=lambda s: (self.q_table[s]["visits"], self.q_table[s]["last"], self.q_table[s]["created"]),
        )
        for state in candidates[: len(self.q_table) - target]:
            del self.q_table[state]

    # ----- state -------------------------------------------------------------------------------------
    def epsilon_phase(self) -> int:
        return level_bin(self.epsilon, EPSILON_PHASES)

    def kl_problem(self, kl: float, recon: float) -> int:
        """0: KL fine; 1: KL large but reconstruction fine; 2: KL large while reconstruction is poor."""
        if kl <= self.config["kl_high"]:
            return 0
        return 2 if recon > self.config["recon_poor"] else 1

    def state_from_losses(self, losses: Mapping[str, float]) -> tuple[int, ...]:
        """Discretised state of the current losses against the stored histories (module docstring)."""
        h = self.histories
        if self.role == "gen":
            return (
                trend_bin(h["loss_g_total"], losses["loss_g_total"]),
                trend_bin(h["loss_d_total"], losses["loss_d_total"]),
                trend_bin(h["loss_g_recon"], losses["loss_g_recon"]),
                self.kl_problem(losses["loss_g_kl"], losses["loss_g_recon"]),
                level_bin(losses["loss_g_adv"], G_ADV_LEVELS),
                self.epsilon_phase(),
            )
        ratio = losses["loss_d_fake"] / (losses["loss_d_real"] + qrewards.EPS)
        return (
            trend_bin(h["loss_d_total"], losses["loss_d_total"]),
            trend_bin(h["loss_g_total"], losses["loss_g_total"]),
            level_bin(losses["loss_d_total"], D_TOTAL_LEVELS),
            level_bin(ratio, D_RATIO_LEVELS),
            level_bin(losses["loss_g_adv"], D_G_ADV_LEVELS),
            self.epsilon_phase(),
        )

    # ----- acting and learning -----------------------------------------------------------------------
    def choose_action(self, state: Sequence[int]) -> tuple[float, float]:
        """ε-greedy choice on each head for `state`; decays ε once; returns (lr_scale, momentum_scale)."""
        state = tuple(state)
        entry = self._entry(state)
        action = {}
        for head in HEADS:
            values = entry[head]
            if self._rng.random() < self.epsilon:
                action[head] = self._rng.randrange(len(values))
            else:
                best = max(values)
                ties = [i for i, v in enumerate(values) if v == best]
                action[head] = ties[0] if len(ties) == 1 else self._rng.choice(ties)
        self.choices += 1
        entry["visits"] += 1
        entry["last"] = self.choices
        self.epsilon = max(self.config["epsilon_min"], self.epsilon * self.config["epsilon_decay"])
        self.prev_state, self.prev_action = state, action
        self.current_lr_scale = self.options("lr")[action["lr"]]
        self.current_momentum_scale = self.options("momentum")[action["momentum"]]
        return self.current_lr_scale, self.current_momentum_scale

    def update_q(
        self, state: Sequence[int], action: Mapping[str, int], reward: float, next_state: Sequence[int]
    ) -> float:
        """``Q(s,a) += α (clip(r) + γ max Q(s') − Q(s,a))`` on both heads, Q clipped; returns clip(r)."""
        clip, q_clip = self.config["reward_clip"], self.config["q_clip"]
        reward = min(max(reward, -clip), clip)
        entry = self._entry(tuple(state))
        next_entry = self._entry(tuple(next_state), tuple(state))
        alpha, gamma = self.config["learning_rate"], self.config["discount"]
        for head in HEADS:
            q = entry[head][action[head]]
            q += alpha * (reward + gamma * max(next_entry[head]) - q)
            entry[head][action[head]] = min(max(q, -q_clip), q_clip)
        return reward

    def compute_reward(self, prev: Mapping[str, float], cur: Mapping[str, float]) -> float:
        """Unclipped reward for moving from `prev` to `cur` losses; the terms land in `last_reward_terms`."""
        if self.role == "gen":
            kl_flag = self.kl_problem(cur["loss_g_kl"], cur["loss_g_recon"])
            terms = qrewards.generator_terms(prev, cur, kl_flag)
        else:
            terms = qrewards.discriminator_terms(prev, cur)
        terms["huge"] = qrewards.huge_loss_penalty(cur)
        self.raw_rewards.append(sum(terms.values()))
        terms["oscillation"] = qrewards.oscillation_penalty(self.raw_rewards)
        self.last_reward_terms = terms
        return sum(terms.values())

    def observe(self, losses: Mapping[str, float]) -> tuple[float, float]:
        """Learn from one macro-batch of averaged losses and choose the next (lr_scale, momentum_scale)."""
        missing = [k for k in self.keys if k not in losses]
        if missing:
            raise ValueError(f"HAKMEMQController({self.role}).observe: losses lack keys {missing}")
        cur = {k: float(losses[k]) for k in self.keys}
        if not all(math.isfinite(v) for v in cur.values()):
            if self.prev_state is None:
                return self.current_lr_scale, self.current_momentum_scale
            self.raw_rewards.append(qrewards.NONFINITE_REWARD)
            self.last_reward_terms = {"nonfinite": qrewards.NONFINITE_REWARD}
            self.rewards.append(
                self.update_q(self.prev_state, self.prev_action, qrewards.NONFINITE_REWARD, self.prev_state)
            )
            return self.choose_action(self.prev_state)
        state = self.state_from_losses(cur)
        if self.prev_losses is not None and self.prev_state is not None:
            reward = self.compute_reward(self.prev_losses, cur)
            self.rewards.append(self.update_q(self.prev_state, self.prev_action, reward, state))
        for k in self.keys:
            self.histories[k].append(cur[k])
        self.prev_losses = cur
        return self.choose_action(state)

    def average_reward(self) -> float:
        """Mean of the last 100 clipped rewards (0.0 before the first)."""
        return sum(self.rewards) / len(self.rewards) if self.rewards else 0.0

    # ----- persistence -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Full state as plain data (lists, dicts, numbers, strings, None): `json.dumps` accepts it."""
        version, internal, gauss_next = self._rng.getstate()
        return {
            "version": STATE_DICT_VERSION,
            "role": self.role,
            "config": dict(self.config, lr_scale_options=list(self.config["lr_scale_options"]),
                           momentum_scale_options=list(self.config["momentum_scale_options"])),
            "epsilon": self.epsilon,
            "choices": self.choices,
            "q_table": [[list(s), self._plain_entry(e)] for s, e in self.q_table.items()],
            "histories": {k: list(v) for k, v in self.histories.items()},
            "prev_losses": dict(self.prev_losses) if self.prev_losses is not None else None,
            "prev_state": list(self.prev_state) if self.prev_state is not None else None,
            "prev_action": dict(self.prev_action) if self.prev_action is not None else None,
            "current_lr_scale": self.current_lr_scale,
            "current_momentum_scale": self.current_momentum_scale,
            "rewards": list(self.rewards),
            "raw_rewards": list(self.raw_rewards),
            "last_reward_terms": dict(self.last_reward_terms),
            "rng_state": [version, list(internal), gauss_next],
        }

    @staticmethod
    def _plain_entry(entry: dict) -> dict:
        """A copy of one table row with fresh lists (so the saved state never aliases the live table)."""
        return {k: list(v) if isinstance(v, list) else v for k, v in entry.items()}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore everything `state_dict` saved (configuration included); the role must match."""
        if state.get("version") != STATE_DICT_VERSION:
            raise ValueError(f"HAKMEMQController: unsupported state_dict version {state.get('version')!r}")
        if state["role"] != self.role:
            raise ValueError(
                f"HAKMEMQController: state_dict is for role {state['role']!r} but this controller is "
                f"{self.role!r}; load the generator's state into the generator's optimizer and vice versa"
            )
        self.config = dict(state["config"])
        self.epsilon = float(state["epsilon"])
        self.choices = int(state["choices"])
        self.q_table = {tuple(s): self._plain_entry(e) for s, e in state["q_table"]}
        maxlen = self.config["history_len"]
        self.histories = {k: deque(state["histories"][k], maxlen=maxlen) for k in self.keys}
        self.prev_losses = dict(state["prev_losses"]) if state["prev_losses"] is not None else None
        self.prev_state = tuple(state["prev_state"]) if state["prev_state"] is not None else None
        self.prev_action = dict(state["prev_action"]) if state["prev_action"] is not None else None
        self.current_lr_scale = float(state["current_lr_scale"])
        self.current_momentum_scale = float(state["current_momentum_scale"])
        self.rewards = deque(state["rewards"], maxlen=REWARD_WINDOW)
        self.raw_rewards = deque(state["raw_rewards"], maxlen=qrewards.OSCILLATION_WINDOW)
        self.last_reward_terms = dict(state["last_reward_terms"])
        version, internal, gauss_next = state["rng_state"]
        self._rng.setstate((version, tuple(internal), gauss_next))
