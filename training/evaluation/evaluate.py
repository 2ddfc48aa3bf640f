"""Style evaluation of a trained run on the held-out test split, against its base model as control.

`evaluate_run(run_dir)` scores the user's real replies under the base and the tuned model
(likelihood), generates a reply to every test context with both (same prompts, same seeded
sampling), compares the generations with the real replies (stylometry, Burrows' Delta, a
real-vs-generated authorship classifier, chrF) and writes warehouse/models/<run>/eval/metrics.json
and report.html. With memory (k > 0), two more arms prompt both models with the user's k past
exchanges most like each test message (train split only), compared against tuned alone.
Message text goes into the report only, never into metrics.json or logs.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from datasets import Dataset

from ingest.core.config import ConfigError
from training.data import fit_to_length
from training.evaluation import memorization
from training.evaluation import report as eval_report
from training.evaluation import statistics as stats
from training.evaluation.arms import LABELS, MEMORY_ARMS, MODELS, arms_in, model_of
from training.evaluation.authorship import discriminate
from training.evaluation.blind import write_blind
from training.evaluation.cli import MEMORIZATION_EXAMPLES
from training.evaluation.content import chrf_scores
from training.evaluation.likelihood import likelihood_and_replies, mean_nll
from training.evaluation.stylometry import DeltaSets, burrows_delta, describe
from training.inference import generate_replies, load_run
from training.memory.prompt import Recall
from training.numbers import decimals

MIN_EXAMPLES = 100  # below this, the report warns that the sample is too small to conclude
MIN_STYLE_SIGNAL_AUC = 0.6  # the user's messages vs other people's must separate at least this well


@dataclass
class Scored:
    """One test example: where it comes from, its real reply and each model's NLL and generation."""

    platform: str
    context: list[dict]
    real: str
    partner: str | None = None
    nll: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    generated: dict[str, str] = field(default_factory=dict)
    example_id: str = ""


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
    memorization_examples: int = MEMORIZATION_EXAMPLES,
    canaries: list[str] = (),
    memory: int = 0,
    memory_budget: int = 384,
) -> dict:
    """Evaluate the run in `run_dir`; writes eval/metrics.json and eval/report.html there and returns the metrics.

    The audit of what the model remembers prompts with `memorization_examples` training examples (0: no
    audit) and measures the exposure of each of the `canaries` planted in training replies. `memory` past
    exchanges (within `memory_budget` tokens) go into the prompts of the memory arms (0: no such arms)."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    warehouse = Path(warehouse) if warehouse else run_dir.parent.parent
    model, tokenizer, info = load_run(run_dir, device=device)  # dtype auto: bf16 where the CPU has it natively
    _use_run_threads(run_dir, model)
    dtype = str(model.dtype).removeprefix("torch.")
    max_length = _max_length(run_dir, tokenizer)
    examples, skipped = load_test_examples(warehouse, tokenizer, max_length, max_examples, seed)
    recall = Recall.open(warehouse, memory, memory_budget) if memory else None
    scored, memory_use = score_examples(
        model, tokenizer, info.end_of_turn, examples, max_new_tokens, seed, recall, max_length
    )
    scoring_seconds = time.perf_counter() - started
    audit, extractions, planted = None, [], []
    if memorization_examples:
        train = _read_split(warehouse, "train")
        planted = [memorization.locate(text, train) for text in canaries]
        train = _fit(_sample(train, memorization_examples, seed), tokenizer, max_length)[0]
        audit, extractions = memorization.audit(
            model,
            tokenizer,
            info.end_of_turn,
            partial(_adapter, model),
            train,
            examples[:memorization_examples],
            planted,
            max_new_tokens,
            seed,
        )
    del model  # the statistics need no model: its memory goes back before the bootstrap
    gc.collect()
    metrics = compute_metrics(scored, seed)
    metrics.update(
        run=run_dir.name,
        test_split=split_fingerprint(warehouse, [s.example_id for s in scored]),
        n_skipped_too_long=skipped,
        max_new_tokens=max_new_tokens,
        seed=seed,
        memorization=audit,
        memory=memory_use,
        dtype=dtype,
        seconds_per_100_examples=round(100 * scoring_seconds / len(scored), 2),
        seconds=round(time.perf_counter() - started, 2),
    )
    out = run_dir / "eval"
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(_finite(metrics), indent=2))
    report = eval_report.render(metrics, scored, run_dir, extractions, planted)
    (out / "report.html").write_text(report, encoding="utf-8")
    return metrics


def split_fingerprint(warehouse: Path, evaluated_ids: list[str]) -> dict:
    """Hashes of the test split's example ids and of the evaluated sample's: runs compare on equal ones."""
    ids = sorted(
        pq.read_table(warehouse / "datasets" / "test.parquet", columns=["example_id"])["example_id"].to_pylist()
    )
    return {"fingerprint": _hash(ids), "examples_fingerprint": _hash(sorted(evaluated_ids)), "n_split": len(ids)}


def _hash(ids: list[str]) -> str:
    return hashlib.blake2b("\n".join(map(str, ids)).encode(), digest_size=8).hexdigest()


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
    rows = _read_split(warehouse, "test")
    if not rows:
        raise ConfigError(f"{warehouse / 'datasets' / 'test.parquet'} has no examples")
    fitted, dropped = _fit(_sample(rows, max_examples, seed), tokenizer, max_length)
    if not fitted:
        raise ConfigError(f"no test example fits the run's max length of {max_length} tokens")
    return fitted, dropped


def _read_split(warehouse: Path, split: str) -> list[dict]:
    path = warehouse / "datasets" / f"{split}.parquet"
    if not path.is_file():
        raise ConfigError(f"{path} not found: build the datasets first (ai-me transform)")
    columns = [c for c in ("example_id", "platform", "partner", "messages") if c in pq.read_schema(path).names]
    return pq.read_table(path, columns=columns).to_pylist()


def _sample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded sample of `n` rows in their order (0: all)."""
    if not n or len(rows) <= n:
        return rows
    picks = np.random.default_rng(seed).choice(len(rows), size=n, replace=False)
    return [rows[i] for i in sorted(picks)]


