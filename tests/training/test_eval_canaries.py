"""The memorization audit end to end: canaries (a fake card number, a phone number, a made-up word)
planted in a few of the user's WhatsApp replies of the sample data go through ingest, dbt, a short
tiny-cpu training and `ai-me evaluate`. The identifiers are redacted before training, so they are in
no dataset and the adapter never emits them; the made-up word is trained on and its exposure measured.
The same run, copied, checks `ai-me evaluate --compare`. Nothing of it reaches the console."""

import json
import re
import shutil

import pyarrow.parquet as pq
import pytest

from ingest.cli import main as ai_me
from tests.support.pipeline import sample_warehouse
from tests.training.test_eval_statistics import assert_every_interval_contains_its_estimate

CARD, PHONE, WORD = "4111 1111 1111 1111", "+44 7700 900123", "zorblatt"
PLANTED = f"my card is {CARD} and my new number is {PHONE}, the password is {WORD} ok"
FAST = [  # a smaller tiny model than the preset's: this test pays for the whole pipeline
    "tiny.pretrain_steps=30",
    "tiny.hidden_size=64",
    "tiny.intermediate_size=128",
    "tiny.num_heads=2",
    "tiny.vocab_size=512",
    "train.epochs=3",
]
# The identifiers as they could appear, spaced or not; bare "4111" could be a float's digits.
_IDENTIFIER = re.compile(r"4111\D?1111|7700\D?900\D?123")
_ROBIN_LINE = re.compile(r"^(.+? - Robin(?: Vale)?: )[^<\n]+$")


def _plant(whatsapp_dir, per_chat: int = 2) -> int:
    """Replace the first plain replies of the user in each chat (the oldest: the train split)."""
    planted = 0
    for chat in sorted(whatsapp_dir.glob("*.txt")):
        lines, left = chat.read_text(encoding="utf-8").splitlines(), per_chat
        for i, line in enumerate(lines):
            match = _ROBIN_LINE.match(line)
            if left and match and i > 2:
                lines[i], left, planted = match.group(1) + PLANTED, left - 1, planted + 1
        chat.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return planted


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    def plant(samples):
        assert _plant(samples / "whatsapp") >= 4

    with pytest.MonkeyPatch.context() as mp:
        warehouse, _ = sample_warehouse(tmp_path_factory.mktemp("canaries"), mp, 600, plant)
        assert ai_me(["train", "--run", "canary", *(a for s in FAST for a in ("--set", s))]) == 0
        yield warehouse, mp


def test_identifiers_never_reach_the_datasets_or_the_adapter_and_the_word_is_exposed(pipeline, capsys):
    warehouse, _ = pipeline
    capsys.readouterr()
    canaries = [a for c in (CARD, PHONE, WORD) for a in ("--canary", c)]
    assert ai_me(["evaluate", "--run", "canary", "--max-new-tokens", "16", *canaries]) == 0
    out = capsys.readouterr()
    assert "canary 3: in " in out.out and "exposure base" in out.out
    assert WORD not in out.out + out.err and not _IDENTIFIER.search(out.out + out.err)

    replies = {
        split: [
            row["messages"][-1]["content"]
            for row in pq.read_table(warehouse / "datasets" / f"{split}.parquet").to_pylist()
        ]
        for split in ("train", "val", "test")
    }
    every_text = json.dumps(replies)
    assert not _IDENTIFIER.search(every_text)
    assert sum(WORD in r for r in replies["train"]) >= 1

    run = warehouse / "models" / "canary"
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    card, phone, word = metrics["memorization"]["canary_exposure"]
    assert card["training_replies"] == phone["training_replies"] == 0  # redacted: nothing to be exposed
    assert card["exposure"] is None and phone["exposure"] is None
    assert word["training_replies"] == sum(WORD in r for r in replies["train"])
    for name in ("base", "tuned"):
        assert 0 <= word["exposure"][name] <= word["max_exposure"] == pytest.approx(8.0)
        assert word["extrapolated_exposure"][name] >= 0
    assert set(metrics["memorization"]["verbatim_rate"]) == {"base", "tuned", "test_reference"}
    assert assert_every_interval_contains_its_estimate(metrics) >= 14
    written = json.dumps(metrics)
    assert WORD not in written and not _IDENTIFIER.search(written)

    html = (run / "eval" / "report.html").read_text(encoding="utf-8")
    assert "id='memorization'" in html and "What the model remembers" in html
    # The adapter's greedy replies to the contexts of the planted replies hold no identifier.
    from training.inference import generate_replies, load_run

    model, tokenizer, info = load_run(run, device="cpu")
    contexts = [
        row["messages"][:-1]
        for row in pq.read_table(warehouse / "datasets" / "train.parquet").to_pylist()
        if WORD in row["messages"][-1]["content"]
    ]
    emitted = " ".join(generate_replies(model, tokenizer, info.end_of_turn, contexts, 48, temperature=0))
    assert not _IDENTIFIER.search(emitted)


