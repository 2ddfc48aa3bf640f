"""Lands one export as Parquet in the warehouse: streaming, atomic, idempotent.

warehouse/raw/<platform>/<export_id>.parquet holds the messages, warehouse/rejects/<platform>/
<export_id>.parquet the records that failed to parse. Both are written batch by batch to a temp
file and renamed into place, so a killed ingest never leaves a partial file behind, and the same
export (same content hash) replaces its own files instead of adding duplicates.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.core.files import private_dir, temp_name
from ingest.core.schema import CONTENT_TYPES, DIRECTIONS, RAW_SCHEMA, REJECT_SCHEMA, TIMESTAMP_MS_RANGE
from ingest.core.warehouse import Warehouse
from ingest.sources.base import EXPORT_HASH_THREAD, ExportError, ExportInput, Ingester, ParseContext, Reject
from ingest.sources.columns import constant

ROW_GROUP_ROWS = 50_000
ROW_GROUP_BYTES = 16 << 20  # big group chats repeat many participants per row: cap memory (two groups live)
# Few distinct values per export: held as Arrow dictionaries from parser to Parquet, so no column
# of repeated strings is built and the writer stores the dictionary as it is instead of hashing
# every value again. The Parquet file is the same as for plain strings (a dictionary-encoded
# string column) and, written without the Arrow schema, reads back as RAW_SCHEMA.
_REPEATED_COLUMNS = (
    "platform",
    "conversation_id",
    "sender",
    "direction",
    "content_type",
    "conversation_title",
    "export_id",
)
_STRING_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
LANDING_SCHEMA = pa.schema([f.with_type(_STRING_DICTIONARY) if f.name in _REPEATED_COLUMNS else f for f in RAW_SCHEMA])
# Low-cardinality columns compress best as dictionaries; statistics only where queries filter.
_DICTIONARY_COLUMNS = [
    "platform",
    "conversation_id",
    "sender",
    "direction",
    "participants",
    "content_type",
    "conversation_title",
    "export_id",
    "labels",
    "flags",
    "reactions",
    "subject",
    "reply_to_message_id",
    "source_ref",
    "reason",
]
_DEFAULTS = {"is_automated": False, "is_edited": False}


class LandingError(Exception):
    """A parser broke the contract (a bug, not bad input): nothing is landed."""


def export_id_of(files: tuple[Path, ...], root: Path) -> str:
    """Content hash of an export: the bytes of its files and their paths relative to the root."""
    h = hashlib.blake2b(digest_size=10)
    base = root if root.is_dir() else root.parent
    for f in sorted(files):
        h.update(str(f.relative_to(base) if f.is_relative_to(base) else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.file_digest(fh, "blake2b").digest())
    return h.hexdigest()


class AtomicParquetWriter:
    """Writes batches to <final>.tmp and renames on commit; owner-only permissions.

    A row group is encoded on a thread of its own (Arrow releases the GIL), so the parser builds
    the next batches meanwhile; one row group at a time is in flight, which bounds the memory.
    """

    def __init__(self, final: Path, schema: pa.Schema):
        self.final, self.schema = final, schema
        self.tmp = temp_name(final)
        private_dir(final.parent)
        _remove_stale_temp_files(final)
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._writer = pq.ParquetWriter(
            self._file,
            schema,
            compression="zstd",
            compression_level=1,
            use_dictionary=[c for c in _DICTIONARY_COLUMNS if c in schema.names],
            write_statistics=[c for c in ("timestamp_ms",) if c in schema.names],
            store_schema=False,
        )
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = self._pending_bytes = 0
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="parquet-encode")
        self._in_flight: Future | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self._pending.extend(table.to_batches())
        self._pending_rows += table.num_rows
        self._pending_bytes += table.nbytes
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS or self._pending_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending, self.schema)
            self._pending, self._pending_rows, self._pending_bytes = [], 0, 0
            self._wait()
            self._in_flight = self._encoder.submit(self._writer.write_table, table)

    def _wait(self) -> None:
        """Until the row group in flight is written; raises its error, if it had one."""
        if self._in_flight is not None:
            done, self._in_flight = self._in_flight, None
            done.result()

    def commit(self) -> None:
        self._flush()
        self._wait()
        self._encoder.shutdown()
        self._writer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        try:
            self._encoder.shutdown(wait=True)  # a write in flight must end before the file closes
            self._writer.close()
            self._file.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _remove_stale_temp_files(final: Path) -> None:
    """Delete the temp files a killed ingest of the same export left behind (its process is gone);
    readers never see them (dot-names ending .tmp match no *.parquet glob), but they take space."""
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        pid = stale.name[len(final.name) + 2 : -len(".tmp")]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_exists(int(pid)):
            stale.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def to_raw_table(batch, platform: str, export_id: str) -> pa.Table:
    """Complete a parser batch to the raw schema (as LANDING_SCHEMA): constants, defaults, casts,
    contract checks."""
    if isinstance(batch, dict):
        n = len(next(iter(batch.values()))) if batch else 0
        get = batch.get
    else:
        n = batch.num_rows
        get = lambda name: batch.column(name) if name in batch.schema.names else None  # noqa: E731
    cols = []
    for f in LANDING_SCHEMA:
        if f.name in ("platform", "export_id"):
            col = constant(platform if f.name == "platform" else export_id, n)
        else:
            col = get(f.name)
            if col is None:
                default = _DEFAULTS.get(f.name)
                col = pa.repeat(pa.scalar(default, f.type), n) if default is not None else pa.nulls(n, f.type)
            elif not isinstance(col, (pa.Array, pa.ChunkedArray)):
                col = pa.array(col, type=f.type)
            elif col.type != f.type:
                col = col.cast(f.type)
        if not f.nullable and col.null_count:
            raise LandingError(f"{platform} parser left required column {f.name} empty")
        cols.append(col)
    table = pa.table(cols, schema=LANDING_SCHEMA)
    for name, allowed in (("direction", DIRECTIONS), ("content_type", CONTENT_TYPES)):
        used = pc.unique(table[name]).dictionary_decode()
        if pc.any(pc.invert(pc.is_in(used, pa.array(allowed)))).as_py():
            raise LandingError(f"{platform} parser produced an unknown {name}")
    if n:
        low, high = pc.min_max(table["timestamp_ms"]).values()
        if low.as_py() < TIMESTAMP_MS_RANGE[0] or high.as_py() > TIMESTAMP_MS_RANGE[1]:
            raise LandingError(f"{platform} parser produced a timestamp_ms outside the years 1 to 9999")
    return table


@dataclass
class LandingResult:
    platform: str
    label: str
    export_id: str
    landed: int
    rejected: int
    records_in: int
    seconds: float
    path: Path
    reject_path: Path | None
    notes: list[str] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)


def land(ingester: Ingester, export: ExportInput, warehouse: Path, ctx: ParseContext) -> LandingResult:
    """Parse one export and atomically write its raw and reject Parquet files."""
    start = time.perf_counter()
    platform = ingester.platform
    items = ingester.parse(export, ctx)
    with ThreadPoolExecutor(1, thread_name_prefix=EXPORT_HASH_THREAD) as hashing:
        # The content hash names the files and fills export_id: hashed (GIL released) meanwhile
        # the first item is parsed, rather than before.
        export_id = hashing.submit(export_id_of, export.files, export.root)
        first = next(items, None)
        export_id = export_id.result()
    raw_path = Warehouse(warehouse).raw(platform) / f"{export_id}.parquet"
    reject_path = Warehouse(warehouse).rejects(platform) / f"{export_id}.parquet"
    raw = AtomicParquetWriter(raw_path, LANDING_SCHEMA)
    rejects = RejectSink(reject_path, platform, export_id)
    try:
        for item in chain([] if first is None else [first], items):
            if isinstance(item, Reject):
                rejects.add(item)
            else:
                raw.write(to_raw_table(item, platform, export_id))
        rejects.flush()
        if ctx.records_in != raw.rows + rejects.count:
            raise LandingError(
                f"{platform} parser found {ctx.records_in} records but landed {raw.rows} "
                f"and rejected {rejects.count}: records would be lost"
            )
        rejects.commit()
        raw.commit()
    except BaseException:
        raw.abort()
        rejects.abort()
        raise
    return LandingResult(
        platform,
        export.label,
        export_id,
        raw.rows,
        rejects.count,
        ctx.records_in,
        time.perf_counter() - start,
        raw_path,
        reject_path if rejects.count else None,
        ctx.notes,
        rejects.reasons,
    )


class RejectSink:
    """Streams rejects to their own Parquet file, created only when there is one."""

    def __init__(self, path: Path, platform: str, export_id: str):
        self.path, self.platform, self.export_id = path, platform, export_id
        self.count, self.reasons = 0, {}
        self._buffer: list[Reject] = []
        self._buffer_bytes = 0
        self._writer: AtomicParquetWriter | None = None

    def add(self, reject: Reject) -> None:
        self.count += 1
        self.reasons[reject.reason] = self.reasons.get(reject.reason, 0) + 1
        self._buffer.append(reject)
        self._buffer_bytes += len(reject.raw or "")
        if len(self._buffer) >= 10_000 or self._buffer_bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        self._writer = self._writer or AtomicParquetWriter(self.path, REJECT_SCHEMA)
        n = len(self._buffer)
        self._writer.write(
            pa.table(
                {
                    "platform": [self.platform] * n,
                    "export_id": [self.export_id] * n,
                    "source_ref": [r.source_ref for r in self._buffer],
                    "reason": [r.reason for r in self._buffer],
                    "raw": [r.raw for r in self._buffer],
                },
                schema=REJECT_SCHEMA,
            )
        )
        self._buffer, self._buffer_bytes = [], 0

    def commit(self) -> None:
        if self._writer:
            self._writer.commit()
        else:  # a clean re-ingest of an export that once had rejects
            self.path.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._writer:
            self._writer.abort()


__all__ = ["land", "LandingResult", "LandingError", "ExportError", "export_id_of", "to_raw_table", "LANDING_SCHEMA"]
