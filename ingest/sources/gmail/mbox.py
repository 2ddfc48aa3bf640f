"""Streams an mbox file as raw messages split at From_ lines, in bounded memory.

Takeout mboxes run to tens of GB, so unlike `mailbox.mbox` nothing is indexed up front: the file
is read in large chunks and cut at "\\nFrom " lines. mboxrd quoting (">From ", ">>From ") is
undone by removing one '>'.

`mailbox.mbox` starts a message at every line that begins with "From ", so an unescaped body line
such as "From 10:00 to 12:00" splits a message there. Every mbox writer puts a sender and an
asctime date on its envelope lines:
    From 1234567890123456789@xxx Mon Jan 02 10:11:12 +0000 2023   (Takeout)
    From - Wed Dec  1 08:26:40 2010                                (Thunderbird)
    From goran at domain.com  Wed Dec  1 08:26:40 2010             (Mailman archives)
so a file whose first envelope line has that date is cut only at lines that have one too
(FROM_LINE). A file whose first envelope line has no such date is cut as `mailbox.mbox` cuts it,
at every "From " line: there nothing tells a body line from an envelope, and merging its messages
would lose them.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.sources.base import ExportError

CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 64 << 20  # above Gmail's own 50 MB limit: larger means missing separators
KEPT_OF_OVERSIZED = 64 << 10  # the head kept of an oversized message, for its reject

_ASCTIME = rb"[A-Za-z]{3} +\d{1,2} +\d{1,2}:\d\d"  # month, day and time of the asctime date
# A one-word sender (an address, "-", any bytes), then the date; or a sender with spaces in it
# ("goran at domain.com", a quoted name) and a date that, to keep prose out, runs on to its year.
FROM_LINE = re.compile(
    rb"From (?:\S* +(?:[A-Za-z]{3},? +)?"
    + _ASCTIME
    + rb"|[^\n]{1,200}? "
    + _ASCTIME
    + rb"(?::\d\d)?(?: +[+-]\d{4})?(?: +[A-Za-z]{3,5})? +\d{4}(?!\d))"
)
_ANY_FROM = re.compile(rb"From ")
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")  # a mail header's name and colon
_HEAD_BYTES = 1 << 16
_ENVELOPE_DATE = re.compile(
    rb"([A-Za-z]{3}) +(\d{1,2}) +(\d{1,2}):(\d\d)(?::(\d\d))?(?: +([+-]\d{4}))?(?: +[A-Za-z]{3,5})? +(\d{4})"
)
_MONTHS = {m.lower().encode(): i for i, m in enumerate(calendar.month_abbr) if m}
_MBOXRD_QUOTE = re.compile(rb"^>(>*From )", re.M)
_SEPARATOR = b"\nFrom "
_BOM = b"\xef\xbb\xbf"
_KNOWN_NON_MBOX = (
    (b"PK\x03\x04", "a zip archive, not an mbox: unpack the Takeout archive first"),
    (b"\x1f\x8b", "a gzip file, not an mbox: decompress it first"),
)


@dataclass(frozen=True, slots=True)
class RawMessage:
    offset: int  # byte offset of its From_ line in the file
    envelope: bytes  # the From_ line, without its newline
    data: bytes  # headers and body, mboxrd quoting undone, CRLF kept as found
    size: int  # bytes the message takes in the file, From_ line included
    at_eof: bool  # the last message of the file
    oversized: bool = False  # over MAX_MESSAGE_BYTES: `data` holds only its head

    @property
    def complete(self) -> bool:
        """False when the file ends inside the message (no final newline)."""
        return not self.at_eof or self.data.endswith(b"\n") or self.oversized


def envelope_timestamp_ms(envelope: bytes) -> int | None:
    """UTC epoch ms of the From_ line's date (Takeout writes it in UTC), or None."""
    m = _ENVELOPE_DATE.search(envelope)
    if not m:
        return None
    month = _MONTHS.get(m[1].lower())
    day, hour, minute, second, year = int(m[2]), int(m[3]), int(m[4]), int(m[5] or 0), int(m[7])
    # the years Date headers are read in (gmail._usual_date_ms): year 0000 or 9999 would land a
    # time no timestamp type holds and fail the dbt build
    if not month or not (1 <= day <= 31 and hour < 24 and minute < 60 and second < 61 and 1970 <= year <= 2200):
        return None
    offset = 0
    if m[6]:
        sign = -1 if m[6][:1] == b"-" else 1
        offset = sign * (int(m[6][1:3]) * 3600 + int(m[6][3:5]) * 60)
    return (calendar.timegm((year, month, day, hour, minute, second)) - offset) * 1000


