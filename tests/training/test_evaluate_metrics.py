"""The evaluation's metrics on hand-made inputs with known answers, the report and the blind test;
no model involved (tests/training/test_evaluate.py runs the whole evaluation on a trained tiny run)."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.evaluation import report as eval_report
from training.evaluation import statistics as stats
from training.evaluation.authorship import discriminate
from training.evaluation.blind import BlindScoreError, score, wilson, write_blind
from training.evaluation.evaluate import Scored, compute_metrics
from training.evaluation.likelihood import mean_nll
from training.evaluation.stylometry import (
    burrows_delta,
    char_ngram_profile,
    function_word_profile,
    habits,
    profile_distance,
    type_token_ratio,
    yules_k,
)

THINGS = ("pub", "cake", "photos", "gym", "tickets", "park", "recipe", "playlist")
CASUAL = [
    t.format(x)
    for x in THINGS
    for t in ("haha the {} tonight!!", "omg the {} lol", "ngl the {} was a lot", "yess {}!!", "lol same {} haha")
]
FORMAL = [
    t.format(x)
    for x in THINGS
    for t in (
        "I will bring the {} tomorrow.",
        "Did you see the {}?",
        "Thank you for the {}.",
        "The {} was very good.",
        "Shall we discuss the {}?",
    )
]


def test_habits_count_each_reply_once():
    h = habits(["hi!!", "what?", "ok...", "hey there", "I'm in 🎉", "Don't"])
    assert h["with_exclamation"] == pytest.approx(1 / 6)
    assert h["with_question"] == pytest.approx(1 / 6)
    assert h["with_ellipsis"] == pytest.approx(1 / 6)
    assert h["without_punctuation"] == pytest.approx(1 / 6)  # "hey there"; the emoji is not punctuation
    assert h["with_emoji"] == pytest.approx(1 / 6) and h["emoji_per_reply"] == pytest.approx(1 / 6)
    assert h["lowercase_start"] == pytest.approx(4 / 6)
    assert h["with_contraction"] == pytest.approx(2 / 6)
    assert h["chars"] == pytest.approx(sum(map(len, ["hi!!", "what?", "ok...", "hey there", "I'm in 🎉", "Don't"])) / 6)
    assert h["words"] == pytest.approx(8 / 6)  # hi, what, ok, hey there, I'm in, Don't


def test_vocabulary_richness_known_values():
    assert type_token_ratio(["a a b"]) == pytest.approx(2 / 3)
    # counts a:2 b:1, N = 3: K = 10^4 (1*1 + 4*1 - 3) / 9
    assert yules_k(["a a", "b"]) == pytest.approx(1e4 * 2 / 9)
    assert yules_k(["a b c d"]) == 0 and yules_k([]) == 0


def test_profiles_and_their_distance():
    profile = function_word_profile(["the cat and the dog"])
    assert profile["the"] == pytest.approx(2 / 5) and profile["and"] == pytest.approx(1 / 5)
    assert char_ngram_profile(["abab"], n=2) == {"ab": pytest.approx(2 / 3), "ba": pytest.approx(1 / 3)}
    assert profile_distance(profile, profile) == 0
    assert profile_distance({"x": 1.0}, {"y": 1.0}) == 1


def test_delta_is_zero_for_identical_sets_and_ranks_the_closer_style_first():
    casual = [
        "haha see u there!!",
        "lol no way haha",
        "omg yes!!",
        "ngl so tired haha",
        "yess on my way",
        "wait the pub?? haha",
        "lol ok!!",
        "ooh the cake!!",
        "haha same",
        "anytime!!",
    ]
    deltas = burrows_delta(CASUAL[:10], {"same": CASUAL[:10], "casual": casual, "formal": FORMAL[:10]})
    assert deltas["same"] == 0
    assert 0 < deltas["casual"] < deltas["formal"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=8), st.lists(st.text(max_size=30), max_size=8))
def test_delta_of_a_set_with_itself_is_zero_and_never_negative(a, b):
    deltas = burrows_delta(a, {"self": a, "other": b})
    assert deltas["self"] == 0 and deltas["other"] >= 0


def test_classifier_cannot_tell_identical_sets_but_tells_styles_apart():
    same = discriminate(CASUAL, list(CASUAL), seed=1)
    assert same.auc == pytest.approx(0.5)  # a text's copies share a fold: no learning from the other copy
    different = discriminate(CASUAL, FORMAL, seed=1)
    assert different.auc > 0.9 and different.fpr[0] == 0 and different.tpr[-1] == 1
    assert discriminate(["one"], ["two", "three"]).auc is None


def _nll_interval(sums, counts):
    statistic = stats.ratio_statistic(sums, counts)
    return stats.intervals(lambda w: {"nll": statistic(w)}, len(sums), stats.resamples(len(sums)))["nll"]


def test_token_weighted_nll_and_its_bootstrap_interval():
    assert mean_nll([2.0, 6.0], [1, 3]) == pytest.approx(2.0)
    same = _nll_interval([2.0, 4.0, 6.0], [1, 2, 3])  # 2 nats per token in every example
    assert same.low == pytest.approx(2.0) and same.high == pytest.approx(2.0)
    spread = _nll_interval([1.0, 3.0] * 20, [1, 1] * 20)
    assert spread.low < 2.0 < spread.high and spread.estimate == pytest.approx(2.0)
    assert math.isnan(_nll_interval([1.0], [1]).low)


def test_wilson_interval():
    assert wilson(0, 0) == (None, None)
    low, high = wilson(5, 10)
    assert low == pytest.approx(1 - high) and low < 0.5 < high
    assert wilson(10, 10)[1] == 1.0


def _pairs():
    return [
        (
            [{"role": "system", "content": "sys"}, {"role": "user", "content": f"question {i} <b>?</b>"}],
            f"real {i}",
            f"generated {i}",
        )
        for i in range(6)
    ]


def test_blind_page_hides_the_key_and_scores_a_rater_round_trip(tmp_path):
    page, key_file = write_blind(tmp_path, _pairs())
    html, key = page.read_text(), json.loads(key_file.read_text())
    assert "question 0 &lt;b&gt;?&lt;/b&gt;" in html and "<b>?</b>" not in html
    assert key["blind_id"] in html and json.dumps(key["real"]) not in html and "sys" not in html
    assert sorted(key["real"].values()) == ["A"] * 3 + ["B"] * 3  # the real one first in half the pairs
    for i in range(6):  # the real reply is the option the key names
        letter = key["real"][str(i + 1)]
        assert f"value='{letter}'> {letter}: real {i}" in html
    choices = tmp_path / "choices.json"
    perfect = {n: letter for n, letter in key["real"].items()}
    choices.write_text(json.dumps({"blind_id": key["blind_id"], "choices": perfect}))
    assert score(choices, key_file)["accuracy"] == 1.0
    wrong = {n: "B" if letter == "A" else "A" for n, letter in list(key["real"].items())[:4]}
    choices.write_text(json.dumps({"blind_id": key["blind_id"], "choices": wrong}))
    result = score(choices, key_file)
    assert (result["pairs"], result["answered"], result["correct"], result["accuracy"]) == (6, 4, 0, 0.0)
    choices.write_text(json.dumps({"blind_id": "other", "choices": perfect}))
    with pytest.raises(BlindScoreError, match="blind_id"):
        score(choices, key_file)


def test_blind_key_comes_from_no_seed(tmp_path):
    """The order is new on every write: knowing the evaluation's --seed does not give the key away."""
    keys = set()
    for i in range(8):
        _, key_file = write_blind(tmp_path / str(i), _pairs() * 3)
        keys.add(tuple(json.loads(key_file.read_text())["real"].values()))
    assert len(keys) > 1


