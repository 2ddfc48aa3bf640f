"""A scorecard across runs: the headline metrics of several runs, with their intervals, on the
current test split. A run whose metrics.json was computed on another split (or not at all) is
evaluated again first, one model in memory at a time; runs scored on different test examples
(another sample size, seed or max length) are named, since their numbers are not comparable."""

from __future__ import annotations

import json
from pathlib import Path

from training.evaluation.cli import MEMORIZATION_EXAMPLES
from training.evaluation.evaluate import evaluate_run, split_fingerprint
from training.numbers import decimals

COLUMNS = (
    ("NLL tuned", ("tuned", "nll"), ("tuned", "nll_ci")),
    ("NLL tuned − base", ("paired", "nll_diff", "estimate"), ("paired", "nll_diff", "ci")),
    ("Delta tuned", ("tuned", "burrows_delta"), ("tuned", "burrows_delta_ci")),
    ("Delta tuned − base", ("paired", "delta_diff", "estimate"), ("paired", "delta_diff", "ci")),
    ("AUC tuned", ("tuned", "auc_real_vs_generated"), ("tuned", "auc_real_vs_generated_ci")),
    ("verbatim tuned", ("memorization", "verbatim_rate", "tuned"), ("memorization", "verbatim_rate_ci", "tuned")),
)


def compare(
    warehouse: Path,
    run_dirs: list[Path],
    max_examples: int = 200,
    max_new_tokens: int = 48,
    seed: int = 0,
    memorization_examples: int = MEMORIZATION_EXAMPLES,
) -> tuple[dict[str, dict], list[str]]:
    """Each run's metrics on the current test split, and notes on what differs between them."""
    current = split_fingerprint(warehouse, [])["fingerprint"]
    metrics, notes = {}, []
    for run_dir in run_dirs:
        path = run_dir / "eval" / "metrics.json"
        saved = json.loads(path.read_text()) if path.is_file() else None
        if saved and (saved.get("test_split") or {}).get("fingerprint") == current:
            metrics[run_dir.name] = saved
            continue
        notes.append(
            f"{run_dir.name}: {'evaluated on another test split' if saved else 'not evaluated yet'}; "
            "evaluated now on the current one"
        )
        metrics[run_dir.name] = evaluate_run(
            run_dir, warehouse, max_examples, max_new_tokens, seed, memorization_examples=memorization_examples
        )
    samples = {name: m["test_split"]["examples_fingerprint"] for name, m in metrics.items()}
    if len(set(samples.values())) > 1:
        groups: dict[str, list[str]] = {}
        for name, sample in samples.items():
            groups.setdefault(sample, []).append(name)
        notes.append(
            "the runs were scored on different test examples (another --max-examples, --seed or max length): "
            + "; ".join(", ".join(names) for names in groups.values())
            + ". Evaluate them alike (ai-me evaluate --run RUN) before reading differences"
        )
    return metrics, notes


def table(metrics: dict[str, dict]) -> str:
    """The scorecard as aligned text: one row per run, 95% intervals in brackets."""
    header = ["run", "examples", *(label for label, _, _ in COLUMNS)]
    rows = [header]
    for name, m in metrics.items():
        cells = [name, str(m["n_examples"])]
        for _, value_at, ci_at in COLUMNS:
            value, ci = _at(m, value_at), _at(m, ci_at)
            cells.append(f"{decimals(value)} [{decimals(ci[0])}, {decimals(ci[1])}]" if ci else decimals(value))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _at(m: dict, keys: tuple[str, ...]):
    for key in keys:
        m = m.get(key) if isinstance(m, dict) else None
    return m
