"""The `ai-me evaluate` verb: style evaluation of a trained run, the blind test page, its scoring."""

from __future__ import annotations

import sys

from training.cli import add_memory_argument, memory_setting

MEMORIZATION_EXAMPLES = 50  # training examples the audit prompts with; here so --help imports no torch


def register(verbs, add_common) -> None:
    p = verbs.add_parser(
        "evaluate",
        help="measure how much a trained run writes like you (held-out test split)",
        description="Score the run and its base on warehouse/datasets/test.parquet: likelihood of your real "
        "replies, stylometry and Burrows' Delta of generated ones, an authorship classifier. Writes "
        "warehouse/models/<run>/eval/metrics.json and report.html, with paired intervals of tuned against "
        "base and an audit of what the model remembers from its training replies. --compare RUN... prints "
        "a scorecard of several runs on the current test split. --blind N writes a blind test page "
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
    p.add_argument(
        "--memorization",
        type=int,
        default=MEMORIZATION_EXAMPLES,
        metavar="N",
        help=f"training examples the memorization audit prompts with (0: no audit; default {MEMORIZATION_EXAMPLES})",
    )
    p.add_argument(
        "--canary",
        action="append",
        default=[],
        metavar="TEXT",
        help="a string planted in training replies: the audit measures its exposure (repeatable)",
    )
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="RUN",
        help="print the headline metrics of these runs side by side on the current test split",
    )
    p.add_argument("--seed", type=int, default=0)
    add_memory_argument(
        p,
        "also evaluate base and tuned with your K past replies most like each test message in "
        "the prompt (default: the config's [memory] k; 0: no memory arms)",
    )
    add_common(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from ingest.core.config import ConfigError
    from training.cli import run_dir as run_dir_of

    run_dir = run_dir_of(args)
    warehouse = run_dir.parent.parent
    try:
        if args.compare:
            return _compare(args, warehouse)
        if args.score:
            return _score(run_dir, args.score)
        if args.blind:
            from training.evaluation.evaluate import blind_test

            page, pairs = blind_test(run_dir, args.blind, warehouse, args.max_new_tokens, args.seed)
            print(f"evaluate: blind test with {pairs} pairs -> {page} (answer key: {page.parent / 'blind_key.json'})")
            return 0
        from training.evaluation.evaluate import evaluate_run, summary

        _, k, budget = memory_setting(args)
        metrics = evaluate_run(
            run_dir,
            warehouse,
            args.max_examples,
            args.max_new_tokens,
            args.seed,
            memorization_examples=args.memorization,
            canaries=args.canary,
            memory=k,
            memory_budget=budget,
        )
    except ConfigError as e:
        print(f"ai-me: {e}", file=sys.stderr)
        return 1
    print(summary(metrics))
    print(f"  report: {run_dir / 'eval' / 'report.html'}")
    return 0


def _compare(args, warehouse) -> int:
    from ingest.core.config import ConfigError
    from training.evaluation.compare import compare, table
    from training.inference import run_info
    from training.runs import run_folder

    run_dirs = [run_folder(warehouse, name) for name in args.compare]
    for run_dir in run_dirs:
        run_info(run_dir)  # a ConfigError names a run that is not a finished training run
    if not (warehouse / "datasets" / "test.parquet").is_file():
        raise ConfigError(f"{warehouse / 'datasets' / 'test.parquet'} not found: build the datasets first")
    metrics, notes = compare(warehouse, run_dirs, args.max_examples, args.max_new_tokens, args.seed, args.memorization)
    print(f"evaluate: {len(metrics)} runs on the current test split (95% intervals)")
    print(table(metrics))
    for note in notes:
        print(f"  note: {note}")
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
