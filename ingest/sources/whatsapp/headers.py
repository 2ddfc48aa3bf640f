"""WhatsApp message headers: which variant a file uses, and where the messages of a block start.

A header is `[date, time] Name: ` (iOS) or `date, time - Name: ` (Android), in the phone's
locale: the date's separator and order, the clock (12/24 h, seconds, `klo`, AM/PM spelling) and
bidi marks vary between files but not within one. The variant is detected once per file from a
sample, and its own regex then runs over every line of a block at once (Arrow, RE2). A line
that does not match it continues the message above.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.sources.text import BIDI_MARKS, strip_bidi
from ingest.sources.whatsapp.content import is_ios_system_line

SAMPLE_LINES = 1000
_BIDI = f"[{BIDI_MARKS}]*"
_SPACE = "[ \u00a0\u202f]?"  # before AM/PM and inside "p. m.": a space, NBSP or NNBSP
_AMPM = f"{_SPACE}[AaPp]\\.?{_SPACE}[Mm]\\.?"
# Any variant (Python re), to find out which one a file uses.
_ANY_HEADER_RE = re.compile(
    rf"{_BIDI}(?P<open>\[)?\d{{1,4}}(?P<ds>[./-]) ?\d{{1,2}}(?P=ds) ?\d{{2,4}}\.?"
    rf"(?P<dts>,? (?:klo )?|,)\d{{1,2}}(?P<ts>[:.])\d{{2}}(?P<sec>(?P=ts)\d{{2}})?"
    rf"(?P<ampm>{_AMPM})?(?P<close>\] | [-\u2013] )"
)
_QUOTES = '"\u201c\u201d\u201e'
_MAX_NAME = 100  # longer "names" are system lines that happen to contain ": "
_LRM = "\u200e".encode()
# The bytes a header line can start with: a digit, "[", or the first byte of a bidi mark.
_HEADER_FIRST_BYTE = np.zeros(256, bool)
_HEADER_FIRST_BYTE[[*b"0123456789[", *{m.encode()[0] for m in BIDI_MARKS}]] = True


@dataclass(frozen=True)
class Variant:
    bracket: bool  # iOS "[date, time] " rather than Android "date, time - "
    date_sep: str
    datetime_sep: str  # ", ", " ", "," or " klo "
    time_sep: str
    seconds: bool
    twelve_hour: bool

    @property
    def style(self) -> str:
        return "iOS" if self.bracket else "Android"

    def regex(self) -> str:
        """RE2 for a header line: captures head (all before the text), date, time and sender."""
        ds, ts = re.escape(self.date_sep), re.escape(self.time_sep)
        date = rf"\d{{1,4}}{ds} ?\d{{1,2}}{ds} ?\d{{2,4}}\.?"
        time = (
            rf"\d{{1,2}}{ts}\d{{2}}" + (rf"{ts}\d{{2}}" if self.seconds else "") + (_AMPM if self.twelve_hour else "")
        )
        open_, close = (r"\[", r"\] ") if self.bracket else ("", " [-\u2013] ")
        return (
            rf"^(?P<head>{_BIDI}{open_}(?P<date>{date}){re.escape(self.datetime_sep)}(?P<time>{time}){close}"
            rf"(?:(?P<sender>[^:\n]+): )?)"
        )


def detect_variant(sample: str) -> Variant | None:
    """The most common header shape among the sample's first lines, or None if there is none."""
    shapes: Counter[Variant] = Counter()
    for line in sample.split("\n", SAMPLE_LINES)[:SAMPLE_LINES]:
        m = _ANY_HEADER_RE.match(line)
        if m and bool(m["open"]) == (m["close"] == "] "):
            shapes[Variant(bool(m["open"]), m["ds"], m["dts"], m["ts"], bool(m["sec"]), bool(m["ampm"]))] += 1
    return shapes.most_common(1)[0][0] if shapes else None


@dataclass
class Scan:
    """The headers found in one block of whole lines; per-header arrays are indexed like `rows`."""

    data: bytearray  # the block (invalid UTF-8 replaced); only data[:end] is scanned
    end: int  # end of the block's complete lines
    line_starts: np.ndarray  # byte offset of each line, plus end
    rows: np.ndarray  # line index of each header
    text_start: np.ndarray  # byte offset where each header's message text starts
    date_codes: np.ndarray  # index into dates
    dates: list[str]  # distinct date strings of the block's lines
    time_codes: np.ndarray  # index into times
    times: pa.Array  # distinct time strings of the block's lines
    sender_codes: np.ndarray  # index into sender_names; -1 for system lines
    sender_names: list[str]  # distinct senders, bidi marks and `~` removed
    system: np.ndarray  # system line (no person wrote it)
    repaired_utf8: bool = False


