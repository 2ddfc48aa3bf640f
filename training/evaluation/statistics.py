"""Paired statistics of the evaluation: both models score the same test examples, so every
comparison resamples examples once and recomputes both models on the same resample.

Intervals are BCa (bias-corrected and accelerated) bootstrap intervals. Where the bootstrap
distribution lies almost wholly on one side of the estimate (a bias larger than its spread, as
Burrows' Delta on resamples with duplicates shows), no percentile interval can contain the estimate;
the normal interval, estimate ± z·SE of the replicates, is given instead and says so in `method`.
Pure numpy and the standard library: no model, no text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

ROUNDS = 1000
LEVEL = 0.95
_NORMAL = NormalDist()


@dataclass
class Interval:
    estimate: float
    low: float
    high: float
    n: int
    method: str  # "BCa", "normal" (the fallback above) or "none" (too few examples)

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "ci": [self.low, self.high], "n": self.n, "method": self.method}

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def resamples(n: int, rounds: int = ROUNDS, seed: int = 0) -> np.ndarray:
    """(rounds, n) multiplicities: how often each example is drawn in each resample. Every statistic
    of one evaluation uses the same resamples, so differences are paired."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(rounds, n))
    weights = np.zeros((rounds, n))
    np.add.at(weights, (np.arange(rounds)[:, None], picks), 1)
    return weights


def jackknife_weights(n: int) -> np.ndarray:
    """(n, n) multiplicities leaving out one example each: BCa's acceleration comes from them."""
    return 1.0 - np.eye(n)


def bca(estimate: float, replicates, jackknife, level: float = LEVEL) -> tuple[float, float, str]:
    """BCa interval of `estimate` from its bootstrap `replicates` and leave-one-out `jackknife` values
    (Efron 1987); the normal interval where BCa's would exclude the estimate (see the module)."""
    reps = np.asarray(replicates, dtype=float)
    reps = reps[np.isfinite(reps)]
    if not math.isfinite(estimate) or len(reps) < 2:
        return math.nan, math.nan, "none"
    z_tail = _NORMAL.inv_cdf((1 + level) / 2)
    share_below = (np.sum(reps < estimate) + 0.5 * np.sum(reps == estimate)) / len(reps)
    share_below = min(max(share_below, 0.5 / len(reps)), 1 - 0.5 / len(reps))
    z0 = _NORMAL.inv_cdf(share_below)
    accel = _acceleration(np.asarray(jackknife, dtype=float))
    levels = []
    for z in (-z_tail, z_tail):
        denominator = 1 - accel * (z0 + z)
        # A non-positive denominator: the acceleration is beyond what BCa models; the level saturates.
        levels.append(_NORMAL.cdf(z0 + (z0 + z) / denominator) if denominator > 0 else float(z > 0))
    low, high = (float(v) for v in np.quantile(reps, levels))
    if low <= estimate <= high:
        return low, high, "BCa"
    spread = z_tail * float(reps.std(ddof=1))
    return estimate - spread, estimate + spread, "normal"


def _acceleration(jackknife: np.ndarray) -> float:
    values = jackknife[np.isfinite(jackknife)]
    if len(values) < 3:
        return 0.0
    d = values.mean() - values
    denominator = 6 * float(np.sum(d**2)) ** 1.5
    return float(np.sum(d**3)) / denominator if denominator > 0 else 0.0


def intervals(statistic, n: int, weights: np.ndarray, level: float = LEVEL) -> dict[str, Interval]:
    """`statistic(w)` maps one row of example multiplicities to named values (all ones: the estimates);
    the BCa interval of each over the bootstrap `weights` and the jackknife, one pass for all."""
    estimates = statistic(np.ones(n))
    if n < 2:
        return {k: Interval(float(v), math.nan, math.nan, n, "none") for k, v in estimates.items()}
    replicates = [statistic(w) for w in weights]
    jackknife = [statistic(w) for w in jackknife_weights(n)]
    out = {}
    for key, value in estimates.items():
        low, high, method = bca(float(value), [r[key] for r in replicates], [j[key] for j in jackknife], level)
        out[key] = Interval(float(value), low, high, n, method)
    return out


def ratio_statistic(numerators, denominators):
    """Σ w·x / Σ w·t: a token-weighted mean (NLL per token) or, with differences, its paired difference."""
    x, t = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    return lambda w: float((w @ x) / (w @ t)) if w @ t > 0 else math.nan


def weighted_auc(positive_scores, negative_scores):
    """AUC (Mann-Whitney) with example i contributing positive i and negative i, each `w[i]` times:
    the real reply and the generated one to the same context are resampled together."""
    pos, neg = np.asarray(positive_scores, dtype=float), np.asarray(negative_scores, dtype=float)
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])

    def auc(w):
        total = w.sum() ** 2
        return float(w @ wins @ w / total) if total else math.nan

    return auc


def examples_needed(result: Interval) -> int | None:
    """About how many examples would bring the interval's near side past 0 at the same effect size
    (its half-width shrinks as 1/sqrt(n)); None where the estimate is 0 or undefined."""
    if not math.isfinite(result.low) or result.estimate == 0 or not math.isfinite(result.estimate):
        return None
    half = result.estimate - result.low if result.estimate > 0 else result.high - result.estimate
    return max(result.n + 1, math.ceil(result.n * (half / abs(result.estimate)) ** 2))
