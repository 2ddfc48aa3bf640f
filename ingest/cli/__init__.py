"""`ai-me <verb>`: the command line. Each verb prints a one-line summary and exits 0 only on success."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ingest.core.config import ConfigError, check_timezone, config_and_warehouse
from ingest.core.platforms import PLATFORMS


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="config file (default: $AI_ME_CONFIG or ./ai_me.toml)")
    p.add_argument("--warehouse", help="warehouse root (overrides config and $AI_ME_WAREHOUSE)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ai-me", description="Turn your message exports into an LLM that writes like you."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser(
        "ingest",
        help="land exports of one platform as raw Parquet in the warehouse",
        description="Parse exports and land them in warehouse/raw/<platform>/. "
        "With no PATH, uses the config's [exports] for the platform.",
    )
    p.add_argument("platform", choices=PLATFORMS)
    p.add_argument("paths", nargs="*", metavar="PATH", help="export files, folders or zips")
    p.add_argument(
        "--me",
        action="append",
        default=[],
        metavar="NAME",
        help="a name, email or phone of yours (adds to the config's [me]); repeatable",
    )
    p.add_argument("--tz", help="zone of local times in the export: IANA name or offset like +02:00")
    p.add_argument("--date-order", choices=("dmy", "mdy", "ymd"), help="for exports whose dates stay ambiguous")
    _common(p)

    p = verbs.add_parser(
        "sample-data",
        help="write realistic sample exports for a fictional user",
        description="Deterministically write sample WhatsApp, Instagram, Messenger and "
        "Gmail exports plus an ai_me.toml that points at them.",
    )
    p.add_argument("dir", type=Path)
    p.add_argument("--messages", type=int, default=5000, help="total messages across platforms (default 5000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--platform", action="append", choices=PLATFORMS, help="only these platforms; repeatable")
    p.add_argument(
        "--preset", help="the training preset the config names (default: smollm2-135m; tiny-cpu trains in seconds)"
    )

    p = verbs.add_parser("status", help="show what the warehouse holds (row counts per layer)")
    _common(p)

    p = verbs.add_parser("transform", help="run the dbt models and tests (dbt build) on the warehouse")
    p.add_argument("--select", help="dbt selection, e.g. staging")
    _common(p)

    for name, func in _VERBS.items():
        verbs.choices[name].set_defaults(func=func)
    from training.cli import register as register_training  # train, export, generate, ...

    register_training(verbs, _common)
    from ingest.cli.purge import register as register_purge

    register_purge(verbs)
    from ingest.cli.analysis import register as register_analysis  # sql, analyze

    register_analysis(verbs, _common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"ai-me: config error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ai-me: interrupted", file=sys.stderr)
        return 130


def _config(args):
    return config_and_warehouse(getattr(args, "config", None), getattr(args, "warehouse", None))


def cmd_ingest(args) -> int:
    from ingest.runner import ingest_platform

    cfg, warehouse = _config(args)
    paths = [Path(p) for p in args.paths] or cfg.export_paths(args.platform)
    if not paths:
        print(f"ai-me: no {args.platform} export given and none configured in [exports]", file=sys.stderr)
        return 2
    if args.tz:
        check_timezone(args.tz, "--tz")
    report = ingest_platform(
        args.platform,
        paths,
        cfg,
        me_names=tuple(args.me),
        timezone=args.tz,
        date_order=args.date_order,
        warehouse=warehouse,
        progress=sys.stderr.isatty(),
    )
    for err in report.errors:
        print(f"ai-me: {err}", file=sys.stderr)
    for r in report.results:
        for note in r.notes:
            print(f"  {r.label}: {note}", file=sys.stderr)
        if r.rejected:
            print(
                f"  {r.label}: {r.rejected} rejected ({', '.join(f'{k}: {v}' for k, v in r.reject_reasons.items())})"
                f" -> {r.reject_path}",
                file=sys.stderr,
            )
    print(report.summary() + f" -> {warehouse / 'raw' / args.platform}")
    return 0 if report.ok and report.results else 1


def cmd_sample_data(args) -> int:
    from tqdm import tqdm

    from ingest.samples import generate

    start = time.perf_counter()
    with tqdm(total=args.messages, unit="msg", desc="sample-data", disable=not sys.stderr.isatty(), leave=False) as bar:
        summary = generate(
            args.dir,
            messages=args.messages,
            seed=args.seed,
            platforms=args.platform,
            preset=args.preset,
            progress=bar.update,
        )
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    print(
        f"sample-data: {sum(summary.counts.values())} messages ({counts}) in "
        f"{time.perf_counter() - start:.1f}s -> {args.dir} (config: {summary.config_path})"
    )
    return 0


def cmd_transform(args) -> int:
    from ingest.transform.build import build

    cfg, warehouse = _config(args)
    report = build(cfg, warehouse, args.select)
    print(report.line)
    return 0 if report.ok else 1


def cmd_status(args) -> int:
    from ingest.manage.status import warehouse_report

    _, warehouse = _config(args)
    print("\n".join(warehouse_report(warehouse)))
    return 0


_VERBS = {"ingest": cmd_ingest, "sample-data": cmd_sample_data, "status": cmd_status, "transform": cmd_transform}
