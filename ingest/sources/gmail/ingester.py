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

import binascii
import calendar
import codecs
import datetime as dt
import functools
import gc
import hashlib
import os
import re
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from email.utils import parsedate_tz
from itertools import islice
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from ingest.sources import zips
from ingest.sources.base import ExportError, ExportInput, Ingester, ParseContext, ParseItem, Reject, single_files
from ingest.sources.gmail.email_text import analyse
from ingest.sources.gmail.html_text import html_to_text
from ingest.core.identity import Me, norm_email
from ingest.sources.gmail.mbox import MAX_MESSAGE_BYTES, RawMessage, check_mbox, envelope_timestamp_ms, read_mbox
from ingest.core.schema import RAW_SCHEMA
from ingest.sources.text import neutralise, neutralise_column
from ingest.sources.workers import start_workers

CHUNK_MESSAGES = 2_000         # rows per batch when parsing in this process (at most ~4 MiB of mail)
CHUNK_BYTES = 4 << 20
RANGE_BYTES = 8 << 20           # the unit of work of a worker process
PARALLEL_FROM_BYTES = RANGE_BYTES  # smaller files are one range: nothing to share out
MAX_WORKERS = 4
MAX_MIME_DEPTH = 20
REJECT_RAW_BYTES = 64 << 10  # enough to see what went wrong; the byte offset finds the rest
AUTOMATED_LABELS = frozenset({"Category Promotions", "Category Social", "Category Updates"})

_MESSAGE_HEADERS = frozenset(
    b"message-id in-reply-to references x-gm-thrid x-gmail-labels from to cc date subject content-type"
    b" content-transfer-encoding content-disposition list-unsubscribe precedence auto-submitted".split())
_PART_HEADERS = frozenset(b"content-type content-transfer-encoding content-disposition".split())
_CALENDAR_TYPES = (b"text/calendar", b"application/ics")
_LOGICAL_LINE = re.compile(rb"\n(?![ \t])")  # a header line with its folded continuation lines
_LOOKS_LIKE_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")
_PARAM = re.compile(rb';\s*([A-Za-z0-9_*.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_MESSAGE_ID = re.compile(rb"<([^<>\s]+)>")
_ANGLE_ADDRESS = re.compile(rb"<([^<>@\s]+@[^<>\s]+)>")
_ADDRESS = re.compile(rb'[^\s<>",;:()\[\]]+@[^\s<>",;:()\[\]]+')
_ADDRESS_BESIDE_NAMES = re.compile(  # quoted names and comments match first, so an address in them is skipped
    rb'"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)|<\s*([^<>\s@]+@[^<>\s]+?)\s*>'
    rb'|([^\s<>",;:()\[\]]+@[^\s<>",;:()\[\]]+)')
# The usual "Mon, 2 Jan 2023 10:11:12 +0100"; anything else goes to email.utils.parsedate_tz.
_RFC_DATE = re.compile(
    rb"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d\d)(?::(\d\d))?\s+([+-])(\d\d)(\d\d)")
_KNOWN_ZONE = re.compile(rb"[+-]\d{4}\b|\b(?:UT|UTC|GMT|Z|[ECMP][SD]T)\b", re.I)
_MONTHS = {m.lower().encode(): i for i, m in enumerate(calendar.month_abbr) if m}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_LABEL = re.compile(r'"((?:[^"\\]|\\.)*)"|([^,]+)')
_REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|fwd?|aw|wg|tr|sv|vs|antw|odp|rif|r|res|enc|rv|ynt|fs|ref|doorst|trans|ответ|пересл)"
    r"\s*(?:\[\d+\])?\s*[:：])+\s*", re.I)
_NO_REPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon)", re.I)
_MULTIBYTE_CODECS = ("utf_", "utf-", "gb", "big5", "shift_jis", "euc_", "iso2022", "cp932", "cp936", "cp949",
                     "cp950", "hz", "johab")
