"""The `ai-me evaluate` verb: style evaluation of a trained run, the blind test page, its scoring."""

from __future__ import annotations

import sys


def register(verbs, add_common) -> None:
    p = verbs.add_parser(
        "evaluate",
        help="measure how much a trained run writes like you (held-out test split)",
        description="Score the run and its base on warehouse/datasets/test.parquet: likelihood of your real "
        "replies, stylometry and Burrows' Delta of generated ones, an authorship classifier. Writes "
        "warehouse/models/<run>/eval/metrics.json and report.html. --blind N writes a blind test page "
        "instead; --score FILE scores a rater's saved choices.",
    )
    p.add_argument("--run", help="run name (default: the config's [training] preset)")
    p.add_argument("--blind", type=int, metavar="N", help="write eval/blind.html with N real/generated pairs")
    p.add_argument("--score", metavar="FILE", help="score the choices saved from the blind test page")
    p.add_argument(
        "--max-examples",
        type=int,
        default=200,
        metavar="N",
        help="evaluate a seeded sample of at most N test examples (0: all; default 200)",
    )
    p.add_argument("--max-new-tokens", type=int, default=48, help="length limit of generated replies")
    p.add_argument("--seed", type=int, default=0)
    add_common(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from ingest.core.config import ConfigError
    from training.cli import run_dir as run_dir_of

    run_dir = run_dir_of(args)
    warehouse = run_dir.parent.parent
    try:
        if args.score:
            return _score(run_dir, args.score)
        if args.blind:
            from training.evaluation.evaluate import blind_test

            page, pairs = blind_test(run_dir, args.blind, warehouse, args.max_new_tokens, args.seed)
            print(f"evaluate: blind test with {pairs} pairs -> {page} (answer key: {page.parent / 'blind_key.json'})")
            return 0
        from training.evaluation.evaluate import evaluate_run, summary

        metrics = evaluate_run(run_dir, warehouse, args.max_examples, args.max_new_tokens, args.seed)
    except ConfigError as e:
        print(f"ai-me: {e}", file=sys.stderr)
        return 1
    print(summary(metrics))
    print(f"  report: {run_dir / 'eval' / 'report.html'}")
    return 0


def _score(run_dir, choices_file: str) -> int:
    from pathlib import Path

    from training.evaluation.blind import KEY, BlindScoreError, score

    key = run_dir / "eval" / KEY
    if not key.is_file():
        print(f"ai-me: {key} not found: write the blind test first (ai-me evaluate --blind N)", file=sys.stderr)
        return 1
    try:
        result = score(Path(choices_file), key)
    except BlindScoreError as e:
        print(f"ai-me: {e}", file=sys.stderr)
        return 1
    if result["accuracy"] is None:
        print(f"evaluate: no pair of {result['pairs']} answered")
        return 1
    low, high = result["ci"]
    print(
        f"evaluate: blind test: real reply found in {result['correct']} of {result['answered']} pairs "
        f"({result['accuracy']:.0%}, 95% CI {low:.0%}-{high:.0%}; 50% = indistinguishable)"
    )
    return 0
