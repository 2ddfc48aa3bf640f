"""Export the training_examples mart as warehouse/datasets/{train,val,test}.parquet + counts.json.

The files are what training/ loads with `datasets.load_dataset("parquet", ...)`: one row per
example with the chat `messages` (system, context turns, my reply last) and its ids. Each file is
written to a temporary name and renamed, so a reader never sees half of one; counts.json is
written last, so its presence means a complete export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.core.files import atomic_path, private_dir, write_atomic
from ingest.core.warehouse import Warehouse

SPLITS = ("train", "val", "test")
COLUMNS = "example_id, platform, conversation_id, session_id, split, partner, messages"


@dataclass
class DatasetReport:
    counts: dict[str, int] = field(default_factory=dict)
    by_platform: dict[str, dict[str, int]] = field(default_factory=dict)
    folder: Path | None = None

    def summary(self) -> str:
        return "datasets: " + ", ".join(f"{s} {self.counts.get(s, 0)}" for s in SPLITS) + f" -> {self.folder}"


def write_datasets(warehouse: Path) -> DatasetReport:
    """Write the three split files and counts.json from the warehouse's training_examples."""
    out = private_dir(Warehouse(warehouse).datasets)
    report = DatasetReport(folder=out)
    (out / "counts.json").unlink(missing_ok=True)
    with duckdb.connect(str(Warehouse(warehouse).duckdb), read_only=True) as con:
        for split in SPLITS:
            with atomic_path(out / f"{split}.parquet") as tmp:
                con.execute(
                    f"copy (select {COLUMNS} from training_examples where split = '{split}' "
                    f"order by platform, target_ms, example_id) "
                    f"to {_sql_path(tmp)} (format parquet, compression zstd)"
                ).fetchall()
        for platform, split, n in con.execute(
            "select platform, split, count(*) from training_examples group by all order by all"
        ).fetchall():
            report.by_platform.setdefault(platform, {})[split] = n
            report.counts[split] = report.counts.get(split, 0) + n
    counts = {s: report.counts.get(s, 0) for s in SPLITS} | {"by_platform": report.by_platform}
    write_atomic(out / "counts.json", json.dumps(counts, indent=2, sort_keys=True) + "\n")
    return report


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