def _fit(rows: list[dict], tokenizer, max_length: int) -> tuple[list[dict], int]:
    fitted, counts = fit_to_length(Dataset.from_list(rows), tokenizer, max_length)
    return fitted.to_list(), counts.dropped_too_long


def score_examples(
    model,
    tokenizer,
    end_of_turn: str,
    examples: list[dict],
    max_new_tokens: int,
    seed: int,
    recall: Recall | None = None,
    max_length: int | None = None,
) -> tuple[list[Scored], dict | None]:
    """Each arm scores every real reply and writes its own reply to every context, in batches; all arms
    get the same batches and seeds, so their generations differ by the adapter or the memory only.

    Returns the scored examples and, with `recall`, how much memory the prompts held (counts only)."""
    items = [
        Scored(
            ex["platform"],
            ex["messages"][:-1],
            ex["messages"][-1]["content"],
            ex.get("partner"),
            example_id=ex["example_id"],
        )
        for ex in examples
    ]
    conversations = {name: [ex["messages"] for ex in examples] for name in MODELS}
    memory_use = None
    if recall:
        remembered = [
            recall.into(ex["messages"], tokenizer, item.platform, item.partner, max_length, prompt=False)
            for ex, item in zip(examples, items)
        ]
        conversations.update(dict.fromkeys(MEMORY_ARMS, remembered))
        memory_use = _memory_use(recall, examples, remembered, tokenizer)
    for name, chats in conversations.items():
        with _adapter(model, model_of(name)):
            results = likelihood_and_replies(model, tokenizer, end_of_turn, chats, max_new_tokens, seed)
        for item, result in zip(items, results):
            item.nll[name], item.tokens, item.generated[name] = result.nll, result.tokens, result.reply
    return items, memory_use


