"""WhatsApp "Export chat" files → raw messages, vectorised over blocks of lines.

One export is one chat: a .txt, or the .zip the app writes. The file is read in blocks of whole
lines; its header variant's regex runs over a block's lines at once, dates and times are parsed
once per distinct string, and the columns are built as Arrow arrays, so the per-message Python
work is the message_id hash and the few messages that carry a marker (media, deletion, edit).

A file longer than SINGLE_BLOCK_BYTES is read twice, in smaller blocks that bound the memory:
a survey (dates and senders), because the date order and the participants must be known from
the whole file before its first row is written, then the parse. The last message of a block is
held back until the next block shows where it ends.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ingest.core.schema import CONTENT_TYPES, DIRECTIONS
from ingest.sources import zips
from ingest.sources.base import ExportError, ExportInput, Ingester, ParseContext, ParseItem, Reject
from ingest.sources.columns import constant, repeated_list
from ingest.sources.text import neutralise_column, strip_bidi
from ingest.sources.whatsapp.content import CANDIDATE_RE, classify_candidate
from ingest.sources.whatsapp.files import ChatSource, discover, open_chat, read_after
from ingest.sources.whatsapp.headers import Scan, detect_variant, scan_block
from ingest.sources.whatsapp.timestamps import DATE_ORDERS, LocalClock, epoch_days, infer_date_order, seconds_of_day

SINGLE_BLOCK_BYTES = 16 << 20  # a chat up to this size is read once, as one block
BLOCK_BYTES = 8 << 20  # a larger one is surveyed, then read again in blocks of this size
BATCH_ROWS = 50_000
MAX_MESSAGE_BYTES = 4 << 20  # held back across blocks up to this; a longer message is cut (and so rejected)
# Identical messages (same minute, sender and text) get ordinals across batches back to this long
# before the newest time seen (exports are nearly in time order; older ids are not kept).
REPEAT_WINDOW_SECONDS = 2 * 24 * 3600
SAMPLE_BYTES = 256 << 10
PARTICIPANT_CELLS = 1_000_000  # names repeated in one batch's participants column
_TYPE_CODE = {t: i for i, t in enumerate(CONTENT_TYPES)}


def parse(export: ExportInput, ctx: ParseContext) -> Iterator[ParseItem]:
    with open_chat(export) as source:
        yield from _ChatParser(source, ctx).records()


INGESTER = Ingester("whatsapp", discover, parse)


def conversation_id(title: str) -> str:
    """Stable across re-exports of the chat: a hash of its normalised name."""
    key = " ".join(strip_bidi(unicodedata.normalize("NFKC", title)).casefold().split())
    return "whatsapp:" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


@dataclass
class _Block:
    scan: Scan
    complete: int  # messages that end in this block (the rest is held back)
    input_bytes: int

    @property
    def held(self) -> bool:
        return self.complete < len(self.scan.rows)

    @property
    def finished_lines(self) -> int:
        """Newlines before the held-back message, or in the block's complete lines."""
        scan = self.scan
        if self.held:
            return int(scan.rows[self.complete])
        return len(scan.line_starts) - 1 - (scan.end > 0 and scan.data[scan.end - 1] != 10)

    def carry(self) -> bytes:
        """What the next block starts with: the held-back message, or an incomplete last line."""
        scan = self.scan
        return bytes(scan.data[scan.line_starts[scan.rows[self.complete]] if self.held else scan.end :])


