"""The contract between the landing and the platform parsers.

A parser is a generator over one export: it yields record batches (pyarrow RecordBatch/Table or
a dict of column lists, any subset of schema.PARSER_COLUMNS) and Reject items, and counts every
record it found in `ctx.records_in`, so the landing can prove records in = landed + rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ingest.core.identity import Me

# The landing hashes the export on a thread of this name while the parser starts; parsers that
# fork worker processes know it holds no lock they need (worker_processes.py).
EXPORT_HASH_THREAD = "export-hash"


class ExportError(Exception):
    """The export (or one of its files) cannot be read at all. Never carries message text."""

    def __init__(self, path: Path | str, position: str | int | None, message: str):
        self.path, self.position, self.message = str(path), position, message
        where = self.path if position is None else f"{self.path}:{position}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # survives the trip back from a worker process
        return ExportError, (self.path, self.position, self.message)


@dataclass(frozen=True)
class Reject:
    source_ref: str  # file and line/offset/JSON index
    reason: str  # never message text
    raw: str | None = None  # the rejected input, kept in the warehouse so nothing is lost


@dataclass(frozen=True)
class ExportInput:
    """One export as the user gave it: its identity is the content of `files`."""

    label: str  # shown in summaries (a file or folder name)
    files: tuple[Path, ...]  # the files whose bytes define export_id
    root: Path  # the path the user named (file, folder or zip)


@dataclass
class ParseContext:
    platform: str
    me: Me
    timezone: str | None = None  # IANA zone or fixed offset for exports with local times
    date_order: str | None = None  # dmy | mdy | ymd, when a file leaves it ambiguous
    records_in: int = 0
    notes: list[str] = field(default_factory=list)  # one-line facts for the summary
    advance: Callable[[int], None] = lambda n: None  # progress in bytes of input

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


Batch = pa.RecordBatch | pa.Table | dict
ParseItem = Batch | Reject


@dataclass(frozen=True)
class Ingester:
    platform: str
    discover: Callable[[list[Path]], list[ExportInput]]
    parse: Callable[[ExportInput, ParseContext], Iterator[ParseItem]]


def single_files(paths: Iterable[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Expand folders into their files with the given suffixes, sorted; keep files as named."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes))
        elif p.exists():
            out.append(p)
        else:
            raise ExportError(p, None, "no such file or folder")
    return out
