"""`ai-me sql` on the demo warehouse: every documented query runs, writes are refused, bad SQL gets a
clean error naming the line, results come out as CSV, JSON lines and Parquet, and the interactive
shell (harlequin) reads the file the project's DuckDB wrote."""

import csv
import io
import json
import os
import pty
import re
import select
import stat
import subprocess
import sys
import time

import duckdb
import pyarrow.parquet as pq
import pytest

from ingest.analysis.examples import DOCS_END, DOCS_START, docs_with_examples, examples
from ingest.cli import main as ai_me
from tests.support.paths import REPO

pytestmark = pytest.mark.slow
PSEUDONYM = re.compile(r"^[PG][0-9a-f]{12}$")


def sql(warehouse, *args):
    return ai_me(["sql", *args, "--warehouse", str(warehouse)])


def rows(warehouse, query):
    with duckdb.connect(str(warehouse / "ai_me.duckdb"), read_only=True) as con:
        return con.execute(query).fetchall()


def json_rows(warehouse, capsys, *args):
    assert sql(warehouse, *args, "--json") == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("name", list(examples()))
def test_every_documented_query_runs_and_returns_rows(name, demo_warehouse, capsys):
    assert sql(demo_warehouse, "--example", name) == 0
    out = capsys.readouterr().out
    assert out.startswith("┌") and "│" in out
    assert json_rows(demo_warehouse, capsys, "--example", name)


