"""Gmail: Google Takeout mbox files → raw messages, with the text the person actually wrote.

One ExportInput per .mbox file (a folder expands to its .mbox files). mbox_reader streams the
file; each message is parsed here by a small MIME reader of our own rather than the stdlib `email`
package, which (compat32) parses about 5,000 messages/s on this machine before any body is
extracted. Only what the columns need is decoded: a handful of headers, the text parts
(quoted-printable, base64, declared, wrong or missing charsets), the types of the other parts.
Bodies go through email_text for body_text.

Large files on a machine with several cores are parsed by worker processes, each reading its own
byte range of the mbox; this process only derives threads (which need file order) and hands
the Arrow tables to the landing. Both paths land identical rows.
"""

from __future__ import annotations

import gc
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ingest.sources.base import ExportError, ExportInput, Ingester, ParseContext, ParseItem, Reject, single_files
from ingest.sources.gmail.columns import Columns, raw_text
from ingest.sources.gmail.mbox import RawMessage, check_mbox, read_mbox
from ingest.sources.gmail.message import parse_message
from ingest.sources.gmail.threads import Threads
from ingest.sources.workers import start_workers

CHUNK_MESSAGES = 2_000  # rows per batch when parsing in this process (at most ~4 MiB of mail)
CHUNK_BYTES = 4 << 20
RANGE_BYTES = 8 << 20  # the unit of work of a worker process
PARALLEL_FROM_BYTES = RANGE_BYTES  # smaller files are one range: nothing to share out
MAX_WORKERS = 4


# ----------------------------------------------------------------------------------------- discover


def discover(paths: list[Path]) -> list[ExportInput]:
    exports = []
    for path in map(Path, paths):
        if path.is_dir():
            files = single_files([path], (".mbox",))
            if not files:
                raise ExportError(path, None, "no .mbox files in this folder")
            exports += [ExportInput(str(f.relative_to(path)), (f,), path) for f in files]
        else:
            exports += [ExportInput(f.name, (f,), f) for f in single_files([path], (".mbox",))]
    return exports


# -------------------------------------------------------------------------------------------- parse


