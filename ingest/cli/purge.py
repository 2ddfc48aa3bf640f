"""`ai-me purge`: its options, the question it asks and what it prints (the deleting: ingest/manage/purge.py)."""

from __future__ import annotations

import sys

from ingest.core.config import config_and_warehouse
from ingest.core.lock import WarehouseBusy, warehouse_lock
from ingest.manage.purge import CATEGORIES, WAREHOUSE_SIGNS, execute, human, is_warehouse, plan


def cmd_purge(args) -> int:
    chosen = {name: getattr(args, name) or args.all for name in CATEGORIES}
    if not any(chosen.values()) and not args.rotate_key:
        print(
            "ai-me purge: say what to delete: --raw, --warehouse, --datasets, --models, --all "
            "and/or --rotate-key (see --help)",
            file=sys.stderr,
        )
        return 2
    if args.keep_adapter and not chosen["models"]:
        print("ai-me purge: --keep-adapter goes with --models or --all", file=sys.stderr)
        return 2
    _, root = config_and_warehouse(args.config, args.root)
    if not root.is_dir():
        print(f"ai-me purge: no warehouse at {root}", file=sys.stderr)
        return 2
    if not is_warehouse(root):
        print(
            f"ai-me purge: {root} is not an ai-me warehouse (none of {', '.join(WAREHOUSE_SIGNS)} in it); "
            "nothing deleted",
            file=sys.stderr,
        )
        return 2
    try:
        p = plan(root, **chosen, keep_adapter=args.keep_adapter, rotate_key=args.rotate_key)
        summary = p.lines()
    except OSError as e:
        return _failed(e)
    print("\n".join(summary))
    if not p.targets and not p.rotate_key:
        print("purge: nothing to delete")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("ai-me purge: refusing to delete without --yes (stdin is not a terminal)", file=sys.stderr)
            return 2
        try:
            answer = input("Delete these? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("purge: nothing deleted")
            return 2
    try:
        with warehouse_lock(p.root, exclusive=True):
            execute(p)
    except WarehouseBusy as e:
        print(f"ai-me purge: {e}; nothing deleted", file=sys.stderr)
        return 1
    except OSError as e:
        return _failed(e)
    rebuilt = "; run `ai-me transform` to rebuild with the new key" if p.rotate_key else ""
    print(f"purge: deleted {p.files} file(s), {human(p.bytes)}" + ("; key rotated" if p.rotate_key else "") + rebuilt)
    return 0


def _failed(error: OSError) -> int:
    print(f"ai-me purge: {error.strerror or error}: {error.filename}", file=sys.stderr)
    return 1


def register(verbs) -> None:
    p = verbs.add_parser(
        "purge",
        help="delete message data the pipeline wrote (raw, database, datasets, models)",
        description="Delete what the pipeline wrote that holds message data, inside the "
        "warehouse only. Prints what goes and how much first; asks unless --yes.",
    )
    p.add_argument("--raw", action="store_true", help="landed exports: raw/ and rejects/")
    p.add_argument(
        "--warehouse",
        action="store_true",
        help="the DuckDB database, language cache, dbt artifacts and logs, Dagster run history",
    )
    p.add_argument(
        "--datasets", action="store_true", help="datasets/, the memory index memory/ and the datasets cache .cache/"
    )
    p.add_argument("--models", action="store_true", help="models/: training runs, evaluation reports, tiny bases")
    p.add_argument("--all", action="store_true", help="all of the above")
    p.add_argument(
        "--keep-adapter",
        action="store_true",
        help="with --models/--all: keep each run's adapter, tokenizer and the local base it needs",
    )
    p.add_argument(
        "--rotate-key",
        action="store_true",
        help="replace the pseudonym key with a fresh one (implies --warehouse --datasets)",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask (needed when stdin is not a terminal)")
    # Not the shared --warehouse PATH option: here --warehouse names what to delete, as issue #11 asks.
    p.add_argument("--config", help="config file (default: $AI_ME_CONFIG or ./ai_me.toml)")
    p.add_argument("--root", help="warehouse root (overrides config and $AI_ME_WAREHOUSE)")
    p.set_defaults(func=cmd_purge)
