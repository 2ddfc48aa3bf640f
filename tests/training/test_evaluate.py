"""The whole evaluation on a tiny run trained on toy data: the tuned model must come out closer to
the user's style than its base, the outputs keep their contract, the CLI verb works, the blind test
round-trips. One short training shared by the module; HF_HUB_OFFLINE is set in conftest."""

import json

import pyarrow.parquet as pq
import pytest
import torch

from ingest.cli import main as ai_me
from tests.support.toy_data import write_toy_datasets
from tests.training.test_eval_statistics import assert_every_interval_contains_its_estimate
from training.config import load_preset
from training.evaluation.evaluate import evaluate_run
from training.evaluation.likelihood import likelihood_and_replies
from training.evaluation.report import SECTIONS
from training.inference import load_run
from training.train import main as train

N_TEST = 40
FAST = {
    "tiny.vocab_size": 400,
    "tiny.hidden_size": 64,
    "tiny.num_heads": 2,
    "tiny.intermediate_size": 128,
    "tiny.pretrain_steps": 100,
    "tiny.pretrain_batch_size": 16,  # enough for the base to write text
    "train.max_length": 96,
    "train.batch_size": 16,
    "train.max_steps": 60,
    "train.eval_steps": 100,
    "train.save_steps": 100,
    "train.logging_steps": 5,
    "train.cpu_threads": 1,
    "train.learning_rate": 5e-3,
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("warehouse")
    write_toy_datasets(warehouse, n_train=160, n_val=8, n_test=N_TEST)
    return train(load_preset("tiny-cpu", {**FAST, "warehouse": str(warehouse), "run": "tiny"})).run_dir


@pytest.fixture(scope="module")
def evaluated(run_dir):
    metrics = evaluate_run(run_dir, max_new_tokens=24)
    return metrics, (run_dir / "eval" / "metrics.json").read_text(), (run_dir / "eval" / "report.html").read_text()


def test_tuned_model_beats_its_base_on_likelihood_and_delta(evaluated):
    metrics, _, _ = evaluated
    base, tuned = metrics["base"], metrics["tuned"]
    assert tuned["nll"] < base["nll"] and tuned["perplexity"] < base["perplexity"]
    assert tuned["burrows_delta"] < base["burrows_delta"]


def test_metrics_file_keeps_the_contract_and_holds_no_text(evaluated, run_dir):
    metrics, written, _ = evaluated
    saved = json.loads(written)
    assert saved["n_examples"] == N_TEST == metrics["n_examples"]
    platforms = set(saved["per_platform"])
    assert platforms and platforms <= {"whatsapp", "instagram", "messenger"}
    for name in ("base", "tuned"):
        m = saved[name]
        assert all(
            isinstance(m[k], float) for k in ("nll", "perplexity", "burrows_delta", "auc_real_vs_generated", "chrf")
        )
        assert 0 <= m["chrf_ci"][0] <= m["chrf"] <= m["chrf_ci"][1] <= 100
        assert m["nll_ci"][0] <= m["nll"] <= m["nll_ci"][1]
        assert set(m["per_platform"]) == platforms
        assert sum(p["n_examples"] for p in m["per_platform"].values()) == N_TEST
    assert saved["style_signal"]["sufficient"]
    assert assert_every_interval_contains_its_estimate(saved) >= 14
    assert set(saved["paired"]) == {"nll_diff", "delta_diff", "auc_diff", "chrf_diff"}
    assert "base_memory" not in saved and saved["memory"] is None  # no memory asked for: no memory arms
    assert saved["paired"]["nll_diff"]["ci"][1] < 0 and saved["verdicts"]["nll_diff"].startswith("tuned finds")
    audit = saved["memorization"]
    assert audit["n_train"] == 50 and audit["n_test"] == N_TEST and audit["canary_exposure"] == []
    assert all(0 <= audit["verbatim_rate"][k] <= 1 for k in ("base", "tuned", "test_reference"))
    texts = {
        msg["content"]
        for row in pq.read_table(run_dir.parent.parent / "datasets" / "test.parquet").to_pylist()
        for msg in row["messages"]
        if msg["role"] != "system"
    }
    assert not [t for t in texts if t in written]


def test_report_has_every_section_and_the_real_replies_escaped(evaluated, run_dir):
    _, _, html = evaluated
    assert all(f"id='{section}'" in html for section in SECTIONS)
    assert "https://" not in html and "<script" not in html
    first = pq.read_table(run_dir.parent.parent / "datasets" / "test.parquet").to_pylist()[0]
    from html import escape

    assert escape(first["messages"][-1]["content"]) in html


def test_reply_nll_is_the_models_own_loss_over_the_final_reply(run_dir):
    model, tokenizer, _ = load_run(run_dir, device="cpu")
    messages = pq.read_table(run_dir.parent.parent / "datasets" / "test.parquet").to_pylist()[0]["messages"]
    [scored] = likelihood_and_replies(model, tokenizer, "<|end|>", [messages], max_new_tokens=1)
    nll, n = scored.nll, scored.tokens
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, return_dict=False)
    reply = tokenizer(messages[-1]["content"] + "<|end|>", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + reply])
    labels = torch.tensor([[-100] * len(prompt) + reply])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=labels).loss
    assert n == len(reply)
    assert nll == pytest.approx(float(loss) * n, rel=1e-4)


def run_cli(argv):
    return ai_me(argv)  # the real `ai-me` entry point


def test_cli_blind_test_round_trips_and_prints_no_text(run_dir, evaluated, capsys, tmp_path):
    warehouse = str(run_dir.parent.parent)
    assert (
        run_cli(["evaluate", "--run", "tiny", "--warehouse", warehouse, "--blind", "6", "--max-new-tokens", "8"]) == 0
    )
    key = json.loads((run_dir / "eval" / "blind_key.json").read_text())
    assert len(key["real"]) == 6 and key["blind_id"] in (run_dir / "eval" / "blind.html").read_text()
    answers = dict(list(key["real"].items())[:4])
    answers["5"] = "B" if key["real"]["5"] == "A" else "A"
    choices = tmp_path / "choices.json"
    choices.write_text(json.dumps({"blind_id": key["blind_id"], "choices": answers}))
    assert run_cli(["evaluate", "--run", "tiny", "--warehouse", warehouse, "--score", str(choices)]) == 0
    out = capsys.readouterr().out
    assert "blind test with 6 pairs" in out and "real reply found in 4 of 5 pairs (80%" in out
    texts = {
        msg["content"]
        for row in pq.read_table(run_dir.parent.parent / "datasets" / "test.parquet").to_pylist()
        for msg in row["messages"]
        if msg["role"] != "system"
    }
    assert not [t for t in texts if t in out]


def test_cli_evaluate_prints_a_summary_and_fails_cleanly_on_a_missing_run(run_dir, evaluated, capsys):
    warehouse = str(run_dir.parent.parent)
    assert (
        run_cli(["evaluate", "--run", "tiny", "--warehouse", warehouse, "--max-examples", "6", "--max-new-tokens", "6"])
        == 0
    )
    out = capsys.readouterr().out
    assert "evaluate: tiny: 6 test examples" in out and "Burrows' Delta" in out
    assert json.loads((run_dir / "eval" / "metrics.json").read_text())["n_examples"] == 6
    assert run_cli(["evaluate", "--run", "missing", "--warehouse", warehouse]) == 1
    assert "not a finished training run" in capsys.readouterr().err