_SEVEN_BIT_CODECS = ("iso2022", "utf-7", "hz")  # ASCII bytes that are not ASCII text
_CHARSET_ALIASES = {"us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-1": "cp1252", "latin1": "cp1252",
                    "latin-1": "cp1252", "iso8859-1": "cp1252", "gb2312": "gb18030", "gbk": "gb18030",
                    "ks_c_5601-1987": "cp949", "iso-8859-8-i": "iso8859_8", "unicode-1-1-utf-7": "utf-7",
                    "x-unknown": "", "unknown-8bit": "", "unknown": "", "x-user-defined": ""}
_NOT_FOR_MAIL = frozenset({"unicode_escape", "raw_unicode_escape", "undefined", "idna", "punycode"})


def _cp1252_for_bad_utf8(err: UnicodeDecodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Windows-1252: mixed or mislabelled mail reads right."""
    return err.object[err.start:err.end].decode("cp1252", "replace"), err.end


codecs.register_error("ai_me_cp1252", _cp1252_for_bad_utf8)


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
        ctx.note("gmail: no email address of yours configured (--me or [me] emails): "
                 "only mail labelled Sent counts as outbound")
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
    threads = _Threads()
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


def _in_processes(pool: ProcessPoolExecutor, workers: int, path: Path, ranges: list[tuple[int, int]],
                  name: str, mine: frozenset[str], ctx: ParseContext) -> Iterator[ParsedChunk]:
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
    records: int                # messages found, each landed (a row) or rejected
    table: pa.Table | None      # their rows, without conversation_id (threads span chunks)
    thread_keys: list[tuple]    # per row, what _Threads.conversation_of needs
    rejects: list[Reject]
    truncated: list[int]        # byte offsets of messages cut short by the end of the file


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
    columns = _Columns()
    keys: list[tuple] = []
    rejects: list[Reject] = []
    truncated: list[int] = []
    for raw in raws:
        ref = f"{name}@{raw.offset}"
        try:
            message = parse_message(raw, mine)
        except Exception as e:  # an input no rule foresaw: that message is rejected, the rest lands
            rejects.append(Reject(ref, f"unparseable message ({type(e).__name__})", _raw_text(raw)))
            continue
        if isinstance(message, str):
            rejects.append(Reject(ref, message, _raw_text(raw)))
            continue
        columns.add(message, ref)
        keys.append((message.thread_id, message.message_id, message.reply_to, message.root_reference,
                     message.subject))
        if "truncated" in message.flags:
            truncated.append(raw.offset)
    return ParsedChunk(len(raws), columns.table() if keys else None, keys, rejects, truncated)


@dataclass(slots=True)
class Message:
    message_id: str
    timestamp_ms: int
    sender: str | None
    outbound: bool
    participants: list[str]
    subject: str | None
    reply_to: str | None
    root_reference: str | None  # the first References id: the thread's first message
    thread_id: str | None
    labels: list[str] | None
    is_automated: bool
    content_type: str
    body_raw: str | None
    body_text: str | None
    flags: list[str]


def parse_message(raw: RawMessage, mine: frozenset[str]) -> Message | str:
    """One mbox message → Message, or the reason it cannot be used (no message text in it)."""
    if raw.oversized:
        return f"message larger than {MAX_MESSAGE_BYTES >> 20} MiB: separators missing or file damaged"
    data = raw.data.replace(b"\r\n", b"\n") if b"\r" in raw.data else raw.data
    if not _LOOKS_LIKE_HEADER.match(data):
        return "no mail headers after the From_ line"
    head, body, has_body = _split_head(data)
    headers = _headers(head, _MESSAGE_HEADERS)
    flags: list[str] = []
    timestamp = _timestamp(headers.get(b"date"), raw.envelope, flags)
    if timestamp is None:
        return "no usable date in the Date header or the From_ line"

    mime = _Mime(flags)
    body_raw = mime.text_of(headers, body)
    if body_raw and len(body_raw) * 4 > zips.MAX_MESSAGE_TEXT_BYTES:   # the cap of every platform
        if (size := len(body_raw.encode("utf-8", "surrogatepass"))) > zips.MAX_MESSAGE_TEXT_BYTES:
            return zips.text_too_long(size)
    extracted = analyse(body_raw) if body_raw else None
    if extracted and extracted.forwarded or "attachment:message/rfc822" in flags:
        flags.append("forwarded")
    if raw.at_eof and (not raw.complete or not has_body or mime.unterminated):
        flags.append("truncated")
    elif mime.unterminated:
        flags.append("mime_unterminated")

    sender, participants = _people(headers.get(b"from"), headers.get(b"to"), headers.get(b"cc"))
    labels = _labels(headers.get(b"x-gmail-labels"))
    subject = _subject(headers[b"subject"]) if b"subject" in headers else None
    message_id = _first_id(headers.get(b"message-id")) or _decoded(headers.get(b"message-id", b"").strip())
    if not message_id:
        message_id = "gmail-hash:" + hashlib.blake2b(
            b"\0".join([headers.get(b"from", b""), headers.get(b"date", b""), headers.get(b"subject", b""), body]),
            digest_size=12).hexdigest()
        flags.append("message_id_missing")
    return Message(
        message_id=message_id,
        timestamp_ms=timestamp,
        sender=sender,
        outbound=bool(sender and norm_email(sender) in mine) or bool(labels and "Sent" in labels),
        participants=participants,
        subject=subject,
        reply_to=_first_id(headers.get(b"in-reply-to")),
        root_reference=_first_id(headers.get(b"references")),
        thread_id=_decoded(headers.get(b"x-gm-thrid", b"").strip()) or None,
        labels=labels,
        is_automated=_is_automated(headers, sender, labels),
        content_type="calendar" if mime.calendar else "email",
        body_raw=body_raw,
        body_text=extracted.text if extracted else None,   # neutralised column-wise in _Columns.table
        flags=flags,
    )


# ------------------------------------------------------------------------------------------ headers

def _split_head(data: bytes) -> tuple[bytes, bytes, bool]:
    """Headers and body; the flag is False when the blank line ending the headers never came."""
    if data.startswith(b"\n"):
        return b"", data[1:], True
    end = data.find(b"\n\n")
    if end < 0:
        return data, b"", False
    return data[:end], data[end + 2:], True


def _headers(head: bytes, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """The first value of each wanted header (lowercase name → raw value, still folded)."""
    found: dict[bytes, bytes] = {}
    for line in _LOGICAL_LINE.split(head):
        name, colon, value = line.partition(b":")
        if colon:
            name = name.rstrip().lower()
            if name in wanted and name not in found:
                found[name] = value
    return found


def _header_text(value: bytes | None) -> str:
    """A header value unfolded and decoded: raw UTF-8 (or Windows-1252) and RFC 2047 words."""
    if not value:
        return ""
    text = _decoded(value.replace(b"\n", b"").strip())
    return _decode_words(text) if "=?" in text else text


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words of one charset are joined before decoding,
    since encoders split multi-byte characters across them."""
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = None
    pos = 0
    for m in _ENCODED_WORD.finditer(text):
        gap = text[pos:m.start()]
        charset = m[1].split("*", 1)[0].lower()
        if pending and (gap.strip() or charset != pending_charset):
            out.append(_decode_charset(b"".join(pending), pending_charset)[0])
            pending = []
        if gap.strip() or not out and not pending:
            out.append(gap)
        pending_charset = charset
        pending.append(_word_bytes(m[2], m[3]))
        pos = m.end()
    if pending:
        out.append(_decode_charset(b"".join(pending), pending_charset)[0])
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(encoding: str, payload: str) -> bytes:
    data = payload.encode("ascii", "replace")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return _base64(data)[0]


def _decoded(value: bytes) -> str:
    """Header bytes as text: UTF-8, with stray non-UTF-8 bytes read as Windows-1252."""
    return value.decode("utf-8", "ai_me_cp1252")


def _first_id(value: bytes | None) -> str | None:
    """The first <id> of a Message-ID, In-Reply-To or References value."""
    m = _MESSAGE_ID.search(value) if value else None
    return _decoded(m[1]) if m else None


# Header values repeat across a mailbox (correspondents, labels, thread subjects, the heads of MIME
# parts), so what is decoded from them is cached; callers never change what these return.
_CACHED = functools.lru_cache(maxsize=4096)


@_CACHED
def _people(from_: bytes | None, to: bytes | None, cc: bytes | None) -> tuple[str | None, list[str]]:
    """(sender, participants): the From address (else its text), then every address, once each."""
    senders = _addresses(from_)
    sender = senders[0] if senders else (_header_text(from_) or None)
    return sender, _unique(senders + _addresses(to) + _addresses(cc))


@_CACHED
def _subject(value: bytes) -> str:
    return neutralise(_header_text(value))


def _addresses(value: bytes | None) -> list[str]:
    """Lowercase addresses in an address header (display names are not needed)."""
    if not value or b"@" not in value:
        return []
    found = _ANGLE_ADDRESS.findall(value)
    if len(found) < value.count(b"@"):  # bare addresses too, or an @ inside a display name
        if b'"' in value or b"(" in value:
            found = [angle or bare for angle, bare in _ADDRESS_BESIDE_NAMES.findall(value) if angle or bare]
        else:
            found = _ADDRESS.findall(value)
    return [_decoded(address.lower().rstrip(b".")) for address in found]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@_CACHED
def _labels(value: bytes | None) -> list[str] | None:
    if value is None:
        return None
    text = _header_text(value)
    if '"' in text:  # a label with a comma in its name is quoted
        labels = [(quoted or plain).strip() for quoted, plain in _LABEL.findall(text)]
    else:
        labels = [label.strip() for label in text.split(",")]
    return [label for label in labels if label]


def _timestamp(value: bytes | None, envelope: bytes, flags: list[str]) -> int | None:
    """UTC epoch ms from the Date header, else from the From_ line (flagged)."""
    if value:
        ms = _usual_date_ms(value)
        if ms is None:
            ms = _unusual_date_ms(value, flags)
        if ms is not None:
            return ms
    envelope_ms = envelope_timestamp_ms(envelope)
    if envelope_ms is not None:
        flags.append("date_from_envelope")
    return envelope_ms


def _usual_date_ms(value: bytes) -> int | None:
    m = _RFC_DATE.match(value)
    days = _epoch_days(m[1], m[2], m[3]) if m else None
    if days is None:
        return None
    hour, minute, second = int(m[4]), int(m[5]), int(m[6] or 0)
    if not (hour < 24 and minute < 60 and second <= 60):
        return None
    offset = (int(m[8]) * 3600 + int(m[9]) * 60) * (-1 if m[7] == b"-" else 1)
    return (days * 86400 + hour * 3600 + minute * 60 + second - offset) * 1000


@_CACHED
def _epoch_days(day: bytes, month: bytes, year: bytes) -> int | None:
    """Days from 1970-01-01 to a date header's day (mail of one day shares it), None if invalid."""
    number = _MONTHS.get(month.lower())
    if not number or not 1970 <= int(year) <= 2200:
        return None
    try:
        return dt.date(int(year), number, int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


def _unusual_date_ms(value: bytes, flags: list[str]) -> int | None:
    """Zone names, two-digit years and other RFC 822 leftovers, through email.utils."""
    try:
        parsed = parsedate_tz(value.decode("ascii", "replace"))
        if not parsed or not 1970 <= parsed[0] <= 2200:
            return None
        year, month, day, hour, minute, second, *_, offset = parsed
        dt.datetime(year, month, day, hour, minute, min(second, 59))  # validates
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    if not _KNOWN_ZONE.search(value):  # parsedate_tz reads a missing or unknown zone as UTC
        flags.append("date_no_zone")
    return (calendar.timegm((year, month, day, hour, minute, second)) - (offset or 0)) * 1000


def _is_automated(headers: dict[bytes, bytes], sender: str | None, labels: list[str] | None) -> bool:
    if b"list-unsubscribe" in headers:
        return True
    if headers.get(b"precedence", b"").strip().lower() in (b"bulk", b"list", b"junk"):
        return True
    auto = headers.get(b"auto-submitted")
    if auto is not None and auto.split(b";")[0].strip().lower() not in (b"no", b""):
        return True
    if sender and _NO_REPLY.match(sender):
        return True
    return bool(labels) and not AUTOMATED_LABELS.isdisjoint(labels)


# --------------------------------------------------------------------------------------------- MIME

class _Mime:
    """Walks one message's MIME tree: returns its text, notes attachments and invites in `flags`."""

    def __init__(self, flags: list[str]):
        self.flags = flags
        self.calendar = False
        self.unterminated = False

    def text_of(self, headers: dict[bytes, bytes], body: bytes) -> str | None:
        """The message text: the plain text version, else its HTML converted (flagged html_body)."""
        text, kind = self._entity(headers, body, 0, b"text/plain")
        if kind == "html":
            self._flag("html_body")
        return text

    def _entity(self, headers: dict[bytes, bytes], body: bytes, depth: int,
                default_type: bytes) -> tuple[str | None, str | None]:
        """(text, "plain" | "html" | None) of one entity."""
        ctype, params = _content_type(headers.get(b"content-type"), default_type)
        if ctype in _CALENDAR_TYPES:
            self.calendar = True
        if headers.get(b"content-disposition", b"").lstrip().lower().startswith(b"attachment"):
            self._note(ctype)
            return None, None
        if ctype.startswith(b"multipart/"):
            boundary = params.get(b"boundary")
            if boundary and depth < MAX_MIME_DEPTH:
                return self._multipart(ctype, boundary, body, depth)
            self._flag("mime_malformed")
            if boundary:
                return None, None
            ctype = b"text/plain"  # no boundary: readers show the body as it is
        if ctype == b"text/plain":
            text = self._decode(headers, params, body)
            if params.get(b"format", b"").lower() == b"flowed":
                text = _unflow(text, params.get(b"delsp", b"").lower() == b"yes")
            return text, "plain"
        if ctype == b"text/html":
            return html_to_text(self._decode(headers, params, body)), "html"
        if ctype not in _CALENDAR_TYPES:
            self._note(ctype)
        return None, None

    def _multipart(self, ctype: bytes, boundary: bytes, body: bytes, depth: int) -> tuple[str | None, str | None]:
        parts, closed = _split_multipart(body, boundary)
        if not parts and not closed:
            self._flag("mime_malformed")
            return None, None
        self.unterminated = self.unterminated or not closed
        children = [_split_part(p) for p in parts]
        if ctype == b"multipart/alternative":
            return self._alternative(children, depth)
        if ctype == b"multipart/related":
            children = children[:1]  # the root; the rest are its inline images and styles
        child_default = b"message/rfc822" if ctype == b"multipart/digest" else b"text/plain"
        found = [r for r in (self._entity(h, b, depth + 1, child_default) for h, b in children) if r[0] is not None]
        if not found:
            return None, None
        kind = "plain" if any(k == "plain" for _, k in found) else "html"
        return "\n\n".join(t for t, _ in found if t), kind

    def _alternative(self, children: list[tuple[dict, bytes]], depth: int) -> tuple[str | None, str | None]:
        """The plain text version unless it is empty (as in some newsletters), else the HTML one.
        HTML parts are only converted when needed: they are the costly ones."""
        html_parts, found = [], []
        for headers, body in children:
            if _content_type(headers.get(b"content-type"), b"text/plain")[0] == b"text/html":
                html_parts.append((headers, body))
                continue
            text, kind = self._entity(headers, body, depth + 1, b"text/plain")
            if text is not None:
                if kind == "plain" and text.strip():
                    return text, kind
                found.append((text, kind))
        for headers, body in html_parts:
            text, kind = self._entity(headers, body, depth + 1, b"text/plain")
            if text is not None:
                return text, kind
        return found[0] if found else (None, None)

    def _decode(self, headers: dict[bytes, bytes], params: dict[bytes, bytes], body: bytes) -> str:
        data, damaged = _decode_transfer(body, headers.get(b"content-transfer-encoding", b"").strip().lower())
        if damaged:
            self._flag("transfer_encoding_damaged")
        charset = params.get(b"charset")
        text, fallback = _decode_charset(data, charset.decode("ascii", "replace").strip().lower() if charset else None)
        if fallback:
            self._flag("charset_fallback")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

    def _note(self, ctype: bytes) -> None:
        self._flag("attachment:" + ctype[:80].decode("ascii", "replace"))

    def _flag(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)


def _content_type(value: bytes | None, default: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """(type, params)."""
    return _parse_content_type(value) if value else (default, {})


@_CACHED
def _parse_content_type(value: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    main, _, rest = value.partition(b";")
    ctype = main.strip().lower()
    if b"/" not in ctype:  # RFC 2045: an invalid type is read as text/plain
        ctype = b"text/plain"
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(b";" + rest)} if rest else {}
    return ctype, params


def _split_multipart(body: bytes, boundary: bytes) -> tuple[list[bytes], bool]:
    """The parts between "--boundary" lines, and whether the closing "--boundary--" came."""
    text = b"\n" + body
    delimiter = b"\n--" + boundary
    starts: list[tuple[int, int]] = []  # (delimiter position, content start)
    pos = text.find(delimiter)
    closed = False
    while pos >= 0:
        after = pos + len(delimiter)
        line_end = text.find(b"\n", after)
        rest = text[after:line_end if line_end >= 0 else len(text)]
        if rest.startswith(b"--"):
            starts.append((pos, -1))
            closed = True
            break
        if not rest.strip():  # otherwise a longer boundary that merely starts with ours
            starts.append((pos, line_end + 1 if line_end >= 0 else len(text)))
        pos = text.find(delimiter, after)
    if not closed:
        starts.append((len(text), -1))
    return [text[begin:starts[i + 1][0]] for i, (_, begin) in enumerate(starts[:-1])], closed


def _split_part(part: bytes) -> tuple[dict[bytes, bytes], bytes]:
    """A part's headers and its body."""
    if part.startswith(b"\n") or not _LOOKS_LIKE_HEADER.match(part):
        return {}, part[1:] if part.startswith(b"\n") else part
    head, body, _ = _split_head(part)
    return _part_headers(head), body


@_CACHED
def _part_headers(head: bytes) -> dict[bytes, bytes]:
    return _headers(head, _PART_HEADERS)


def _decode_transfer(body: bytes, encoding: bytes) -> tuple[bytes, bool]:
    """Undo the Content-Transfer-Encoding; the flag says base64 had to be repaired (cut or dirty)."""
    if encoding == b"base64":
        return _base64(body)
    if encoding == b"quoted-printable":
        return binascii.a2b_qp(body), False
    return body, False


def _base64(data: bytes) -> tuple[bytes, bool]:
    try:
        return binascii.a2b_base64(data), False
    except binascii.Error:
        clean = _NOT_BASE64.sub(b"", data)
        clean = clean[:len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean + b"=" * (-len(clean) % 4)
        return binascii.a2b_base64(clean), True


_codec_cache: dict[str | None, str | None] = {}


def _codec(charset: str | None) -> str | None:
    """Python codec for a declared charset; None for UTF-8, a missing or an unusable charset."""
    if charset in _codec_cache:
        return _codec_cache[charset]
    name = _CHARSET_ALIASES.get(charset, charset) if charset else None
    try:
        info = codecs.lookup(name) if name else None
        codec = info.name if info and info._is_text_encoding and info.name not in _NOT_FOR_MAIL else None
    except LookupError:
        codec = None
    if codec == "utf-8":
        codec = None
    if len(_codec_cache) < 1000:
        _codec_cache[charset] = codec
    return codec


def _decode_charset(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode text bytes; the flag says the declared charset was missing-and-wrong, unknown or wrong.

    Bytes that are valid UTF-8 are read as UTF-8 even under a declared single-byte charset (an
    accident of that kind is common, the reverse is not); bytes that fit no codec are read as
    Windows-1252, so nothing raises and nothing is dropped.
    """
    codec = _codec(charset)
    if data.isascii() and not (codec and codec.startswith(_SEVEN_BIT_CODECS)):
        return data.decode("ascii"), False
    if codec is not None and codec.startswith(_MULTIBYTE_CODECS):
        try:
            return data.decode(codec), False
        except UnicodeDecodeError:
            pass
    elif codec is not None:
        try:
            return data.decode("utf-8"), True
        except UnicodeDecodeError:
            pass
        try:
            return data.decode(codec), False
        except UnicodeDecodeError:  # bytes the code page leaves undefined
            pass
    try:
        return data.decode("utf-8"), charset not in (None, "utf-8", "utf8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "ai_me_cp1252"), True


def _unflow(text: str, delsp: bool) -> str:
    """Join RFC 3676 format=flowed soft line breaks (a line ending in a space continues)."""
    out: list[str] = []
    pending = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if pending and line.startswith(">") != pending.startswith(">"):
            out.append(pending)  # a change of quote depth ends the paragraph
            pending = ""
        line = pending + line
        if line.endswith(" ") and line.rstrip() != "--":
            pending = line[:-1] if delsp else line
        else:
            out.append(line)
            pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ threads

class _Threads:
    """conversation_id: "gmail:" + X-GM-THRID when the export has it (Takeout always does).

    Otherwise the thread is derived: the conversation of the parent (In-Reply-To) or of the root
    (first References id) when already seen, else a hash of that root; a reply without references
    joins the last thread with the same normalised subject. Memory is bounded: the oldest ids are
    forgotten first.
    """

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.by_message: dict[int, str] = {}
        self.by_subject: dict[str, str] = {}

    def conversation_of(self, thread_id: str | None, message_id: str, reply_to: str | None,
                        root_reference: str | None, subject: str | None) -> str:
        if thread_id:
            conversation = sys.intern("gmail:" + thread_id)  # one string per thread, not per message
        else:
            conversation = self._derived(message_id, reply_to, root_reference, subject)
        self._remember(self.by_message, hash(message_id), conversation)
        return conversation

    def _derived(self, message_id: str, reply_to: str | None, root_reference: str | None,
                 subject: str | None) -> str:
        for parent in filter(None, (reply_to, root_reference)):
            known = self.by_message.get(hash(parent))
            if known:
                return known
        root = root_reference or reply_to
        normalised = _normalised_subject(subject)
        if root is None and normalised and _REPLY_PREFIX.match(subject):
            known = self.by_subject.get(normalised)  # a reply that lost its references
            if known:
                return known
        conversation = "gmail:h" + hashlib.blake2b((root or message_id).encode(), digest_size=8).hexdigest()
        if normalised:
            self._remember(self.by_subject, normalised, conversation)
        return conversation

    def _remember(self, table: dict, key, value: str) -> None:
        table[key] = value
        if len(table) > self.limit:
            for old in list(islice(table, self.limit // 10)):
                del table[old]


def _normalised_subject(subject: str | None) -> str:
    return " ".join(_REPLY_PREFIX.sub("", subject).split()).casefold() if subject else ""


# ------------------------------------------------------------------------------------------ columns

class _Columns:
    """Rows appended straight into column lists (cheaper than a dict per row), then one Arrow table."""

    NAMES = ("message_id", "timestamp_ms", "sender", "direction", "participants", "body_raw", "body_text",
             "subject", "reply_to_message_id", "content_type", "labels", "is_automated", "flags", "source_ref")

    def __init__(self):
        self.data: dict[str, list] = {n: [] for n in self.NAMES}

    def add(self, m: Message, source_ref: str) -> None:
        d = self.data
        d["message_id"].append(m.message_id)
        d["timestamp_ms"].append(m.timestamp_ms)
        d["sender"].append(m.sender)
        d["direction"].append("outbound" if m.outbound else "inbound")
        d["participants"].append(m.participants)
        d["body_raw"].append(m.body_raw)
        d["body_text"].append(m.body_text)
        d["subject"].append(m.subject)
        d["reply_to_message_id"].append(m.reply_to)
        d["content_type"].append(m.content_type)
        d["labels"].append(m.labels)
        d["is_automated"].append(m.is_automated)
        d["flags"].append(m.flags or None)
        d["source_ref"].append(source_ref)

    def table(self) -> pa.Table:
        columns = {n: pa.array(self.data[n], RAW_SCHEMA.field(n).type) for n in self.NAMES}
        columns["body_text"] = neutralise_column(columns["body_text"])   # one RE2 pass, not a re.sub per mail
        return pa.table(columns)


def _raw_text(raw: RawMessage) -> str:
    return (raw.envelope + b"\n" + raw.data[:REJECT_RAW_BYTES]).decode("utf-8", "backslashreplace")


INGESTER = Ingester("gmail", discover, parse)