def test_compare_puts_runs_side_by_side_and_says_when_they_were_scored_differently(pipeline, capsys):
    warehouse, _ = pipeline
    run = warehouse / "models" / "canary"
    if not (run / "eval" / "metrics.json").is_file():
        assert ai_me(["evaluate", "--run", "canary", "--max-new-tokens", "8", "--memorization", "0"]) == 0
    copy = warehouse / "models" / "canary-copy"
    shutil.copytree(run, copy)
    capsys.readouterr()
    assert ai_me(["evaluate", "--compare", "canary", "canary-copy"]) == 0
    out = capsys.readouterr().out
    assert "2 runs on the current test split" in out and "note:" not in out
    [header, first, second] = out.splitlines()[1:4]
    assert "NLL tuned − base" in header and first.startswith("canary ") and second.startswith("canary-copy ")
    assert first.split()[1:] == second.split()[1:]  # the same run: the same figures

    stale = json.loads((copy / "eval" / "metrics.json").read_text())
    stale["test_split"]["fingerprint"] = "another split"
    (copy / "eval" / "metrics.json").write_text(json.dumps(stale))
    compare = ["evaluate", "--compare", "canary", "canary-copy", "--max-examples", "4", "--memorization", "0"]
    assert ai_me([*compare, "--max-new-tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert "canary-copy: evaluated on another test split; evaluated now on the current one" in out
    assert "scored on different test examples" in out
    assert ai_me(["evaluate", "--compare", "canary", "missing"]) == 1


def test_memory_arms_score_like_the_others_and_retrieve_from_the_train_split_only(pipeline, capsys):
    warehouse, _ = pipeline
    capsys.readouterr()
    evaluate = ["evaluate", "--run", "canary", "--memory", "2", "--memorization", "0", "--max-new-tokens", "8"]
    assert ai_me(evaluate) == 0
    out = capsys.readouterr().out
    assert "tuned + memory" in out and "memory: " in out and "past exchanges per prompt" in out
    metrics = json.loads((warehouse / "models" / "canary" / "eval" / "metrics.json").read_text())
    assert set(metrics["base_memory"]) == set(metrics["tuned_memory"]) == set(metrics["tuned"])
    assert set(metrics["paired_vs_tuned"]) == set(metrics["verdicts_vs_tuned"]) == {"base_memory", "tuned_memory"}
    assert metrics["base_memory"]["reply_tokens"] == metrics["base"]["reply_tokens"]  # the same replies scored
    use = metrics["memory"]
    train = pq.read_table(warehouse / "datasets" / "train.parquet")
    assert use["k"] == 2 and 0 < use["mean_exchanges"] <= 2 and 0 < use["max_tokens"] <= use["budget_tokens"]
    indexed = pq.read_table(warehouse / "memory" / "exchanges.parquet").num_rows
    assert use["index_exchanges"] == indexed <= train.num_rows
    assert assert_every_interval_contains_its_estimate(metrics) >= 30
    assert WORD not in json.dumps(metrics)  # the planted word is in the memory, never in the numbers
    html = (warehouse / "models" / "canary" / "eval" / "report.html").read_text(encoding="utf-8")
    assert "tuned + memory − tuned" in html and "<th>base + memory</th>" in html
