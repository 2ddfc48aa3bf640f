"""Style evaluation of a trained run on the held-out test split, against its base model as control.

`evaluate_run(run_dir)` scores the user's real replies under the base and the tuned model
(likelihood), generates a reply to every test context with both (same prompts, same seeded
sampling), compares the generations with the real replies (stylometry, Burrows' Delta, a
real-vs-generated authorship classifier) and writes warehouse/models/<run>/eval/metrics.json
and report.html. Message text goes into the report only, never into metrics.json or logs.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from datasets import Dataset

from ingest.core.config import ConfigError
from training.data import fit_to_length
from training.evaluation import report as eval_report
from training.evaluation.authorship import discriminate
from training.evaluation.blind import write_blind
from training.evaluation.likelihood import bootstrap_nll, likelihood_and_replies, mean_nll
from training.evaluation.stylometry import burrows_delta, describe
from training.inference import generate_replies, load_run
from training.numbers import decimals

MODELS = ("base", "tuned")
MIN_EXAMPLES = 100  # below this, the report warns that the sample is too small to conclude
MIN_STYLE_SIGNAL_AUC = 0.6  # the user's messages vs other people's must separate at least this well
DELTA_BOOTSTRAP_ROUNDS = 200


@dataclass
class Scored:
    """One test example: where it comes from, its real reply and each model's NLL and generation."""

    platform: str
    context: list[dict]
    real: str
    nll: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    generated: dict[str, str] = field(default_factory=dict)


def main(cfg) -> dict:
    """Evaluate the run a TrainConfig names (the Dagster asset's entry point)."""
    return evaluate_run(cfg.run_dir, cfg.warehouse_root)


def evaluate_run(
    run_dir: Path,
    warehouse: Path | None = None,
    max_examples: int = 200,
    max_new_tokens: int = 48,
    seed: int = 0,
    device: str | None = None,
) -> dict:
    """Evaluate the run in `run_dir`; writes eval/metrics.json and eval/report.html there and returns the metrics."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    warehouse = Path(warehouse) if warehouse else run_dir.parent.parent
    model, tokenizer, info = load_run(run_dir, device=device)
    _use_run_threads(run_dir, model)
    examples, skipped = load_test_examples(warehouse, tokenizer, _max_length(run_dir, tokenizer), max_examples, seed)
    scored = score_examples(model, tokenizer, info.end_of_turn, examples, max_new_tokens, seed)
    metrics = compute_metrics(scored, seed)
    metrics.update(
        run=run_dir.name,
        n_skipped_too_long=skipped,
        max_new_tokens=max_new_tokens,
        seed=seed,
        seconds=round(time.perf_counter() - started, 2),
    )
    out = run_dir / "eval"
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(_finite(metrics), indent=2))
    (out / "report.html").write_text(eval_report.render(metrics, scored, run_dir), encoding="utf-8")
    return metrics


def _max_length(run_dir: Path, tokenizer) -> int:
    """The run's train.max_length: test examples are fitted to it as the training examples were."""
    cfg = _run_config(run_dir)
    return cfg.train.max_length if cfg else tokenizer.model_max_length


def _run_config(run_dir: Path):
    from training.config import load_preset

    path = run_dir / "config.yaml"
    return load_preset(str(path)) if path.is_file() else None


def _use_run_threads(run_dir: Path, model) -> None:
    """On CPU, as many torch threads as the run trained with (1 wins for tiny models on busy machines)."""
    cfg = _run_config(run_dir)
    if model.device.type == "cpu" and cfg and cfg.train.cpu_threads:
        torch.set_num_threads(cfg.train.cpu_threads)