def read_mbox(
    path: Path,
    advance: Callable[[int], None] = lambda n: None,
    start: int = 0,
    stop: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    max_message: int = MAX_MESSAGE_BYTES,
) -> Iterator[RawMessage]:
    """Yield the messages of the mbox at `path`; ExportError when it is not an mbox at all.

    With `start`/`stop`, only the messages whose From_ line begins in [start, stop): byte ranges
    that tile the file yield every message exactly once, so ranges can be read in parallel.
    """
    with open(path, "rb") as f:
        if start == 0:
            buf, base = _skip_blank_start(f, chunk_bytes, advance)
            if not buf:
                return
            envelope = _envelope_rule(path, buf, base)
        else:  # the file's first lines decide where it is cut; they are not this range's bytes
            head, head_offset = _skip_blank_start(f, _HEAD_BYTES, lambda n: None)
            envelope = _envelope_rule(path, head, head_offset)
            buf, base = _next_from_line(f, start, chunk_bytes, advance, envelope)
        if not buf or (stop is not None and base >= stop):
            return
        msg, msg_offset = 0, base  # the current message's From_ line: index in buf, file offset
        scan = 1  # where to look for the next separator
        skipped = 0  # bytes of an oversized message already dropped from buf
        eof = False
        while True:
            sep = buf.find(_SEPARATOR, scan)
            line_end = buf.find(b"\n", sep + 1) if sep >= 0 else -1
            if sep >= 0 and (line_end >= 0 or eof):
                scan = sep + 1
                if envelope.match(buf, sep + 1, line_end if line_end >= 0 else len(buf)):
                    yield _message(buf, msg, sep + 1, msg_offset, skipped, at_eof=False)
                    msg, msg_offset, skipped = sep + 1, base + sep + 1, 0
                    if stop is not None and msg_offset >= stop:
                        return
                continue
            if eof:
                yield _message(buf, msg, len(buf), msg_offset, skipped, at_eof=True)
                return
            # Need more input. A separator may straddle the chunk boundary, so rescan its tail.
            scan = sep if sep >= 0 else max(len(buf) - len(_SEPARATOR) + 1, msg + 1)
            if len(buf) - msg + skipped > max_message:
                # Oversized: keep its head for the reject, drop the middle, keep scanning the tail.
                head_end = msg + KEPT_OF_OVERSIZED
                keep_from = max(scan, head_end)
                skipped += keep_from - head_end
                buf = buf[msg:head_end] + buf[keep_from:]
                base += keep_from - KEPT_OF_OVERSIZED  # file offset of buf[0], as seen from the tail
                scan = KEPT_OF_OVERSIZED + scan - keep_from
            else:
                buf, base, scan = buf[msg:], base + msg, scan - msg
            msg = 0
            chunk = f.read(chunk_bytes)
            advance(len(chunk))
            eof = not chunk
            buf += chunk


def check_mbox(path: Path) -> None:
    """ExportError unless the file is empty or starts as an mbox (after a BOM and blank lines)."""
    with open(path, "rb") as f:
        buf, base = _skip_blank_start(f, _HEAD_BYTES, lambda n: None)
    if buf:
        _envelope_rule(path, buf, base)


def _next_from_line(
    f, start: int, chunk_bytes: int, advance: Callable[[int], None], envelope: re.Pattern[bytes]
) -> tuple[bytes, int]:
    """Input from the first From_ line that begins at or after `start`, and its offset; b"" if none."""
    f.seek(start - 1)  # from the newline before `start`, so a From_ line right at `start` counts
    buf, base, scan = b"", start - 1, 0
    while True:
        chunk = f.read(chunk_bytes)
        advance(len(chunk))
        buf += chunk
        while True:
            sep = buf.find(_SEPARATOR, scan)
            line_end = buf.find(b"\n", sep + 1) if sep >= 0 else -1
            if sep < 0 or (line_end < 0 and chunk):
                break  # need more input
            if envelope.match(buf, sep + 1, line_end if line_end >= 0 else len(buf)):
                return buf[sep + 1 :], base + sep + 1
            scan = sep + 1
        if not chunk:
            return b"", base + len(buf)
        keep = len(buf) - (sep if sep >= 0 else max(len(buf) - len(_SEPARATOR) + 1, 0))
        base, buf, scan = base + len(buf) - keep, buf[len(buf) - keep :], 0


def _skip_blank_start(f, chunk_bytes: int, advance: Callable[[int], None]) -> tuple[bytes, int]:
    """Input from the first non-blank byte (after a BOM) on, with at least the line after the first
    one (when the file has it), and that byte's file offset."""
    base = 0
    while True:
        buf = f.read(chunk_bytes)
        advance(len(buf))
        if not buf:
            return b"", base
        start = len(_BOM) if base == 0 and buf.startswith(_BOM) else 0
        rest = buf[start:].lstrip(b" \t\r\n")
        if rest:
            offset = base + len(buf) - len(rest)
            lines = rest.count(b"\n")
            while lines < 2:  # the first two lines straddle reads
                more = f.read(chunk_bytes)
                advance(len(more))
                if not more:
                    break
                rest += more
                lines += more.count(b"\n")
            return rest, offset
        base += len(buf)


def _envelope_rule(path: Path, buf: bytes, offset: int) -> re.Pattern[bytes]:
    """Which "From " lines start a message in this file (see the module doc), from its first lines;
    ExportError when it is not an mbox."""
    for magic, problem in _KNOWN_NON_MBOX:
        if buf.startswith(magic):
            raise ExportError(path, offset, problem)
    end = buf.find(b"\n")
    end = len(buf) if end < 0 else end
    if FROM_LINE.match(buf, 0, end):
        return FROM_LINE
    if not buf.startswith(b"From "):
        raise ExportError(path, offset, "not an mbox: the file does not start with a 'From ' envelope line")
    # An undated "From " line passes only with a mail header after it: "From the desk of ..." is a letter.
    if not _HEADER_LINE.match(buf, end + 1):
        raise ExportError(path, offset, "not an mbox: no mail header follows the 'From ' line it starts with")
    return _ANY_FROM


def _message(buf: bytes, start: int, end: int, offset: int, skipped: int, at_eof: bool) -> RawMessage:
    """The message in buf[start:end] (end is just after the newline that precedes the next From_)."""
    size = end - start + skipped
    if skipped:
        end = start + KEPT_OF_OVERSIZED
    line_end = buf.find(b"\n", start, end)
    if line_end < 0:
        line_end = end
    envelope = buf[start:line_end].rstrip(b"\r")
    data = buf[line_end + 1 : end]
    if b">From " in data:
        data = _MBOXRD_QUOTE.sub(rb"\1", data)
    return RawMessage(offset=offset, envelope=envelope, data=data, size=size, at_eof=at_eof, oversized=skipped > 0)
