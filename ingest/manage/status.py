"""What is in the warehouse: row counts per layer, read from metadata (no message text)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq


def parquet_rows(folder: Path) -> tuple[int, int]:
    """(files, rows) of the Parquet files directly in `folder`."""
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    return len(files), sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def duckdb_tables(db: Path) -> list[tuple[str, str, int]]:
    """(schema, table, rows) for every table and view in the warehouse DuckDB file."""
    if not db.exists():
        return []
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute("select table_schema, table_name from information_schema.tables order by 1, 2").fetchall()
        return [(s, t, con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]) for s, t in names]


def warehouse_report(root: Path) -> list[str]:
    lines = [f"warehouse: {root}"]
    for layer in ("raw", "rejects"):
        base = root / layer
        for platform in sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
            files, rows = parquet_rows(base / platform)
            lines.append(f"  {layer}/{platform}: {rows} rows in {files} file(s)")
    for schema, table, rows in duckdb_tables(root / "ai_me.duckdb"):
        lines.append(f"  ai_me.duckdb {schema}.{table}: {rows} rows")
    for split in ("train", "val", "test"):
        path = root / "datasets" / f"{split}.parquet"
        if path.exists():
            lines.append(f"  datasets/{split}.parquet: {pq.ParquetFile(path).metadata.num_rows} examples")
    memory = root / "memory" / "manifest.json"
    if memory.exists():
        lines.append(f"  memory/: {json.loads(memory.read_text())['exchanges']} past exchanges of yours (train split)")
    for metrics in sorted((root / "models").glob("*/metrics.json")):
        lines.append(f"  models/{metrics.parent.name}: {_run_line(metrics.parent)}")
    return lines


def _run_line(run_dir: Path) -> str:
    m = json.loads((run_dir / "metrics.json").read_text())
    loss = m.get("final_eval_loss")
    line = f"adapter after {m.get('global_step')} steps" + (f", eval loss {loss:.3f}" if loss is not None else "")
    evaluation = run_dir / "eval" / "metrics.json"
    if evaluation.exists():
        e = json.loads(evaluation.read_text())
        line += (
            f"; perplexity base {e['base']['perplexity']:.2f} -> tuned {e['tuned']['perplexity']:.2f}, "
            f"report {evaluation.parent / 'report.html'}"
        )
    return line