def _memory_use(recall: Recall, examples: list[dict], remembered: list[list[dict]], tokenizer) -> dict:
    """How many past exchanges the memory arms' prompts held, and how many tokens they took."""

    def length(messages):
        return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False))

    exchanges = [(len(r) - len(ex["messages"])) // 2 for ex, r in zip(examples, remembered)]
    tokens = [length(r) - length(ex["messages"]) for ex, r in zip(examples, remembered)]
    return {
        "k": recall.k,
        "budget_tokens": recall.budget,
        "index_exchanges": recall.index.size,
        "mean_exchanges": float(np.mean(exchanges)),
        "mean_tokens": float(np.mean(tokens)),
        "max_tokens": int(max(tokens)),
    }


def _adapter(model, name: str):
    """The tuned model as is; the base with the LoRA adapter switched off."""
    return model.disable_adapter() if name == "base" else nullcontext()


def compute_metrics(scored: list[Scored], seed: int = 0) -> dict:
    """metrics.json: overall and per-platform numbers for each arm, the real replies' style, the
    paired comparisons of tuned against base (and of each memory arm against tuned) with their
    verdicts, warnings."""
    arms = list(scored[0].nll) if scored else list(MODELS)
    real = [s.real for s in scored]
    platforms = sorted({s.platform for s in scored})
    by_platform = {p: [s for s in scored if s.platform == p] for p in platforms}
    aucs = {name: discriminate(real, [s.generated[name] for s in scored], seed=seed) for name in arms}
    found = paired_intervals(scored, aucs, arms, seed)
    platform_deltas = {p: _deltas(items, arms) for p, items in by_platform.items()}
    metrics = {"n_examples": len(scored), "real": {"stylometry": describe(real, real)}}
    for name in arms:
        nll, delta, auc, chrf = (found[f"{name}.{key}"] for key in ("nll", "delta", "auc", "chrf"))
        metrics[name] = {
            "n_examples": len(scored),
            "reply_tokens": sum(s.tokens for s in scored),
            "nll": nll.estimate,
            "perplexity": _exp(nll.estimate),
            "auc_real_vs_generated": auc.estimate if aucs[name].auc is not None else None,
            "nll_ci": [nll.low, nll.high],
            "perplexity_ci": [_exp(nll.low), _exp(nll.high)],
            "auc_real_vs_generated_ci": [auc.low, auc.high] if aucs[name].auc is not None else None,
            "roc": {"fpr": aucs[name].fpr, "tpr": aucs[name].tpr},
            "burrows_delta": delta.estimate,
            "burrows_delta_ci": [delta.low, delta.high],
            "chrf": chrf.estimate,
            "chrf_ci": [chrf.low, chrf.high],
            "stylometry": describe([s.generated[name] for s in scored], real),
        }
        metrics[name]["per_platform"] = {
            p: {**_platform_metrics(items, name, seed), "burrows_delta": platform_deltas[p][name]}
            for p, items in by_platform.items()
        }
    metrics["paired"] = {key: found[key].as_dict() for key in PAIRED}
    metrics["verdicts"] = {key: verdict(key, found[key]) for key in PAIRED}
    memory_arms = [arm for arm in arms if arm in MEMORY_ARMS]
    if memory_arms:
        metrics["paired_vs_tuned"] = {arm: {k: found[f"{arm}:{k}"].as_dict() for k in PAIRED} for arm in memory_arms}
        metrics["verdicts_vs_tuned"] = {
            arm: {k: verdict(k, found[f"{arm}:{k}"], LABELS[arm], "tuned") for k in PAIRED} for arm in memory_arms
        }
    metrics["intervals"] = {
        "level": stats.LEVEL,
        "rounds": stats.ROUNDS,
        "method": {key: interval.method for key, interval in found.items()},
    }
    metrics["per_platform"] = {p: {"n_examples": len(items)} for p, items in by_platform.items()}
    metrics["style_signal"] = _style_signal(scored, seed)
    metrics["relevance"] = None  # needs a local sentence-embedding model; not measured yet
    metrics["warnings"] = _warnings(metrics)
    return metrics


# tuned − base (and a memory arm − tuned): below 0, the first is better on NLL, Delta and AUC;
# above 0 on chrF (more of the real reply's character n-grams).
PAIRED = ("nll_diff", "delta_diff", "auc_diff", "chrf_diff")
_PAIRED_METRIC = {"nll_diff": "nll", "delta_diff": "delta", "auc_diff": "auc", "chrf_diff": "chrf"}


def paired_intervals(scored: list[Scored], aucs: dict, arms: list[str], seed: int) -> dict[str, stats.Interval]:
    """Each arm's NLL, Delta, AUC and chrF, tuned − base and each memory arm − tuned, all on the same
    bootstrap resamples of the test examples (and the same jackknife), so the differences are paired."""
    n = len(scored)
    tokens = [s.tokens for s in scored]
    nll = {name: stats.ratio_statistic([s.nll[name] for s in scored], tokens) for name in arms}
    chrf = {
        name: stats.ratio_statistic(chrf_scores([s.generated[name] for s in scored], [s.real for s in scored]), [1] * n)
        for name in arms
    }
    deltas = DeltaSets([s.real for s in scored], {name: [s.generated[name] for s in scored] for name in arms})
    auc = {
        name: stats.weighted_auc(a.scores[:n], a.scores[n:]) if a.auc is not None else lambda w: math.nan
        for name, a in aucs.items()
    }
    comparisons = {"": ("tuned", "base"), **{f"{arm}:": (arm, "tuned") for arm in arms if arm in MEMORY_ARMS}}

    def statistic(w):
        delta = deltas.delta(w)
        values = {}
        for name in arms:
            values.update({f"{name}.nll": nll[name](w), f"{name}.auc": auc[name](w), f"{name}.chrf": chrf[name](w)})
            values[f"{name}.delta"] = delta[name]
        for prefix, (first, second) in comparisons.items():
            for key, metric in _PAIRED_METRIC.items():
                values[prefix + key] = values[f"{first}.{metric}"] - values[f"{second}.{metric}"]
        return values

    return stats.intervals(statistic, n, stats.resamples(n, seed=seed) if n > 1 else None)


_VERDICTS = {  # metric, unit, what a negative and a positive difference mean ({a} against {b})
    "nll_diff": (
        "NLL",
        " nats per token",
        "{a} finds your real replies more likely",
        "{a} finds your real replies less likely",
    ),
    "delta_diff": ("Delta", "", "{a} is closer to you", "{a} is further from you"),
    "auc_diff": (
        "AUC",
        "",
        "{a} replies are harder to tell from yours",
        "{a} replies are easier to tell from yours",
    ),
    "chrf_diff": (
        "chrF",
        " points",
        "{a} replies share less of your real replies' wording",
        "{a} replies share more of your real replies' wording",
    ),
}


def verdict(key: str, result: stats.Interval, first: str = "tuned", second: str = "base") -> str:
    """One plain line on `first` − `second`, stating a direction only when the interval excludes 0."""
    metric, unit, lower, higher = _VERDICTS[key]
    lower, higher, subject = lower.format(a=first), higher.format(a=first), metric
    if second != "base":  # tuned − base is the default comparison; others say what they compare
        lower, higher, subject = f"{lower} than {second}", f"{higher} than {second}", f"{metric}, {first} vs {second}"
    figure = f"{metric} {_signed(result.estimate)} [{_signed(result.low)}, {_signed(result.high)}]{unit}"
    if not math.isfinite(result.estimate):
        return f"{subject}: not measured (too few examples)"
    if result.excludes_zero():
        return f"{lower if result.estimate < 0 else higher}: {figure}"
    needed = stats.examples_needed(result)
    more = f"; about {needed} test examples would be needed to tell a difference this size" if needed else ""
    return f"{subject}: no measurable difference ({figure}){more}"


def _signed(value: float) -> str:
    return decimals(value).replace("-", "−")


def _platform_metrics(scored: list[Scored], name: str, seed: int) -> dict:
    sums, counts = [s.nll[name] for s in scored], [s.tokens for s in scored]
    nll = mean_nll(sums, counts)
    auc = discriminate([s.real for s in scored], [s.generated[name] for s in scored], seed=seed)
    return {
        "n_examples": len(scored),
        "reply_tokens": sum(counts),
        "nll": nll,
        "perplexity": _exp(nll),
        "auc_real_vs_generated": auc.auc,
    }


def _deltas(scored: list[Scored], arms: list[str]) -> dict[str, float]:
    """Burrows' Delta of each arm's generations to the real replies, all on one scale."""
    return burrows_delta([s.real for s in scored], {name: [s.generated[name] for s in scored] for name in arms})


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
    for name in arms_in(metrics):
        m = metrics[name]
        lines.append(
            f"  {LABELS[name]:14}  NLL {_with_ci(m['nll'], m['nll_ci'])}  perplexity {decimals(m['perplexity'])}  "
            f"Burrows' Delta {_with_ci(m['burrows_delta'], m['burrows_delta_ci'])}  "
            f"AUC real vs generated {_with_ci(m['auc_real_vs_generated'], m['auc_real_vs_generated_ci'])}  "
            f"chrF {_with_ci(m['chrf'], m['chrf_ci'])}"
        )
    lines += [f"  {line}" for line in metrics["verdicts"].values()]
    for verdicts in metrics.get("verdicts_vs_tuned", {}).values():
        lines += [f"  {line}" for line in verdicts.values()]
    if metrics.get("memory"):
        use = metrics["memory"]
        lines.append(
            f"  memory: {decimals(use['mean_exchanges'], 1)} of k={use['k']} past exchanges per prompt on average, "
            f"{decimals(use['mean_tokens'], 0)} tokens (budget {use['budget_tokens']}), from {use['index_exchanges']}"
        )
    audit = metrics.get("memorization")
    if audit:
        rate = audit["verbatim_rate"]
        lines.append(
            f"  memorization: training replies repeated word for word: base {_share(rate['base'])}, tuned "
            f"{_share(rate['tuned'])} (test replies, never seen: {_share(rate['test_reference'])})"
        )
        for c in audit["canary_exposure"]:
            exposure = c["exposure"] or {}
            lines.append(
                f"  canary {c['canary']}: in {c['training_replies']} training replies"
                + (
                    f", exposure base {decimals(exposure['base'], 1)} tuned {decimals(exposure['tuned'], 1)} "
                    f"of {decimals(c['max_exposure'], 1)} bits"
                    if exposure
                    else ""
                )
            )
    lines += [f"  warning: {w}" for w in metrics["warnings"]]
    return "\n".join(lines)


def _with_ci(value, ci) -> str:
    return f"{decimals(value)} [{decimals(ci[0])}, {decimals(ci[1])}]" if ci else decimals(value)


def _share(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"