class _ChatParser:
    def __init__(self, source: ChatSource, ctx: ParseContext):
        self.src, self.ctx = source, ctx
        with source.open() as f:
            head = f.read(SAMPLE_BYTES)
        variant = detect_variant(head.decode("utf-8", errors="replace"))
        if variant is None:
            utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))  # re-saved by an editor; WhatsApp writes UTF-8
            raise ExportError(
                source.display,
                None,
                "not a WhatsApp chat export: "
                + ("the file is UTF-16 text, save it as UTF-8" if utf16 else "no message header found"),
            )
        self.variant, self.regex = variant, variant.regex()
        self.conversation_id = conversation_id(source.title)
        self.clock = LocalClock(ctx.timezone)
        self.ids = _MessageIds(self.conversation_id)
        self.order = "dmy"
        self.participants = pa.array([], pa.string())

    def records(self) -> Iterator[ParseItem]:
        if self.src.size > SINGLE_BLOCK_BYTES:
            self._decide(self._blocks(BLOCK_BYTES))
            yield from self._emit(self._blocks(BLOCK_BYTES))
        else:
            blocks = list(self._blocks(SINGLE_BLOCK_BYTES))  # one scan serves both steps
            self._decide(iter(blocks))
            yield from self._emit(iter(blocks))

    def _blocks(self, size: int) -> Iterator[_Block]:
        carry, unscanned = b"", 0  # unscanned: input bytes read but not yet in a yielded block
        with self.src.open() as stream:
            while True:
                data = read_after(stream, carry, size)
                if not data:
                    return
                fresh = len(data) - len(carry)
                unscanned += fresh
                last = fresh < size
                end = len(data) if last else data.rfind(b"\n") + 1
                if end == 0 and len(data) < 4 * size:  # no complete line yet
                    carry = bytes(data)
                    continue
                block = self._block(data, end or len(data), last, unscanned)  # a giant line is cut
                yield block
                if last:
                    return
                carry, unscanned = block.carry(), 0

    def _block(self, data: bytearray, end: int, last: bool, input_bytes: int) -> _Block:
        """Scan a block; unless the file ends here, its last message waits for the next block
        (up to MAX_MESSAGE_BYTES: a longer one is cut, its rest rejected as lines outside any message)."""
        scan = scan_block(data, end, self.variant, self.regex)
        rows = scan.rows
        hold = not last and len(rows) > 0 and len(scan.data) - scan.line_starts[rows[-1]] <= MAX_MESSAGE_BYTES
        return _Block(scan, len(rows) - hold, input_bytes)

    def _decide(self, blocks: Iterator[_Block]) -> None:
        """Date order and participants from the whole file; the summary says what was chosen."""
        dates: set[str] = set()
        people: set[str] = set()
        for b in blocks:
            scan = b.scan
            dates.update(scan.dates[c] for c in _present(scan.date_codes))
            people.update(scan.sender_names[c] for c in _present(scan.sender_codes[scan.sender_codes >= 0]))
        configured = self.ctx.date_order if self.ctx.date_order in DATE_ORDERS else None
        self.order, how = infer_date_order(dates, configured, self.variant.twelve_hour)
        self.participants = pa.array(sorted(people), pa.string())
        self.ctx.note(f"{self.variant.style} headers, date order {self.order} ({how}), times read in {self.clock.name}")
        kind = "group chat" if len(people) > 2 else "one-to-one chat"
        self.ctx.note(f"{kind}, {len(people)} participant{'' if len(people) == 1 else 's'}")
        if not any(map(self.ctx.me.is_me, people)):
            self.ctx.note("no sender matches the configured names of me: all messages inbound")

    def _emit(self, blocks: Iterator[_Block]) -> Iterator[ParseItem]:
        line, repaired = 1, False
        for b in blocks:
            scan = b.scan
            yield from self._orphans(scan, line)
            if b.complete:
                yield from self._messages(b, line)
            line += b.finished_lines
            repaired |= scan.repaired_utf8
            self.ctx.advance(int(b.input_bytes * self.src.progress_scale))
        if repaired:
            self.ctx.note("invalid UTF-8 bytes replaced with U+FFFD")

    def _ref(self, first_line: int, raw: str) -> str:
        lines = raw.count("\n")
        return f"{self.src.display}:{first_line}" + (f"-{first_line + lines}" if lines else "")

    def _orphans(self, scan: Scan, line: int) -> Iterator[Reject]:
        """Lines before the block's first header: the preamble, or what follows an over-long message."""
        count = int(scan.rows[0]) if len(scan.rows) else len(scan.line_starts) - 1
        if count == 0:
            return
        raw = _decode(scan.data[: scan.line_starts[count]]).removesuffix("\n")
        reason = "text before the first message header" if line == 1 else "lines outside any message"
        self.ctx.records_in += 1
        yield Reject(self._ref(line, raw), reason, raw)

    def _messages(self, b: _Block, line: int) -> Iterator[ParseItem]:
        scan, n = b.scan, b.complete
        self.ctx.records_in += n
        ends = _text_ends(scan, n)
        local = _local_seconds(scan, n, self.order)
        sizes = ends - scan.text_start[:n]  # WhatsApp's own limit, 65,536 characters, is far below the cap
        too_long = (local >= 0) & (sizes > zips.MAX_MESSAGE_TEXT_BYTES)
        for i in np.flatnonzero((local < 0) | too_long).tolist():
            raw = _decode(scan.data[scan.line_starts[scan.rows[i]] : ends[i]])
            reason = zips.text_too_long(int(sizes[i])) if too_long[i] else "invalid date or time in message header"
            yield Reject(self._ref(line + int(scan.rows[i]), raw), reason, raw)
        valid = np.flatnonzero((local >= 0) & ~too_long)
        size = max(1, min(BATCH_ROWS, PARTICIPANT_CELLS // max(len(self.participants), 1)))  # big groups: smaller
        for first in range(0, len(valid), size):
            rows = valid[first : first + size]
            yield self._batch(scan, rows, ends[rows], local[rows], line)

    def _batch(self, scan: Scan, rows: np.ndarray, ends: np.ndarray, local: np.ndarray, line: int) -> pa.Table:
        """The table of the block's messages `rows` (indices into its headers)."""
        n, codes = len(rows), scan.sender_codes[rows]
        texts = _gather(scan.data, scan.text_start[rows], ends)
        content, body_text, edited = _contents(texts, scan.system[rows])
        names = pa.array(scan.sender_names, pa.string())
        senders = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), names)
        mine = np.array([self.ctx.me.is_me(x) for x in scan.sender_names] + [False])
        return pa.table(
            {
                "conversation_id": constant(self.conversation_id, n),
                "message_id": self.ids.make(local, senders, texts),
                "timestamp_ms": _arrow(self.clock.to_utc(local) * 1000),
                "sender": senders.cast(pa.string()),
                "direction": _dictionary(mine[codes].view(np.int8), DIRECTIONS),
                "participants": repeated_list(self.participants, n),
                "body_raw": texts,
                "body_text": neutralise_column(body_text),
                "content_type": content,
                "conversation_title": constant(self.src.title, n),
                "is_edited": pa.array(edited, pa.bool_()),
                "source_ref": pc.binary_join_element_wise(
                    f"{self.src.display}:", _arrow(line + scan.rows[rows]).cast(pa.string()), ""
                ),
            }
        )


