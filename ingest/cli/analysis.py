"""`ai-me sql` and `ai-me analyze`: ad hoc SQL and the writing-patterns notebook, both read-only on
the warehouse database (the querying: ingest/analysis/)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ingest.core.config import config_and_warehouse
from ingest.core.warehouse import Warehouse

NOTEBOOK = Path(__file__).resolve().parent.parent / "analysis" / "notebook.py"


def register(verbs, common) -> None:
    p = verbs.add_parser(
        "sql",
        help="query the warehouse read-only: a SQL text, a documented example, or an interactive shell",
        description="Run read-only SQL on warehouse/ai_me.duckdb and print the result as a table. "
        "With no QUERY, opens harlequin, a terminal SQL IDE, read-only on it.",
    )
    p.add_argument("query", nargs="?", help="SQL to run (several statements: each result in turn)")
    p.add_argument("--example", metavar="NAME", help="run one of the documented queries (--list names them)")
    p.add_argument("--list", action="store_true", help="name the documented queries")
    p.add_argument("--show", action="store_true", help="with --example: print its SQL instead of running it")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="write the result as CSV to stdout")
    out.add_argument("--json", action="store_true", help="write the result as JSON lines to stdout")
    out.add_argument("--parquet", type=Path, metavar="FILE", help="write the result to a Parquet file")
    p.add_argument("--max-rows", type=int, default=40, metavar="N", help="table rows to print (default 40)")
    common(p)
    p.set_defaults(func=cmd_sql)

    p = verbs.add_parser(
        "analyze",
        help="open the notebook of your writing patterns (marimo, on 127.0.0.1)",
        description="Serve the writing-patterns notebook (plots over the warehouse, read-only) on "
        "127.0.0.1 and open it in your browser.",
    )
    p.add_argument("--port", type=int, default=2718, help="port on 127.0.0.1 (default 2718)")
    p.add_argument("--no-browser", action="store_true", help="only print the address")
    common(p)
    p.set_defaults(func=cmd_analyze)


def cmd_sql(args) -> int:
    from ingest.analysis.examples import examples

    if args.list:
        width = max(map(len, examples()))
        for e in examples().values():
            print(f"{e.name:<{width}}  {e.description}")
        return 0
    if args.example and args.query:
        return _usage("give a QUERY or --example, not both")
    if args.example:
        if args.example not in examples():
            return _usage(f"no example {args.example!r}; `ai-me sql --list` names them")
        if args.show:
            print(examples()[args.example].sql)
            return 0
        sql = examples()[args.example].sql
    else:
        sql = args.query
    _, root = config_and_warehouse(args.config, args.warehouse)
    database = Warehouse(root).duckdb
    if sql is None:
        return _shell(database)
    return _run(database, sql, args)


def _run(database: Path, sql: str, args) -> int:
    import duckdb

    from ingest.analysis import query

    try:
        con = query.connect(database)
        stmts = query.statements(con, sql)
        if (args.csv or args.json or args.parquet) and len(stmts) > 1:
            raise query.QueryError(f"--csv, --json and --parquet write one result; the SQL has {len(stmts)} statements")
        bound = [(stmt, query.relation(con, stmt, sql)) for stmt in stmts]  # every name checked before output
        for stmt, rel in bound:
            try:
                if args.parquet:
                    rows = query.write_parquet(rel, args.parquet)
                    print(f"sql: {rows} rows -> {args.parquet}", file=sys.stderr)
                elif args.csv:
                    query.write_csv(rel, sys.stdout.buffer)
                elif args.json:
                    query.write_json_lines(rel, sys.stdout.buffer)
                else:
                    query.show(rel, stmt, args.max_rows, shutil.get_terminal_size().columns)
            except duckdb.Error as e:
                raise query.failed(e, stmt) from None
    except query.QueryError as e:
        print(f"ai-me sql: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ai-me sql ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _shell(database: Path) -> int:
    if not database.is_file():
        print(f"ai-me sql: no warehouse database at {database}: run `ai-me transform` first", file=sys.stderr)
        return 1
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return _usage("the interactive shell needs a terminal; give a QUERY, --example NAME or --list")
    command = shell_command(database)
    os.execv(command[0], command)


def shell_command(database: Path) -> list[str]:
    """harlequin, from this environment, read-only on the database: it runs the same DuckDB that
    wrote the file (a DuckDB CLI of another version may not read it)."""
    return [sys.executable, "-m", "harlequin", "--read-only", str(database)]


def cmd_analyze(args) -> int:
    cfg, root = config_and_warehouse(args.config, args.warehouse)
    database = Warehouse(root).duckdb
    if not database.is_file():
        print(f"ai-me analyze: no warehouse database at {database}: run `ai-me transform` first", file=sys.stderr)
        return 1
    command = notebook_command(args.port, browser=not args.no_browser)
    os.environ.update(notebook_env(database, cfg.ingest.timezone))
    os.execv(command[0], command)


def notebook_command(port: int, browser: bool = True) -> list[str]:
    """marimo in app mode: the notebook's cells run on the server, the page cannot run other code."""
    return [
        sys.executable,
        "-m",
        "marimo",
        "run",
        str(NOTEBOOK),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *([] if browser else ["--headless"]),
        "--no-sandbox",
    ]


def notebook_env(database: Path, timezone: str) -> dict[str, str]:
    """What the notebook reads, and marimo's own calls home switched off."""
    return {
        "AI_ME_DATABASE": str(database),
        "AI_ME_TIMEZONE": timezone,
        "MARIMO_SKIP_UPDATE_CHECK": "1",
    }


def _usage(message: str) -> int:
    print(f"ai-me sql: {message}", file=sys.stderr)
    return 2