def blind_test(
    run_dir: Path,
    n: int,
    warehouse: Path | None = None,
    max_new_tokens: int = 48,
    seed: int = 0,
    device: str | None = None,
) -> tuple[Path, int]:
    """Write eval/blind.html pairing the real and the tuned model's reply for up to `n` test contexts.

    Returns the page and its number of pairs."""
    run_dir = Path(run_dir)
    warehouse = Path(warehouse) if warehouse else run_dir.parent.parent
    model, tokenizer, info = load_run(run_dir, device=device)
    _use_run_threads(run_dir, model)
    examples, _ = load_test_examples(warehouse, tokenizer, _max_length(run_dir, tokenizer), n, seed)
    contexts = [ex["messages"][:-1] for ex in examples]
    generated = generate_replies(model, tokenizer, info.end_of_turn, contexts, max_new_tokens, seed)
    pairs = [
        (context, ex["messages"][-1]["content"], reply) for context, ex, reply in zip(contexts, examples, generated)
    ]
    page, _ = write_blind(run_dir / "eval", pairs)
    return page, len(pairs)


def load_test_examples(
    warehouse: Path, tokenizer, max_length: int, max_examples: int, seed: int
) -> tuple[list[dict], int]:
    """The test split (a seeded sample of `max_examples`), fitted to max_length as in training."""
    path = warehouse / "datasets" / "test.parquet"
    if not path.is_file():
        raise ConfigError(f"{path} not found: build the datasets first (ai-me transform)")
    rows = pq.read_table(path, columns=["example_id", "platform", "messages"]).to_pylist()
    if not rows:
        raise ConfigError(f"{path} has no examples")
    if max_examples and len(rows) > max_examples:
        picks = np.random.default_rng(seed).choice(len(rows), size=max_examples, replace=False)
        rows = [rows[i] for i in sorted(picks)]
    fitted, counts = fit_to_length(Dataset.from_list(rows), tokenizer, max_length)
    if not len(fitted):
        raise ConfigError(f"no example of {path} fits the run's max length of {max_length} tokens")
    return fitted.to_list(), counts.dropped_too_long


def score_examples(
    model, tokenizer, end_of_turn: str, examples: list[dict], max_new_tokens: int, seed: int
) -> list[Scored]:
    """Each model scores every real reply and writes its own reply to every context, in batches;
    both models get the same batches and seeds, so their generations differ by the adapter only."""
    items = [Scored(ex["platform"], ex["messages"][:-1], ex["messages"][-1]["content"]) for ex in examples]
    for name in MODELS:
        with _adapter(model, name):
            results = likelihood_and_replies(
                model, tokenizer, end_of_turn, [ex["messages"] for ex in examples], max_new_tokens, seed
            )
        for item, result in zip(items, results):
            item.nll[name], item.tokens, item.generated[name] = result.nll, result.tokens, result.reply
    return items


def _adapter(model, name: str):
    """The tuned model as is; the base with the LoRA adapter switched off."""
    return model.disable_adapter() if name == "base" else nullcontext()


def compute_metrics(scored: list[Scored], seed: int = 0) -> dict:
    """metrics.json: overall and per-platform numbers for each model, the real replies' style, warnings."""
    real = [s.real for s in scored]
    platforms = sorted({s.platform for s in scored})
    by_platform = {p: [s for s in scored if s.platform == p] for p in platforms}
    deltas, delta_cis = _deltas(scored), _bootstrap_deltas(scored, seed)
    platform_deltas = {p: _deltas(items) for p, items in by_platform.items()}
    metrics = {"n_examples": len(scored), "real": {"stylometry": describe(real, real)}}
    for name in MODELS:
        metrics[name] = {
            **_model_metrics(scored, name, seed),
            "burrows_delta": deltas[name],
            "burrows_delta_ci": delta_cis[name],
            "stylometry": describe([s.generated[name] for s in scored], real),
        }
        metrics[name]["per_platform"] = {
            p: {**_model_metrics(items, name, seed, intervals=False), "burrows_delta": platform_deltas[p][name]}
            for p, items in by_platform.items()
        }
    metrics["per_platform"] = {p: {"n_examples": len(items)} for p, items in by_platform.items()}
    metrics["style_signal"] = _style_signal(scored, seed)
    metrics["relevance"] = None  # needs a local sentence-embedding model; not measured yet
    metrics["warnings"] = _warnings(metrics)
    return metrics