def scan_block(data: bytearray, end: int, variant: Variant, regex: str) -> Scan:
    """Find the headers among the lines of data[:end]."""
    line_starts = _line_starts(data, end)
    try:  # the block as one string: lines split at "\n", which no UTF-8 sequence holds
        pa.StringArray.from_buffers(1, pa.py_buffer(np.array([0, end], np.int32)), pa.py_buffer(data)).validate(
            full=True
        )
    except pa.ArrowInvalid:
        repaired = bytearray(data[:end].decode("utf-8", errors="replace").encode("utf-8"))
        return _mark_repaired(scan_block(repaired + data[end:], len(repaired), variant, regex))
    # Only lines that start as a header can (a digit, "[" or a bidi mark): continuation lines,
    # empty ones above all, cost no regex. Fields of the candidates (empty where one is no header)
    # are dictionary-encoded rather than filtered: cheaper, and dates, times and senders repeat.
    buf = np.frombuffer(data, dtype=np.uint8, count=end)
    starts = line_starts[:-1]
    candidates = np.flatnonzero(
        (line_starts[1:] > starts) & _HEADER_FIRST_BYTE[buf[np.minimum(starts, max(end - 1, 0))]]
        if end
        else np.zeros(len(starts), bool)
    )
    lines = pa.StringArray.from_buffers(len(starts), pa.py_buffer(line_starts.astype(np.int32)), pa.py_buffer(data))
    if len(candidates) < len(starts):
        lines = lines.take(pa.array(candidates))
    found = pc.extract_regex(lines, regex)
    hits = np.flatnonzero(np.asarray(found.is_valid()))
    rows = candidates[hits]
    dates, times, senders = (found.field(k).dictionary_encode() for k in ("date", "time", "sender"))
    head_len = np.asarray(pc.binary_length(found.field("head")), dtype=np.int64)[hits]
    codes = np.asarray(senders.indices, dtype=np.int64)[hits]
    spelled = senders.dictionary.to_pylist()
    names, bogus = _clean_senders(spelled)
    not_a_name = bogus[codes]
    # A "name" that is really a system line's text: the text starts where the name did.
    name_len = np.array([len(x.encode()) for x in spelled], dtype=np.int64)[codes]
    text_start = line_starts[rows] + head_len - np.where(not_a_name, name_len + 2, 0)
    system = not_a_name | (name_len == 0)
    if variant.bracket:
        system |= _ios_system_lines(data, line_starts, rows, text_start)
    return Scan(
        data,
        end,
        line_starts,
        rows,
        text_start,
        np.asarray(dates.indices, dtype=np.int64)[hits],
        dates.dictionary.to_pylist(),
        np.asarray(times.indices, dtype=np.int64)[hits],
        times.dictionary,
        np.where(system, -1, codes),
        names,
        system,
    )


def _mark_repaired(scan: Scan) -> Scan:
    scan.repaired_utf8 = True
    return scan


def _line_starts(data: bytearray, end: int) -> np.ndarray:
    buf = np.frombuffer(data, dtype=np.uint8, count=end)
    newlines = np.flatnonzero(buf == 10) + 1
    if len(newlines) and newlines[-1] == end:
        newlines = newlines[:-1]
    return np.concatenate(([0], newlines, [end])).astype(np.int64)


def _clean_senders(spelled: list[str]) -> tuple[list[str], np.ndarray]:
    """Senders without bidi marks and the `~` WhatsApp puts before unsaved contacts, plus which
    "names" are no names at all but the text of a system line that happens to hold ": "."""
    names = [strip_bidi(s).strip().lstrip("~").strip() for s in spelled]
    bogus = np.array(
        [s != "" and (not n or len(n) > _MAX_NAME or any(q in n for q in _QUOTES)) for s, n in zip(spelled, names)],
        dtype=bool,
    )
    return names, bogus


def _ios_system_lines(data: bytearray, line_starts: np.ndarray, rows: np.ndarray, text_start: np.ndarray) -> np.ndarray:
    """iOS system lines: the chat "sends" them, with a LEFT-TO-RIGHT MARK before the text."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = line_starts[rows + 1]
    room = text_start + 3 <= ends
    first = np.where(room, text_start, 0)
    marked = room & (buf[first] == _LRM[0]) & (buf[first + 1] == _LRM[1]) & (buf[first + 2] == _LRM[2])
    out = np.zeros(len(rows), dtype=bool)
    for i in np.flatnonzero(marked).tolist():
        line = data[text_start[i] : ends[i]].decode("utf-8").rstrip("\r\n")
        out[i] = is_ios_system_line(line)
    return out