def _present(codes: np.ndarray) -> list[int]:
    """The distinct values of small non-negative codes, without sorting."""
    return np.flatnonzero(np.bincount(codes)).tolist() if len(codes) else []


def _decode(raw: bytearray) -> str:
    return raw.decode("utf-8").replace("\r\n", "\n")


def _text_ends(scan: Scan, n: int) -> np.ndarray:
    """End (exclusive) of each message: the newline (or CRLF) before the next header, or the block's end."""
    ends = scan.line_starts[scan.rows[1 : n + 1]] - 1
    if len(ends) < n:  # the block's last message ends with the block
        ends = np.append(ends, scan.end - (scan.end > 0 and scan.data[scan.end - 1] == 10))
    ends = np.maximum(ends, scan.text_start[:n])
    if b"\r" in scan.data:
        buf = np.frombuffer(scan.data, dtype=np.uint8)
        crlf = (buf[np.maximum(ends - 1, 0)] == 13) & (buf[np.minimum(ends, scan.end - 1)] == 10)
        ends -= crlf & (ends > scan.text_start[:n])
    return ends


def _gather(data: bytearray, starts: np.ndarray, ends: np.ndarray) -> pa.StringArray:
    """The ordered byte ranges [starts, ends) of data as one string array, CR of CRLF dropped."""
    low, high = (int(starts[0]), int(ends[-1])) if len(starts) else (0, 0)
    buf = np.frombuffer(data, dtype=np.uint8, count=high - low, offset=low)
    starts, ends = starts - low, ends - low
    # bytes alternate gap, text, gap, text, ..., gap: keep the text runs
    bounds = np.empty(2 * len(starts) + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, len(buf)
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    keep = np.repeat(np.arange(len(bounds) - 1) % 2 == 1, np.diff(bounds))
    lengths = ends - starts
    if data.find(b"\r", low, high) >= 0:
        cr = np.flatnonzero((buf[:-1] == 13) & (buf[1:] == 10))
        keep[cr] = False
        lengths = lengths - (np.searchsorted(cr, ends) - np.searchsorted(cr, starts))
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    return pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(buf[keep]))


def _local_seconds(scan: Scan, n: int, order: str) -> np.ndarray:
    """Naive local epoch seconds of the first n headers, -1 where the date or time is not real."""
    days = epoch_days(scan.dates, order)[scan.date_codes[:n]]
    seconds = seconds_of_day(scan.times)[scan.time_codes[:n]]
    return np.where((days >= 0) & (seconds >= 0), days * 86400 + seconds, -1)


def _contents(texts: pa.StringArray, system: np.ndarray) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """content_type, body_text and is_edited: plain text unless a marker says otherwise.

    Marked texts repeat ("<Media omitted>"), so each distinct one is classified once."""
    codes = np.full(len(texts), _TYPE_CODE["text"], dtype=np.int8)
    edited = np.zeros(len(texts), dtype=bool)
    marked = np.flatnonzero(~system & np.asarray(pc.match_substring_regex(texts, CANDIDATE_RE)))
    lines = np.flatnonzero(system)
    if not len(marked) and not len(lines):
        return _dictionary(codes, CONTENT_TYPES), texts, edited
    distinct = texts.take(marked).dictionary_encode()
    found = [classify_candidate(t) for t in distinct.dictionary.to_pylist()]
    which = np.asarray(distinct.indices)
    codes[marked] = np.array([_TYPE_CODE[kind] for kind, _, _ in found], dtype=np.int8)[which]
    edited[marked] = np.array([e for _, _, e in found], dtype=bool)[which]
    codes[lines] = _TYPE_CODE["system"]
    bodies = pa.concat_arrays(
        [
            pa.array([b for _, b, _ in found], pa.string()).take(which),
            pa.array([strip_bidi(t).strip() for t in texts.take(lines).to_pylist()], pa.string()),
        ]
    )
    rows = np.concatenate([marked, lines])
    mask = np.zeros(len(texts), dtype=bool)
    mask[rows] = True
    body_text = pc.replace_with_mask(texts, pa.array(mask), bodies.take(np.argsort(rows)))
    return _dictionary(codes, CONTENT_TYPES), body_text, edited