def _model_metrics(scored: list[Scored], name: str, seed: int, intervals: bool = True) -> dict:
    sums, counts = [s.nll[name] for s in scored], [s.tokens for s in scored]
    nll = mean_nll(sums, counts)
    auc = discriminate([s.real for s in scored], [s.generated[name] for s in scored], seed=seed)
    out = {
        "n_examples": len(scored),
        "reply_tokens": sum(counts),
        "nll": nll,
        "perplexity": _exp(nll),
        "auc_real_vs_generated": auc.auc,
    }
    if intervals:
        low, high = bootstrap_nll(sums, counts, seed=seed)
        out.update(nll_ci=[low, high], perplexity_ci=[_exp(low), _exp(high)], roc={"fpr": auc.fpr, "tpr": auc.tpr})
    return out


def _deltas(scored: list[Scored]) -> dict[str, float]:
    """Burrows' Delta of each model's generations to the real replies, all on one scale."""
    return burrows_delta([s.real for s in scored], {name: [s.generated[name] for s in scored] for name in MODELS})


def _bootstrap_deltas(scored: list[Scored], seed: int) -> dict[str, list[float]]:
    """Percentile intervals of each model's Delta, resampling whole examples."""
    if len(scored) < 2:
        return {name: [math.nan, math.nan] for name in MODELS}
    rng = np.random.default_rng(seed)
    rounds = [
        _deltas([scored[i] for i in rng.integers(0, len(scored), size=len(scored))])
        for _ in range(DELTA_BOOTSTRAP_ROUNDS)
    ]
    return {name: [float(v) for v in np.percentile([r[name] for r in rounds], [2.5, 97.5])] for name in MODELS}


def _style_signal(scored: list[Scored], seed: int) -> dict:
    """Can the classifier tell the user's replies from the messages they answer? If not, style is too faint."""
    others = [s.context[-1]["content"] for s in scored if s.context and s.context[-1]["role"] == "user"]
    result = discriminate([s.real for s in scored], others, seed=seed)
    return {
        "auc_me_vs_others": result.auc,
        "n_me": result.n_positive,
        "n_others": result.n_negative,
        "sufficient": result.auc is not None and result.auc >= MIN_STYLE_SIGNAL_AUC,
    }


def _warnings(metrics: dict) -> list[str]:
    warnings = []
    n = metrics["n_examples"]
    if n < MIN_EXAMPLES:
        warnings.append(
            f"only {n} test examples (fewer than {MIN_EXAMPLES}): read the differences against "
            "their confidence intervals; small ones mean nothing"
        )
    base, tuned = metrics["base"]["nll_ci"], metrics["tuned"]["nll_ci"]
    if not (tuned[1] < base[0] or base[1] < tuned[0]):
        warnings.append("the base and tuned NLL confidence intervals overlap: no clear likelihood difference")
    if not metrics["style_signal"]["sufficient"]:
        auc = metrics["style_signal"]["auc_me_vs_others"]
        warnings.append(
            f"your messages and other people's are hard to tell apart (AUC {decimals(auc)}, below "
            f"{MIN_STYLE_SIGNAL_AUC}): the data carries too little style signal for the style metrics"
        )
    return warnings


def _finite(value):
    """NaN and infinities as null: metrics.json stays strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _exp(value: float) -> float:
    return math.exp(value) if math.isfinite(value) else math.nan


def summary(metrics: dict) -> str:
    """A few console lines of numbers (no message text)."""
    lines = [f"evaluate: {metrics['run']}: {metrics['n_examples']} test examples in {metrics['seconds']:.0f}s"]
    for name in MODELS:
        m = metrics[name]
        lines.append(
            f"  {name:5}  NLL {decimals(m['nll'])} [{decimals(m['nll_ci'][0])}, {decimals(m['nll_ci'][1])}]  "
            f"perplexity {decimals(m['perplexity'])}  Burrows' Delta {decimals(m['burrows_delta'])}  "
            f"AUC real vs generated {decimals(m['auc_real_vs_generated'])}"
        )
    lines += [f"  warning: {w}" for w in metrics["warnings"]]
    return "\n".join(lines)
