"""Read-only SQL over the warehouse database, for `ai-me sql`: statements are checked before they
run, errors name the line and column without quoting data, results stream to a table, CSV, JSON
lines or a Parquet file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import duckdb

from ingest.core.files import atomic_path

# Statements that only read. PIVOT parses as several statements (MULTI); anything else that is
# MULTI is refused. Writes to the database would fail anyway (read-only), but COPY, EXPORT and
# ATTACH write files, INSTALL/LOAD fetch extensions and SET changes the session.
_READING = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_PIVOT = re.compile(r"\s*(?:--[^\n]*\n\s*)*(?:un)?pivot\b", re.I)
_PREPARE = "prepare ai_me_check as "
_NESTED = {"list", "struct", "map", "union", "array"}
BATCH_ROWS = 65_536


class QueryError(Exception):
    """A query that cannot run, with what went wrong and where; never the data it touched."""


@dataclass(frozen=True)
class Statement:
    sql: str
    type: duckdb.StatementType
    offset: int  # where it starts in the text given, so errors name that text's lines
    line: int  # 1-based line of its first word


def connect(database: Path) -> duckdb.DuckDBPyConnection:
    if not database.is_file():
        raise QueryError(f"no warehouse database at {database}: run `ai-me transform` first")
    try:
        con = duckdb.connect(str(database), read_only=True, config={"autoinstall_known_extensions": False})
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise QueryError(
                f"{database} is being written by another process (ai-me transform or Dagster); "
                "try again when it has finished"
            ) from None
        raise QueryError(f"cannot open {database}: {type(e).__name__}") from None
    con.execute("set errors_as_json = true")  # positions as data, so the line can be named
    return con


def statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[Statement]:
    """The statements of `sql`, each checked to be one that only reads."""
    try:
        parsed = con.extract_statements(sql)
    except duckdb.Error as e:
        raise QueryError(describe(e, sql)) from None
    found, offset = [], 0
    for stmt in parsed:
        text = stmt.query
        line = _line_col(sql, offset + len(text) - len(text.lstrip()))[0]
        if stmt.type not in _READING and not (stmt.type == duckdb.StatementType.MULTI and _PIVOT.match(text)):
            kind = stmt.type.name.replace("_", " ")
            raise QueryError(
                f"line {line}: {kind} is refused: ai-me sql only reads "
                "(the warehouse changes through ai-me ingest and ai-me transform)"
            )
        found.append(Statement(text, stmt.type, offset, line))
        offset += len(text)
    if not found:
        raise QueryError("no SQL statement given")
    return found


def relation(con: duckdb.DuckDBPyConnection, stmt: Statement, given: str) -> duckdb.DuckDBPyRelation:
    """The statement's result, bound (unknown names fail here, placed in the text `given`); rows
    come as it is read. An error while reading: `failed`."""
    sql = stmt.sql.rstrip().rstrip(";")
    if stmt.type == duckdb.StatementType.SELECT:  # EXPLAIN and PIVOT cannot be prepared
        try:  # PREPARE binds without running, and its errors keep their position (a relation's do not)
            con.execute(_PREPARE + sql)
            con.execute("deallocate ai_me_check")
        except duckdb.Error as e:
            raise QueryError(describe(e, given, stmt.offset - len(_PREPARE))) from None
    try:
        return con.sql(sql)
    except duckdb.Error as e:
        raise failed(e, stmt) from None


def failed(error: duckdb.Error, stmt: Statement) -> QueryError:
    """An error met while the result is read: its position would point into DuckDB's own rewrite."""
    return QueryError(f"{describe(error)} (in the statement at line {stmt.line})")


def describe(error: duckdb.Error, sql: str | None = None, offset: int = 0) -> str:
    """'<Kind> Error: <message> (line L, column C)' from DuckDB's error (JSON when it can place
    it in `sql`), with every quoted value cut out: a conversion error would quote a message's text."""
    kind, _, payload = str(error).partition(": ")
    try:
        info = json.loads(payload)
    except ValueError:
        info = {"exception_message": payload}
    message = re.sub(r"'.*'", "'…'", info.get("exception_message", ""), flags=re.S)
    message = " ".join(message.split())
    if sql is not None and "position" in info:
        line, col = _line_col(sql, offset + int(info["position"]))
        return f"{kind}: {message} (line {line}, column {col})"
    return f"{kind}: {message}"


def _line_col(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def flat(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Nested columns (lists, structs, maps) as text, for formats that hold only flat values."""
    exprs = []
    for name, kind in zip(rel.columns, rel.types):
        quoted = '"' + name.replace('"', '""') + '"'
        exprs.append(f"{quoted}::varchar as {quoted}" if kind.id in _NESTED else quoted)
    return rel.project(", ".join(exprs))


def write_csv(rel: duckdb.DuckDBPyRelation, out: BinaryIO) -> int:
    import pyarrow.csv as pacsv

    reader = flat(rel).to_arrow_reader(BATCH_ROWS)
    rows = 0
    with pacsv.CSVWriter(out, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def write_json_lines(rel: duckdb.DuckDBPyRelation, out: BinaryIO) -> int:
    import orjson

    rows = 0
    for batch in rel.to_arrow_reader(BATCH_ROWS):
        for row in batch.to_pylist():
            out.write(orjson.dumps(row, default=_json_value, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        rows += batch.num_rows
    return rows


def _json_value(value):
    """Decimals (DuckDB's HUGEINT sums arrive as decimal128) as JSON numbers; the rest as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def write_parquet(rel: duckdb.DuckDBPyRelation, path: Path) -> int:
    """The result as one Parquet file, owner-only, replaced whole or not at all."""
    import pyarrow.parquet as pq

    reader = rel.to_arrow_reader(BATCH_ROWS)
    rows = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def show(rel: duckdb.DuckDBPyRelation, stmt: Statement, max_rows: int, width: int) -> None:
    """A box table on stdout (the first and last rows when there are more than max_rows); a plan
    as the tree DuckDB draws."""
    if stmt.type == duckdb.StatementType.EXPLAIN:
        for _, plan in rel.fetchall():
            print(plan)
    else:
        rel.show(max_rows=max_rows, max_width=width)