def _dictionary(codes: np.ndarray, values: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(_arrow(codes), pa.array(values, pa.string()))


class _MessageIds:
    """message_id = XXH3-128 of the message text, seeded with a mix of conversation, local time and
    sender; a repeat of an identical message (same time, sender and text) hashes its ordinal too.
    A re-export of the chat, longer or zipped, so gives the same ids. Ordinals count every earlier
    identical message in the file, whichever batch it was in, unless its time is more than
    REPEAT_WINDOW_SECONDS before the newest time seen: exports are nearly in time order, and
    only ids of that window are kept, which bounds the memory."""

    def __init__(self, conversation: str):
        self.conversation = xxhash.xxh3_64_intdigest(conversation.encode())
        self.recent = np.empty(0, np.uint64)  # ids (first 64 bits) of earlier batches, in the window
        self.recent_times = np.empty(0, np.int64)
        self.newest: int | None = None

    def make(self, local: np.ndarray, senders: pa.DictionaryArray, texts: pa.StringArray) -> pa.Array:
        names = senders.dictionary.to_pylist()
        sender_seeds = np.array([xxhash.xxh3_64_intdigest(x.encode()) for x in names] + [0], dtype=np.uint64)
        codes = np.asarray(senders.indices.fill_null(-1), dtype=np.int64)
        seeds = _mix(_mix(local.astype(np.uint64) ^ np.uint64(self.conversation)) ^ sender_seeds[codes]).tolist()
        pieces = _split_strings(texts)
        digests = np.frombuffer(b"".join(map(xxhash.xxh3_128_digest, pieces, seeds)), np.uint8).reshape(-1, 16).copy()
        short = digests[:, :8].copy().view(np.uint64).ravel()
        for i, ordinal in self._repeats(short, local):
            digests[i] = np.frombuffer(xxhash.xxh3_128_digest(pieces[i] + b"\x1f%d" % ordinal, seeds[i]), np.uint8)
        return _hex(digests)

    def _repeats(self, short: np.ndarray, local: np.ndarray) -> list[tuple[int, int]]:
        """(row, ordinal) of each message identical to an earlier one."""
        ordered = np.sort(short)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        earlier = self.recent[np.isin(self.recent, short)]
        seen = Counter(earlier.tolist())
        out = []
        for i in np.flatnonzero(np.isin(short, np.concatenate([repeated, earlier]))).tolist():
            key = int(short[i])
            if seen[key]:
                out.append((i, seen[key]))
            seen[key] += 1
        if len(short):
            top = int(local.max())
            self.newest = top if self.newest is None else max(self.newest, top)
            times = np.concatenate([self.recent_times, local.astype(np.int64)])
            keep = times >= self.newest - REPEAT_WINDOW_SECONDS
            self.recent, self.recent_times = np.concatenate([self.recent, short])[keep], times[keep]
        return out


def _arrow(values: np.ndarray) -> pa.Array:
    """A numeric numpy array as Arrow without a copy."""
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit affects every output bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_HEX_PAIRS = np.array([ord(h[0]) | ord(h[1]) << 8 for h in (f"{i:02x}" for i in range(256))], dtype="<u2")


def _hex(digests: np.ndarray) -> pa.StringArray:
    """Rows of bytes (digests) as lowercase hex strings, without a Python loop."""
    n, width = digests.shape
    offsets = np.arange(0, 2 * width * n + 1, 2 * width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(_HEX_PAIRS[digests]))


def _split_strings(texts: pa.StringArray) -> list[bytes]:
    """Each string's UTF-8 bytes (b"" for null), cut apart at C speed: 0xFF never occurs in UTF-8."""
    if not len(texts):
        return []
    offsets = np.frombuffer(texts.buffers()[1], np.int32, len(texts) + 1, texts.offset * 4)
    data = texts.buffers()[2]
    values = np.frombuffer(data, np.uint8, offsets[-1] - offsets[0], offsets[0]) if data else np.empty(0, np.uint8)
    return np.insert(values, offsets[1:-1] - offsets[0], 0xFF).tobytes().split(b"\xff")
