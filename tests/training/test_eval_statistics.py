"""The evaluation's paired statistics and the audit's pure parts on hand-made numbers: no model, numpy only."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from training.evaluation import statistics as stats
from training.evaluation.blind import wilson
from training.evaluation.evaluate import compute_metrics, verdict
from training.evaluation.memorization import alternatives, longest_common_run
from training.evaluation.stylometry import DeltaSets, burrows_delta

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(finite, arrays(float, st.integers(2, 60), elements=finite), arrays(float, st.integers(0, 30), elements=finite))
def test_every_interval_contains_its_estimate(estimate, replicates, jackknife):
    low, high, method = stats.bca(estimate, replicates, jackknife)
    assert low <= estimate <= high and method in ("BCa", "normal")


@settings(max_examples=30, deadline=None)
@given(arrays(float, st.integers(2, 25), elements=st.floats(0, 10)), st.integers(0, 2**16))
def test_a_biased_statistic_on_resamples_keeps_its_estimate_inside(values, seed):
    """The largest value: resamples can only match or undershoot it, the worst case for percentile intervals."""
    n = len(values)
    [result] = stats.intervals(lambda w: {"max": float(values[w > 0].max())}, n, stats.resamples(n, 200, seed)).values()
    assert result.low <= result.estimate == values.max() <= result.high


def test_bca_is_the_percentile_interval_when_the_bootstrap_is_unbiased_and_symmetric():
    replicates = np.concatenate([np.linspace(-1, 1, 1001)])
    low, high, method = stats.bca(0.0, replicates, np.array([-1.0, 0.0, 1.0]))
    assert method == "BCa"
    assert (low, high) == pytest.approx(tuple(np.quantile(replicates, [0.025, 0.975])))


def test_bca_of_a_mean_is_close_to_the_t_interval():
    values = np.random.default_rng(1).normal(3.0, 2.0, size=200)
    result = stats.intervals(lambda w: {"mean": float(w @ values / w.sum())}, 200, stats.resamples(200))["mean"]
    half = 1.97 * values.std(ddof=1) / math.sqrt(200)
    assert result.low == pytest.approx(values.mean() - half, abs=0.06)
    assert result.high == pytest.approx(values.mean() + half, abs=0.06)


def test_paired_nll_difference_is_the_difference_of_token_weighted_means():
    base, tuned, tokens = [4.0, 6.0, 9.0], [2.0, 3.0, 6.0], [2, 3, 4]
    diff = stats.ratio_statistic(np.subtract(tuned, base), tokens)(np.ones(3))
    assert diff == pytest.approx(sum(tuned) / sum(tokens) - sum(base) / sum(tokens))


def test_weighted_auc_is_the_roc_auc_and_resamples_pairs_together():
    from sklearn.metrics import roc_auc_score

    pos, neg = np.array([0.9, 0.8, 0.4, 0.7]), np.array([0.1, 0.85, 0.4, 0.2])
    auc = stats.weighted_auc(pos, neg)
    assert auc(np.ones(4)) == pytest.approx(roc_auc_score([1] * 4 + [0] * 4, np.concatenate([pos, neg])))
    w = np.array([2.0, 0.0, 1.0, 1.0])  # example 0 twice, example 1 left out
    drawn = [0, 0, 2, 3]
    assert auc(w) == pytest.approx(roc_auc_score([1] * 4 + [0] * 4, np.concatenate([pos[drawn], neg[drawn]])))


def test_delta_on_example_weights_is_delta_of_the_resampled_sets():
    real = ["haha see u there!!", "lol no way", "omg yes!!", "ok see you at 5.", "the cake was good"]
    a = ["I will bring it.", "lol ok", "haha same!!", "see u", "Thank you."]
    b = ["yes!!", "no way haha", "the pub?", "ok.", "omg the cake"]
    sets = DeltaSets(real, {"a": a, "b": b}, n_features=1000)  # every token a feature: no ties to break
    assert sets.delta() == pytest.approx(burrows_delta(real, {"a": a, "b": b}, n_features=1000))
    drawn = [0, 0, 3, 4, 4]
    w = np.bincount(drawn, minlength=5).astype(float)
    resampled = burrows_delta([real[i] for i in drawn], {"a": [a[i] for i in drawn], "b": [b[i] for i in drawn]}, 1000)
    assert sets.delta(w) == pytest.approx(resampled)


def test_a_verdict_names_a_direction_only_when_the_interval_excludes_zero():
    closer = verdict("delta_diff", stats.Interval(-0.03, -0.05, -0.01, 94, "BCa"))
    assert closer == "tuned is closer to you: Delta −0.030 [−0.050, −0.010]"
    unclear = verdict("delta_diff", stats.Interval(-0.02, -0.06, 0.02, 100, "BCa"))
    assert unclear.startswith("Delta: no measurable difference (Delta −0.020 [−0.060, 0.020])")
    assert "about 400 test examples would be needed" in unclear  # half-width 0.04 for 0.02: four times as many
    worse = verdict("nll_diff", stats.Interval(0.2, 0.1, 0.3, 50, "BCa"))
    assert worse.startswith("tuned finds your real replies less likely")
    assert "would be needed" not in verdict("auc_diff", stats.Interval(0.0, -0.1, 0.1, 50, "BCa"))


def _intervals(tree, path=""):
    """(where, estimate, interval) for every interval in metrics.json: `X_ci` beside `X`, and `{estimate, ci}`."""
    if isinstance(tree, dict):
        if "estimate" in tree and "ci" in tree:
            yield path, tree["estimate"], tree["ci"]
        for key, value in tree.items():
            if key.endswith("_ci") and key[:-3] in tree:
                estimate, ci = tree[key[:-3]], value
                if isinstance(ci, dict):
                    yield from ((f"{path}.{key}.{k}", estimate[k], ci[k]) for k in ci)
                else:
                    yield f"{path}.{key}", estimate, ci
            yield from _intervals(value, f"{path}.{key}")


def assert_every_interval_contains_its_estimate(metrics: dict) -> int:
    found = list(_intervals(metrics))
    for where, estimate, ci in found:
        if estimate is not None and ci is not None and ci[0] is not None:
            assert ci[0] <= estimate <= ci[1], where
    return len(found)


def test_metrics_of_hand_made_scores_have_paired_intervals_containing_their_estimates():
    from tests.training.test_evaluate_metrics import scored_by_hand

    metrics = compute_metrics(scored_by_hand())
    assert set(metrics["paired"]) == {"nll_diff", "delta_diff", "auc_diff", "chrf_diff"}
    assert all(set(p) >= {"estimate", "ci", "n"} and p["n"] == 24 for p in metrics["paired"].values())
    assert metrics["paired"]["nll_diff"]["estimate"] == pytest.approx(metrics["tuned"]["nll"] - metrics["base"]["nll"])
    assert assert_every_interval_contains_its_estimate(metrics) >= 11
    assert metrics["verdicts"]["nll_diff"].startswith("tuned finds your real replies more likely")
    assert "paired_vs_tuned" not in metrics


def test_memory_arms_have_the_same_metrics_and_are_compared_with_tuned_alone():
    """Hand-made memory arms: base + memory as likely as tuned and writing like base; tuned + memory
    more likely than tuned, repeating the real reply word for word (chrF 100)."""
    from tests.training.test_evaluate_metrics import scored_by_hand

    scored = scored_by_hand()
    for i, item in enumerate(scored):
        item.nll.update(base_memory=1.5 + 0.1 * (i % 3 - 1), tuned_memory=0.9 + 0.1 * (i % 2))
        item.generated.update(base_memory=item.generated["base"], tuned_memory=item.real)
    metrics = compute_metrics(scored)
    assert set(metrics["base_memory"]) == set(metrics["tuned_memory"]) == set(metrics["base"]) == set(metrics["tuned"])
    assert metrics["tuned_memory"]["chrf"] == pytest.approx(100)
    paired = metrics["paired_vs_tuned"]
    assert set(paired) == {"base_memory", "tuned_memory"} and all(
        set(p) == set(metrics["paired"]) for p in paired.values()
    )
    nll = paired["tuned_memory"]["nll_diff"]
    assert nll["estimate"] == pytest.approx(metrics["tuned_memory"]["nll"] - metrics["tuned"]["nll"])
    assert nll["ci"][1] < 0 and paired["tuned_memory"]["chrf_diff"]["ci"][0] > 0
    verdicts = metrics["verdicts_vs_tuned"]
    assert verdicts["tuned_memory"]["nll_diff"].startswith(
        "tuned + memory finds your real replies more likely than tuned"
    )
    assert verdicts["tuned_memory"]["chrf_diff"].startswith("tuned + memory replies share more of your real replies'")
    assert verdicts["base_memory"]["nll_diff"].startswith("NLL, base + memory vs tuned: no measurable difference")
    assert assert_every_interval_contains_its_estimate(metrics) >= 30


def test_wilson_interval_contains_the_observed_share():
    for n in range(1, 40):
        for k in range(n + 1):
            low, high = wilson(k, n)
            assert low <= k / n <= high


def test_canary_alternatives_keep_its_shape_and_exclude_it():
    alts = alternatives("Zorb-42x", 50, seed=3)
    assert len(alts) == 50 == len(set(alts)) and "Zorb-42x" not in alts
    shape = (str.isupper, str.islower, str.islower, str.islower, "-".__eq__, str.isdigit, str.isdigit, str.islower)
    assert all(all(test(ch) for test, ch in zip(shape, a)) and len(a) == 8 for a in alts)
    assert alternatives("ab", 1000) and len(alternatives("ab", 1000)) == 26 * 26 - 1
    assert alts == alternatives("Zorb-42x", 50, seed=3)


def test_longest_common_run():
    assert longest_common_run("see you at the pub", "at the pub!") == len("at the pub")
    assert longest_common_run("", "x") == 0
