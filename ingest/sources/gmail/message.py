"""One mbox message → a Message: the headers the columns need, decoded, and the body through mime."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from email.utils import parsedate_tz

from ingest.core.identity import norm_email
from ingest.sources import zips
from ingest.sources.gmail.email_text import analyse
from ingest.sources.gmail.mbox import MAX_MESSAGE_BYTES, RawMessage, envelope_timestamp_ms
from ingest.sources.gmail.mime import (
    CACHED,
    LOOKS_LIKE_HEADER,
    Mime,
    decoded,
    first_id,
    header_fields,
    header_text,
    split_head,
)
from ingest.sources.text import neutralise

AUTOMATED_LABELS = frozenset({"Category Promotions", "Category Social", "Category Updates"})

_MESSAGE_HEADERS = frozenset(
    b"message-id in-reply-to references x-gm-thrid x-gmail-labels from to cc date subject content-type"
    b" content-transfer-encoding content-disposition list-unsubscribe precedence auto-submitted".split()
)
_ANGLE_ADDRESS = re.compile(rb"<([^<>@\s]+@[^<>\s]+)>")
_ADDRESS = re.compile(rb'[^\s<>",;:()\[\]]+@[^\s<>",;:()\[\]]+')
_ADDRESS_BESIDE_NAMES = re.compile(  # quoted names and comments match first, so an address in them is skipped
    rb'"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)|<\s*([^<>\s@]+@[^<>\s]+?)\s*>'
    rb'|([^\s<>",;:()\[\]]+@[^\s<>",;:()\[\]]+)'
)
# The usual "Mon, 2 Jan 2023 10:11:12 +0100"; anything else goes to email.utils.parsedate_tz.
_RFC_DATE = re.compile(
    rb"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d\d)(?::(\d\d))?\s+([+-])(\d\d)(\d\d)"
)
_KNOWN_ZONE = re.compile(rb"[+-]\d{4}\b|\b(?:UT|UTC|GMT|Z|[ECMP][SD]T)\b", re.I)
_MONTHS = {m.lower().encode(): i for i, m in enumerate(calendar.month_abbr) if m}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_LABEL = re.compile(r'"((?:[^"\\]|\\.)*)"|([^,]+)')
_NO_REPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon)", re.I)


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
    if not raw.at_eof and data.endswith(b"\n\n"):
        data = data[:-1]  # the blank line before the next From_ line separates, as in mailbox.mbox
    if not LOOKS_LIKE_HEADER.match(data):
        return "no mail headers after the From_ line"
    head, body, has_body = split_head(data)
    headers = header_fields(head, _MESSAGE_HEADERS)
    flags: list[str] = []
    timestamp = _timestamp(headers.get(b"date"), raw.envelope, flags)
    if timestamp is None:
        return "no usable date in the Date header or the From_ line"

    mime = Mime(flags)
    body_raw = mime.text_of(headers, body)
    if body_raw and len(body_raw) * 4 > zips.MAX_MESSAGE_TEXT_BYTES:  # the cap of every platform
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
    message_id = first_id(headers.get(b"message-id")) or decoded(headers.get(b"message-id", b"").strip())
    if not message_id:
        message_id = (
            "gmail-hash:"
            + hashlib.blake2b(
                b"\0".join([headers.get(b"from", b""), headers.get(b"date", b""), headers.get(b"subject", b""), body]),
                digest_size=12,
            ).hexdigest()
        )
        flags.append("message_id_missing")
    return Message(
        message_id=message_id,
        timestamp_ms=timestamp,
        sender=sender,
        outbound=bool(sender and norm_email(sender) in mine) or bool(labels and "Sent" in labels),
        participants=participants,
        subject=subject,
        reply_to=first_id(headers.get(b"in-reply-to")),
        root_reference=first_id(headers.get(b"references")),
        thread_id=decoded(headers.get(b"x-gm-thrid", b"").strip()) or None,
        labels=labels,
        is_automated=_is_automated(headers, sender, labels),
        content_type="calendar" if mime.calendar else "email",
        body_raw=body_raw,
        body_text=extracted.text if extracted else None,  # neutralised column-wise in Columns.table
        flags=flags,
    )


@CACHED
def _people(from_: bytes | None, to: bytes | None, cc: bytes | None) -> tuple[str | None, list[str]]:
    """(sender, participants): the From address (else its text), then every address, once each."""
    senders = _addresses(from_)
    sender = senders[0] if senders else (header_text(from_) or None)
    return sender, _unique(senders + _addresses(to) + _addresses(cc))


@CACHED
def _subject(value: bytes) -> str:
    return neutralise(header_text(value))


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
    return [decoded(address.lower().rstrip(b".")) for address in found]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@CACHED
def _labels(value: bytes | None) -> list[str] | None:
    if value is None:
        return None
    text = header_text(value)
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


@CACHED
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
