"""Instagram and Facebook Messenger: Meta's "Download your information" exports in JSON.

`ai-me ingest instagram|messenger PATH...` where PATH is the export folder or its zip(s). Every
message file is parsed on its own (memory is bounded by the largest file, not the export); a
file that is not valid JSON becomes one reject with the parser's position, the rest still lands.
conversation_id is the platform and the thread's folder name, which Meta keeps across exports.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from itertools import groupby

import orjson
import pyarrow as pa

from ingest.sources.base import ExportInput, Ingester, ParseContext, ParseItem, Reject
from ingest.sources.meta.files import MessageFile, UnreadableFile, discover, message_files
from ingest.sources.meta.messages import E2EE, LEGACY, Ordinals, People, convert, shape_of, with_message_ids
from ingest.sources.meta.text import Repairer

BATCH_ROWS = 50_000
AHEAD = 2  # batches parsed ahead of the landing
RAW_PREVIEW_BYTES = 64 << 10  # of an unparsable file, kept with its reject (the file stays the user's)


class _Batch:
    """Tables gathered across files, handed out (with their message ids) in batches of BATCH_ROWS."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table | None) -> Iterator[pa.Table]:
        if table is not None:
            self.tables.append(table)
            self.rows += table.num_rows
        if self.rows >= BATCH_ROWS:
            yield from self._take(self.rows // BATCH_ROWS * BATCH_ROWS)

    def flush(self) -> Iterator[pa.Table]:
        if self.rows:
            yield from self._take(self.rows)

    def _take(self, rows: int) -> Iterator[pa.Table]:
        table = pa.concat_tables(self.tables)  # zero-copy: the files' tables become chunks
        for start in range(0, rows, BATCH_ROWS):
            yield with_message_ids(table.slice(start, min(BATCH_ROWS, rows - start)))
        rest = table.slice(rows)
        self.tables, self.rows = ([rest] if rest.num_rows else []), rest.num_rows


def parse(export: ExportInput, ctx: ParseContext, platform: str) -> Iterator[ParseItem]:
    """Parsing runs a few batches ahead in a worker thread, so that it overlaps the landing's
    Parquet writing (which releases the GIL) instead of waiting for it."""
    yield from _ahead(_parse(export, ctx, platform), AHEAD)


def _ahead(items: Iterator, depth: int) -> Iterator:
    """The items of `items`, produced in a worker thread at most `depth` items ahead; its errors
    are raised here, and closing this generator stops the worker and closes `items`."""
    queue_: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                queue_.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as e:  # handed over to the consumer, which raises it
            put((False, e))
        finally:
            items.close()

    worker = threading.Thread(target=work, name="meta-parse", daemon=True)
    worker.start()
    try:
        while True:
            more, value = queue_.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        worker.join()


def _parse(export: ExportInput, ctx: ParseContext, platform: str) -> Iterator[ParseItem]:
    people = People(ctx.me, Repairer())
    batch = _Batch()
    shapes = {LEGACY.name: 0, E2EE.name: 0}
    advanced = threads = 0
    with message_files(export) as files:
        for _, thread_files in groupby(files, key=lambda f: f.thread):
            thread_files = list(thread_files)
            conversation_id = f"{platform}:{thread_files[0].thread_name}"
            ordinals = Ordinals()
            threads += 1
            for file in thread_files:
                data = _load(file)
                if isinstance(data, Reject):
                    ctx.records_in += 1  # an unreadable file counts as one record
                    yield data
                else:
                    shape = shape_of(data)
                    shapes[shape.name] += 1
                    ctx.records_in += len(data["messages"])
                    table, rejects = convert(data, shape, file.ref, conversation_id, people, ordinals)
                    yield from rejects
                    yield from batch.add(table)
                ctx.advance(file.size)
                advanced += file.size
    yield from batch.flush()
    ctx.advance(sum(p.stat().st_size for p in export.files) - advanced)  # media and other files in zips
    ctx.note(
        f"{threads} threads in {sum(shapes.values())} message files "
        f"({shapes[LEGACY.name]} legacy JSON, {shapes[E2EE.name]} end-to-end-encrypted JSON)"
    )


def _load(file: MessageFile) -> dict | Reject:
    """The file's JSON object, or the reject that stands for the whole file."""
    try:
        raw = file.read()
    except UnreadableFile as e:
        return Reject(file.ref, str(e), None)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:  # orjson reports these at char 0
            return Reject(f"{file.ref}@{bad.start}", f"invalid JSON: not UTF-8 at byte {bad.start}", _preview(raw))
        return Reject(
            f"{file.ref}:{e.lineno}:{e.colno}",
            f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno} (char {e.pos})",
            _preview(raw),
        )
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return Reject(file.ref, 'not a Meta message file: no "messages" list', _preview(raw))
    return data


def _preview(raw: bytes) -> str:
    return raw[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace")


def _ingester(platform: str) -> Ingester:
    return Ingester(platform, discover, lambda export, ctx: parse(export, ctx, platform))


INSTAGRAM = _ingester("instagram")
MESSENGER = _ingester("messenger")