def scored_by_hand(n=24):
    items = []
    for i in range(n):
        platform = ("whatsapp", "instagram")[i % 2]
        context = [{"role": "system", "content": "You are Robin."}, {"role": "user", "content": FORMAL[i]}]
        items.append(
            Scored(
                platform,
                context,
                CASUAL[i] + " <script>x</script>",
                nll={"base": 3.0, "tuned": 1.5},
                tokens=3,
                generated={"base": FORMAL[i + 1], "tuned": CASUAL[i + 1]},
            )
        )
    return items


def test_metrics_hold_the_contracted_keys_and_no_text():
    metrics = compute_metrics(scored_by_hand())
    for name in ("base", "tuned"):
        m = metrics[name]
        assert {"nll", "perplexity", "burrows_delta", "auc_real_vs_generated", "per_platform"} <= set(m)
        assert set(m["per_platform"]) == {"whatsapp", "instagram"}
        assert m["perplexity"] == pytest.approx(math.exp(m["nll"]))
    assert metrics["n_examples"] == 24 and metrics["per_platform"]["whatsapp"]["n_examples"] == 12
    assert metrics["tuned"]["nll"] == pytest.approx(0.5) and metrics["base"]["nll"] == pytest.approx(1.0)
    assert metrics["tuned"]["burrows_delta"] < metrics["base"]["burrows_delta"]
    assert metrics["style_signal"]["sufficient"]
    assert any("only 24 test examples" in w for w in metrics["warnings"])
    written = json.dumps(metrics)
    assert not [t for t in CASUAL + FORMAL if t in written]


def test_report_renders_every_section_offline_and_escapes_text(tmp_path):
    scored = scored_by_hand()
    metrics = {**compute_metrics(scored), "run": "demo", "n_skipped_too_long": 0, "max_new_tokens": 24, "seed": 0}
    (tmp_path / "train_log.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.0}\n')
    html = eval_report.render(metrics, scored, tmp_path)
    for section in eval_report.SECTIONS:
        assert f"id='{section}'" in html
    assert html.count("data:image/png;base64,") == 5  # lengths, habits, Delta, ROC, loss curve
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html


def test_warns_when_the_users_messages_cannot_be_told_from_others():
    items = scored_by_hand()
    for item in items:  # the user writes exactly like the people they answer
        item.context[-1]["content"] = item.real
    metrics = compute_metrics(items)
    assert metrics["style_signal"]["auc_me_vs_others"] == pytest.approx(0.5)
    assert not metrics["style_signal"]["sufficient"]
    assert any("too little style signal" in w for w in metrics["warnings"])