def parse(export: ExportInput, ctx: ParseContext) -> Iterator[ParseItem]:
    if not ctx.me.addresses:
        ctx.note(
            "gmail: no email address of yours configured (--me or [me] emails): "
            "only mail labelled Sent counts as outbound"
        )
    # One pool for the export, started before anything is yielded (see worker_processes).
    workers = max(_worker_count(path.stat().st_size) for path in export.files)
    pool = start_workers(workers) if workers > 1 else None
    try:
        for path in export.files:
            name = str(path.relative_to(export.root)) if export.root.is_dir() else path.name
            yield from _parse_file(path, name, ctx, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _parse_file(path: Path, name: str, ctx: ParseContext, pool: ProcessPoolExecutor | None) -> Iterator[ParseItem]:
    threads = Threads()
    mine = ctx.me.addresses
    size = path.stat().st_size
    workers = _worker_count(size) if pool is not None else 1
    if workers > 1:
        check_mbox(path)  # here, so the error is raised in this process
        # The first range is parsed here while the workers take the next ones. It is smaller, as
        # spawned workers first import for most of a second: this process should wait on them, not
        # they on it.
        first = RANGE_BYTES // 2
        ranges = [(0, first)] + [(start, min(start + RANGE_BYTES, size)) for start in range(first, size, RANGE_BYTES)]
        parsed = _in_processes(pool, workers, path, ranges, name, mine, ctx)
    else:
        parsed = (parse_chunk(chunk, name, mine) for chunk in _chunks(read_mbox(path, ctx.advance)))
    for chunk in parsed:
        ctx.records_in += chunk.records
        yield from chunk.rejects
        if chunk.table is not None:
            conversations = [threads.conversation_of(*keys) for keys in chunk.thread_keys]
            yield chunk.table.append_column("conversation_id", pa.array(conversations, pa.string()))
        for offset in chunk.truncated:
            ctx.note(f"gmail: {name}: the message at byte {offset} is cut short; landed what was readable")


def _worker_count(size: int) -> int:
    """Worker processes for a file: none for small files or on one core, else one per core.

    Not fewer on a busy machine: the load average here counts tasks that use no CPU, and more
    processes still get a larger share of a contended machine than one does."""
    if size < PARALLEL_FROM_BYTES:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(MAX_WORKERS, cores)


def _chunks(messages: Iterator[RawMessage]) -> Iterator[list[RawMessage]]:
    chunk: list[RawMessage] = []
    size = 0
    for raw in messages:
        chunk.append(raw)
        size += len(raw.data)
        if len(chunk) >= CHUNK_MESSAGES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _in_processes(
    pool: ProcessPoolExecutor,
    workers: int,
    path: Path,
    ranges: list[tuple[int, int]],
    name: str,
    mine: frozenset[str],
    ctx: ParseContext,
) -> Iterator[ParsedChunk]:
    """parse_range over byte ranges, in file order: the first here, the rest in the worker
    processes, a few in flight. Each worker reads its own range, so this process only gathers the
    Arrow tables. If the workers cannot run (BrokenProcessPool), the rest is parsed here."""
    todo = deque(ranges[1:])
    pending: deque = deque()

    def submit() -> None:
        while todo and len(pending) < 2 * workers:
            pending.append((todo[0], pool.submit(parse_range, path, *todo[0], name, mine)))
            todo.popleft()

    try:
        submit()
        ctx.advance(ranges[0][1] - ranges[0][0])
        yield parse_range(path, *ranges[0], name, mine)
        while pending:
            (start, stop), future = pending[0]
            chunk = future.result()
            pending.popleft()
            submit()
            ctx.advance(stop - start)
            yield chunk
    except BrokenProcessPool:
        ctx.note("gmail: worker processes failed to run; parsed in this process instead")
        for start, stop in [r for r, _ in pending] + list(todo):
            ctx.advance(stop - start)
            yield parse_range(path, start, stop, name, mine)
    finally:
        for _, future in pending:
            future.cancel()


@dataclass
class ParsedChunk:
    records: int  # messages found, each landed (a row) or rejected
    table: pa.Table | None  # their rows, without conversation_id (threads span chunks)
    thread_keys: list[tuple]  # per row, what Threads.conversation_of needs
    rejects: list[Reject]
    truncated: list[int]  # byte offsets of messages cut short by the end of the file


def parse_range(path: Path, start: int, stop: int, name: str, mine: frozenset[str]) -> ParsedChunk:
    """The messages whose From_ line starts in [start, stop), parsed (runs in a worker process)."""
    return parse_chunk(list(read_mbox(path, start=start, stop=stop)), name, mine)


def parse_chunk(raws: list[RawMessage], name: str, mine: frozenset[str]) -> ParsedChunk:
    # Parsing makes no reference cycles, so the cycle collector's passes over the growing
    # columns are pure cost (a fifth of the time); it is paused for the chunk.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse_chunk(raws, name, mine)
    finally:
        if collecting:
            gc.enable()


def _parse_chunk(raws: list[RawMessage], name: str, mine: frozenset[str]) -> ParsedChunk:
    columns = Columns()
    keys: list[tuple] = []
    rejects: list[Reject] = []
    truncated: list[int] = []
    for raw in raws:
        ref = f"{name}@{raw.offset}"
        try:
            message = parse_message(raw, mine)
        except Exception as e:  # an input no rule foresaw: that message is rejected, the rest lands
            rejects.append(Reject(ref, f"unparseable message ({type(e).__name__})", raw_text(raw)))
            continue
        if isinstance(message, str):
            rejects.append(Reject(ref, message, raw_text(raw)))
            continue
        columns.add(message, ref)
        keys.append((message.thread_id, message.message_id, message.reply_to, message.root_reference, message.subject))
        if "truncated" in message.flags:
            truncated.append(raw.offset)
    return ParsedChunk(len(raws), columns.table() if keys else None, keys, rejects, truncated)


INGESTER = Ingester("gmail", discover, parse)