def test_the_list_names_every_query_and_the_docs_show_each_as_it_runs(capsys):
    assert ai_me(["sql", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(examples()) and len(listed) >= 10
    doc = (REPO / "docs" / "analysis.md").read_text(encoding="utf-8")
    assert DOCS_START in doc and DOCS_END in doc
    assert doc == docs_with_examples(doc), (
        "docs/analysis.md: run .venv/bin/python -m ingest.analysis.examples docs/analysis.md"
    )
    assert ai_me(["sql", "--example", "emoji", "--show"]) == 0
    assert capsys.readouterr().out.strip() == examples()["emoji"].sql


def test_examples_answer_what_the_sample_persona_wrote(demo_warehouse, capsys):
    # the persona's three emoji (ingest/samples), counted over the user's own messages only
    assert {r["emoji"] for r in json_rows(demo_warehouse, capsys, "--example", "emoji")} == {"😅", "✨", "🙌"}
    partners = json_rows(demo_warehouse, capsys, "--example", "partners")
    assert all(PSEUDONYM.match(r["partner_id"]) for r in partners)
    assert {r["platform"] for r in partners} == {"whatsapp", "instagram", "messenger", "gmail"}
    monthly = json_rows(demo_warehouse, capsys, "--example", "words-per-month")
    (mine,) = rows(demo_warehouse, "select count(*) from messages where turn_role = 'assistant'")[0]
    assert sum(r["my_messages"] for r in monthly) == mine  # the sample spans fewer than 24 platform-months
    grid = json_rows(demo_warehouse, capsys, "--example", "busiest-hours")
    assert [r["weekday_name"] for r in grid] == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    assert sum(v for r in grid for k, v in r.items() if k.isdigit() and v) == mine


@pytest.mark.parametrize(
    "statement, kind",
    [
        ("insert into messages select * from messages limit 1", "INSERT"),
        ("delete from messages", "DELETE"),
        ("update messages set body_text = ''", "UPDATE"),
        ("drop table training_examples", "DROP"),
        ("create temp table t as select 1", "CREATE"),
        ("copy messages to '{tmp}/out.csv'", "COPY"),
        ("export database '{tmp}/dump'", "EXPORT"),
        ("attach '{tmp}/other.duckdb' as other", "ATTACH"),
        ("install httpfs", "LOAD"),
        ("set threads = 1", "SET"),
        ("pragma enable_profiling", "PRAGMA"),
        ("select 1;\n\ndrop table messages", "DROP"),
    ],
)
def test_writes_are_refused_before_anything_runs(statement, kind, demo_warehouse, tmp_path, capsys):
    before = rows(demo_warehouse, "select count(*) from messages")
    assert sql(demo_warehouse, statement.format(tmp=tmp_path)) == 1
    captured = capsys.readouterr()
    line = statement.count("\n") + 1
    assert f"ai-me sql: line {line}: {kind} is refused: ai-me sql only reads" in captured.err
    assert captured.out == ""  # not even the harmless first statement ran
    assert rows(demo_warehouse, "select count(*) from messages") == before
    assert list(tmp_path.iterdir()) == []


def test_bad_sql_names_the_problem_and_its_line(demo_warehouse, capsys):
    assert sql(demo_warehouse, "select 1;\n\nselect 2,\n  nosuch from messages") == 1
    err = capsys.readouterr().err
    assert 'Binder Error: Referenced column "nosuch" not found' in err and "(line 4, column 3)" in err
    assert sql(demo_warehouse, "select platform\nfrm messages") == 1
    assert 'Parser Error: syntax error at or near "messages" (line 2, column 5)' in capsys.readouterr().err
    assert sql(demo_warehouse, "select * from no_such_table") == 1
    assert "Catalog Error: Table with name no_such_table does not exist" in capsys.readouterr().err


def test_an_error_while_reading_never_quotes_the_data(demo_warehouse, capsys):
    (body,) = rows(demo_warehouse, "select body_text from messages where body_text not similar to '[0-9]+' limit 1")[0]
    assert sql(demo_warehouse, "select 1;\nselect body_text::int from messages") == 1
    err = capsys.readouterr().err
    assert "Conversion Error: Could not convert string '…' to INT32" in err and "(in the statement at line 2)" in err
    assert body not in err


def test_results_as_csv_json_lines_and_an_owner_only_parquet_file(demo_warehouse, tmp_path, capsys):
    query = "select message_id, participants, timestamp_ms from messages order by timestamp_ms, message_id"
    expected = rows(demo_warehouse, query)
    assert sql(demo_warehouse, query, "--csv") == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0] == ["message_id", "participants", "timestamp_ms"] and len(table) == len(expected) + 1
    assert table[1] == [expected[0][0], "[" + ", ".join(expected[0][1]) + "]", str(expected[0][2])]
    lines = json_rows(demo_warehouse, capsys, query)
    assert [(r["message_id"], r["participants"], r["timestamp_ms"]) for r in lines] == expected
    out = tmp_path / "mine.parquet"
    assert sql(demo_warehouse, query, "--parquet", str(out)) == 0
    assert f"sql: {len(expected)} rows -> {out}" in capsys.readouterr().err
    assert [tuple(r.values()) for r in pq.read_table(out).to_pylist()] == expected
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sql(demo_warehouse, "select 1; select 2", "--csv") == 1
    assert "--csv, --json and --parquet write one result; the SQL has 2 statements" in capsys.readouterr().err


def test_without_a_warehouse_or_while_it_is_written_it_says_so(demo_warehouse, tmp_path, capsys):
    assert sql(tmp_path, "select 1") == 1
    assert (
        f"no warehouse database at {tmp_path / 'ai_me.duckdb'}: run `ai-me transform` first" in capsys.readouterr().err
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(1, flush=True); time.sleep(60)",
            str(demo_warehouse / "ai_me.duckdb"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        holder.stdout.readline()  # it holds the write lock now
        assert sql(demo_warehouse, "select 1") == 1
        assert "is being written by another process (ai-me transform or Dagster)" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_no_query_without_a_terminal_says_what_to_give(demo_warehouse, capsys):
    assert sql(demo_warehouse) == 2
    assert "the interactive shell needs a terminal; give a QUERY, --example NAME or --list" in capsys.readouterr().err


def _screen(data: bytes) -> str:
    return re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", data).decode("utf-8", "replace")


def test_the_interactive_shell_runs_queries_on_the_warehouse(demo_warehouse, tmp_path):
    """harlequin in a terminal: its DuckDB reads the file, a query typed and run with ctrl+j shows
    its answer, and ctrl+q quits."""
    (count,) = rows(demo_warehouse, "select count(*) from messages")[0]
    pid, fd = pty.fork()
    if pid == 0:  # the child: ai-me sql on a terminal
        try:
            os.environ.update(TERM="xterm-256color", LANG="C.UTF-8", COLUMNS="120", LINES="40")
            os.environ["AI_ME_WAREHOUSE"] = str(demo_warehouse)
            os.environ["HOME"] = os.environ["XDG_CACHE_HOME"] = str(tmp_path)  # harlequin restores its last buffers
            os.execv(sys.executable, [sys.executable, "-m", "ingest.cli", "sql"])
        finally:
            os._exit(127)
    seen, status = b"", None

    def wait_for(text: str, seconds: float = 60) -> bool:
        nonlocal seen
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                seen += os.read(fd, 65536)
            if text in _screen(seen):
                return True
        return False

    try:
        assert wait_for("Query Editor"), _screen(seen)[-2000:]
        wait_for("never shown", 2)  # the editor takes the focus once the catalog has loaded
        os.write(fd, b"select count(*) * 1000 + 7 as n from messages")
        answer = f"{count * 1000 + 7:,}"  # harlequin formats numbers in the locale (en_US under C)
        for _ in range(6):
            os.write(fd, b"\n")  # ctrl+j: run the query
            if wait_for(answer, 10) or wait_for(answer.replace(",", ""), 0.1):
                break
        else:
            raise AssertionError(_screen(seen)[-2000:])
        os.write(fd, b"\x11")  # ctrl+q
        for _ in range(100):
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(code)
                break
            time.sleep(0.1)
        assert status == 0
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
