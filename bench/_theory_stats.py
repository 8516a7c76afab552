"""The statistics of ``probe_theory.py``, on plain arrays: rank correlation and AUROC with bootstrap
intervals, Gromov δ-hyperbolicity, and a linear probe.

- Uncertainty (Surís et al. 2021: the distance from the origin as a predictability score): Spearman's ρ
  between a clip's context-code radius and its prediction error, and the AUROC of the score ``−radius``
  for flagging the worst decile of errors (the theory predicts ρ < 0 and AUROC > 0.5: uncertain clips sit
  near the centre). Intervals: percentile bootstrap over clips (``scipy.stats.bootstrap``, paired).
- δ-hyperbolicity (Gromov's four-point condition, in the form of Khrulkov et al. 2020): with a base point
  ``w`` and Gromov products ``(x|y)_w = ½(d(x,w) + d(y,w) − d(x,y))``, ``δ = max_{x,y} [max_z min((x|z),
  (z|y)) − (x|y)]`` (a max-min matrix product); the relative ``δ_rel = 2δ / diam`` is 0 for a tree metric
  and grows toward 1 as the points look less like a tree. Averaged over random subsamples and base points.
- Linear probe: multinomial logistic regression (L-BFGS, small L2) on standardised features, scored by
  accuracy on a held-out quarter (a fixed split from the seed).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

WORST_FRACTION = 0.1  # the "worst decile" of prediction errors the radius should flag


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the boolean labels ``positive`` (Mann–Whitney U / n₊n₋;
    ties count half). NaN when a class is empty."""
    pos, neg = score[positive], score[~positive]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float(stats.mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


def _worst(error: np.ndarray) -> np.ndarray:
    return error >= np.quantile(error, 1 - WORST_FRACTION)


def _spearman(radius: np.ndarray, error: np.ndarray) -> float:
    return float(stats.spearmanr(radius, error).statistic)


def _flag_auroc(radius: np.ndarray, error: np.ndarray) -> float:
    return auroc(-radius, _worst(error))


def uncertainty(radius: np.ndarray, error: np.ndarray, resamples: int = 1000, seed: int = 0) -> dict:
    """Spearman ρ(radius, error) and AUROC(−radius → worst decile), each with a 95 % bootstrap interval."""
    radius, error = np.asarray(radius, dtype=np.float64), np.asarray(error, dtype=np.float64)
    out = {"clips": int(radius.size)}
    for name, fn in (("spearman", _spearman), ("auroc_worst_decile", _flag_auroc)):
        value = fn(radius, error)
        low = high = float("nan")
        if radius.size >= 3 and np.isfinite(value):
            boot = stats.bootstrap((radius, error), fn, paired=True, vectorized=False, n_resamples=resamples,
                                   method="percentile", random_state=np.random.default_rng(seed))
            low, high = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
        out[name] = {"value": value, "ci95": [low, high]}
    return out


def gromov_delta(dist: torch.Tensor, base: int = 0) -> tuple[float, float]:
    """``(δ, δ_rel = 2δ/diam)`` of the metric ``dist`` (n, n) with base point ``base`` (module docstring)."""
    d = dist.double()
    gromov = 0.5 * (d[:, base, None] + d[None, base, :] - d)  # (x|y)_w
    maxmin = torch.minimum(gromov[:, :, None], gromov[None, :, :]).amax(dim=1)  # max_z min((x|z), (z|y))
    delta = float((maxmin - gromov).amax())
    diam = float(d.amax())
    return delta, (2 * delta / diam if diam > 0 else 0.0)


def relative_delta(dist: torch.Tensor, sample: int = 200, repeats: int = 5, seed: int = 0) -> dict:
    """Mean and spread of ``δ_rel`` over ``repeats`` random subsamples of ``sample`` points (n ≥ 4)."""
    n = dist.shape[0]
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(repeats):
        pick = torch.randperm(n, generator=g)[:min(sample, n)]
        values.append(gromov_delta(dist[pick][:, pick])[1])
    return {"delta_rel": float(np.mean(values)), "delta_rel_std": float(np.std(values)),
            "points": min(sample, n), "repeats": repeats}


def linear_probe(features: np.ndarray, labels: np.ndarray, seed: int = 0, l2: float = 1e-3,
                 iterations: int = 200) -> float:
    """Held-out accuracy of a multinomial logistic regression on ``features`` (N, D) for ``labels`` (N,)."""
    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    cut = max(1, (3 * x.shape[0]) // 4)
    train, test = order[:cut], order[cut:]
    mean, std = x[train].mean(dim=0), x[train].std(dim=0).clamp_min(1e-8)
    x = (x - mean) / std
    classes = int(y.max()) + 1
    layer = torch.nn.Linear(x.shape[1], classes, dtype=torch.float64)
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x[train]), y[train]) + l2 * layer.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float((layer(x[test]).argmax(dim=1) == y[test]).double().mean())
