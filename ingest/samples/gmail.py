"""A Google Takeout Gmail mbox: "All mail Including Spam and Trash.mbox".

Messages are built as text by hand (the email package is far too slow for a million messages)
with the quirks a parser meets in real Takeout files: X-GM-THRID / X-Gmail-Labels headers,
RFC 2047 names and subjects, quoted-printable and base64 parts, non-UTF-8 charsets, quoted
reply history in Gmail, Outlook, Apple and German styles, signatures, newsletters, a calendar
invite, a PDF attachment, spam and Hangouts chat. Threads are built one at a time.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import html
import itertools
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from random import Random

from ingest.samples.persona import BASE_TS, ME_EMAILS, ME_NAME, PEOPLE, ROBIN, Person, Voice, uk_offset

MBOX_NAME = "All mail Including Spam and Trash.mbox"
ME = Person("robin", ME_NAME, ROBIN, ME_EMAILS[0])
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LONG_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] "
    b"/Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
)


# --- dates and header encoding -----------------------------------------------------------------


def _offset(p: Person, ts: int) -> int:
    if p.utc_offset is None:
        return uk_offset(ts)
    if p.utc_offset == 3600:  # central Europe: UK + 1h all year (same switch instants)
        return uk_offset(ts) + 3600
    return p.utc_offset


_DAY_CACHE: dict[int, tuple[int, int, int, int]] = {}


def _gmtime(t: float) -> tuple[int, int, int, int, int, int, int]:
    """(year, month, day, weekday, hour, minute, second) of epoch t: time.gmtime with the calendar
    part cached per day, as a plain tuple (a hot spot at a million messages)."""
    day, sod = divmod(int(t), 86400)
    d = _DAY_CACHE.get(day)
    if d is None:
        g = time.gmtime(day * 86400)
        d = _DAY_CACHE[day] = (g.tm_year, g.tm_mon, g.tm_mday, g.tm_wday)
    h, rem = divmod(sod, 3600)
    return (*d, h, rem // 60, rem % 60)


@functools.cache
def _zone(off: int) -> str:
    a = abs(off)
    return f"{'-' if off < 0 else '+'}{a // 3600:02d}{a % 3600 // 60:02d}"


# Every message carries two timestamps (From_ line and Date:); formatting them is table lookups.
_HHMM = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
_SS = [f":{s:02d}" for s in range(60)]
_DAY_TEXT: dict[tuple[int, int], str] = {}


def _day_text(day: int, style: int) -> str:
    """Date part of a day number: 0 "Mon, 2 Jan 2023 ", 1 "Mon, 02 Jan 2023 ", 2 From_ "Mon Jan 02 "."""
    text = _DAY_TEXT.get((day, style))
    if text is None:
        y, mo, d, wd = _gmtime(day * 86400)[:4]
        text = _DAY_TEXT[(day, style)] = (
            f"{_DAYS[wd]}, {d} {_MONTHS[mo - 1]} {y} ",
            f"{_DAYS[wd]}, {d:02d} {_MONTHS[mo - 1]} {y} ",
            f"{_DAYS[wd]} {_MONTHS[mo - 1]} {d:02d} ",
        )[style]
    return text


def _rfc_date(ts: int, off: int, pad: bool = False, suffix: str = "") -> str:
    day, sod = divmod(int(ts) + off, 86400)
    return f"{_day_text(day, 1 if pad else 0)}{_HHMM[sod // 60]}{_SS[sod % 60]} {_zone(off)}{suffix}"


def _from_line_date(ts: int) -> str:
    """mbox From_ line date, UTC: "Mon Jan 02 10:11:12 +0000 2023"."""
    day, sod = divmod(int(ts), 86400)
    return f"{_day_text(day, 2)}{_HHMM[sod // 60]}{_SS[sod % 60]} +0000 {_gmtime(day * 86400)[0]}"


def _q_word(s: str, charset: str) -> str:
    """RFC 2047 Q encoded-word."""
    out = []
    for b in s.encode(charset):
        c = chr(b)
        out.append(c if c.isascii() and c.isalnum() else "_" if c == " " else f"={b:02X}")
    return f"=?{charset.upper()}?Q?{''.join(out)}?="


def _b_words(s: str) -> str:
    """RFC 2047 B encoded-words of at most 45 bytes of UTF-8 each, folded like mail clients do."""
    words, cur = [], ""
    for ch in s:
        if len((cur + ch).encode("utf-8")) > 45:
            words.append(cur)
            cur = ""
        cur += ch
    words.append(cur)
    return "\n ".join(f"=?UTF-8?B?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


@functools.lru_cache(maxsize=1024)  # names and subjects repeat; encoding them is per-byte Python
def _header_text(s: str) -> str:
    if s.isascii():
        return s
    try:
        s.encode("iso-8859-1")
        return _q_word(s, "iso-8859-1")
    except UnicodeEncodeError:
        return _b_words(s)


_ADDR_CACHE: dict[str, str] = {}


def _addr(p: Person) -> str:
    # keyed by p.key: hashing the dataclass would hash its whole Voice
    a = _ADDR_CACHE.get(p.key)
    if a is None:
        a = _ADDR_CACHE[p.key] = f"{_header_text(p.name)} <{p.email}>"
    return a


# --- MIME entities: (header lines, body) -------------------------------------------------------

Entity = tuple[str, str]  # (header lines joined by "\n", encoded body)


def _b64(data: bytes) -> str:
    """base64 in 76-character lines (base64.encodebytes loops in Python per 57 bytes: slow)."""
    b = binascii.b2a_base64(data, newline=False).decode("ascii")
    return "\n".join([b[i : i + 76] for i in range(0, len(b), 76)]) + "\n"


def _qp_plain(text: str, wrap: bool = True) -> str | None:
    """Quoted-printable of text that needs no escapes (ASCII, no '=', no trailing blanks): the
    text itself, plus soft line breaks in lines over 76 characters (or None if not `wrap`).
    None when escapes are needed; binascii.b2a_qp then does it (10x slower)."""
    if not text.isascii() or "=" in text or " \n" in text or "\t" in text:
        return None
    lines = text.split("\n")
    if max(map(len, lines)) <= 76:
        return text
    if not wrap:
        return None
    return "\n".join(
        [ln if len(ln) <= 76 else "=\n".join([ln[i : i + 75] for i in range(0, len(ln), 75)]) for ln in lines]
    )


def _text(text: str, subtype: str = "plain", charset: str = "UTF-8", cte: str = "quoted-printable") -> Entity:
    """A text part. cte "auto" is what a client might pick: quoted-printable when that is the
    text itself (short ASCII lines), else base64 (cheaper here than soft-wrapping long lines)."""
    if not text.endswith("\n"):
        text += "\n"
    if cte == "auto":
        body = _qp_plain(text, wrap=False)
        if body is not None:
            return _part_headers(subtype, charset, "quoted-printable"), body
        cte = "base64"
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:  # e.g. a latin-1 mail quoting an emoji: clients switch to UTF-8
        charset, data = "UTF-8", text.encode("utf-8")
    if cte == "quoted-printable":
        body = _qp_plain(text) or binascii.b2a_qp(data).decode("ascii")
    elif cte == "base64":
        body = _b64(data)
    else:
        body = text
    return _part_headers(subtype, charset, cte), body


@functools.cache
def _part_headers(subtype: str, charset: str, cte: str) -> str:
    return f'Content-Type: text/{subtype}; charset="{charset}"\nContent-Transfer-Encoding: {cte}'


def _multipart(subtype: str, parts: list[Entity], rng: Random) -> Entity:
    b = f"000000000000{rng.getrandbits(56):014x}"  # Gmail-style boundary
    body = "".join([f"--{b}\n{h}\n\n{p}\n" for h, p in parts]) + f"--{b}--\n"
    return f'Content-Type: multipart/{subtype}; boundary="{b}"', body


def _html(new: str, quote_attr: str = "", quoted: str = "") -> str:
    out = '<div dir="ltr">' + html.escape(new, quote=False).replace("\n", "<br>\n") + "</div>"
    if quoted:
        out += (
            '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
            + html.escape(quote_attr)
            + '<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px '
            'solid rgb(204,204,204);padding-left:1ex">'
            + html.escape(quoted, quote=False).replace("\n", "<br>\n")
            + "</blockquote></div>"
        )
    return out + "\n"


# --- message ids -------------------------------------------------------------------------------


def _gmail_id(rng: Random) -> str:
    token = binascii.b2a_base64(rng.getrandbits(240).to_bytes(30, "big"), newline=False).decode("ascii")
    return f"<CA{token.replace('/', '_')}@mail.gmail.com>"


def _outlook_id(rng: Random) -> str:
    box = f"AM9PR07MB{rng.randrange(1000, 9999)}"
    return f"<{box}{rng.getrandbits(96):024X}@{box}.eurprd07.prod.outlook.com>"


def _apple_id(rng: Random) -> str:
    h = f"{rng.getrandbits(128):032X}"
    return f"<{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}@gmail.com>"


def _bulk_id(rng: Random) -> str:
    return f"<0102018{rng.getrandbits(64):016x}-{rng.getrandbits(64):016x}-000000@eu-west-1.amazonses.com>"


# --- composing texts ---------------------------------------------------------------------------


def _sentences(v: Voice, r, k: int) -> str:
    """k plain sentences: in email, partners drop their chat openers and emoji closers."""
    b = v.bodies
    return " ".join(b[int(r() * len(b))] for _ in range(k))


def _compose(who: Person, to: Person, r, from_next: bool = False) -> tuple[str, str]:
    """(body text, signature) in the writer's own voice."""
    first = to.name.split()[0]
    v = who.voice
    if who is ME:
        greet = ("hey " + first.lower() + "!!", "hi " + first.lower(), "hiya", first.lower() + "!!")[int(r() * 4)]
        body = (
            f"{greet}\n\n"
            + "\n".join(v.text(r) for _ in range(1 + int(r() * 3)))
            + "\n\n"
            + ("thanks!! x", "speak soon", "r x", "ok thats all haha")[int(r() * 4)]
        )
        sig = ("\n\n-- \nRobin Vale\nValeworks", "\n\nSent from my iPhone", "", "")[int(r() * 4)]
    elif who.key == "alex":
        body = f"Dear {first},\n\n{_sentences(v, r, 2 + int(r() * 3))}"
        if from_next:  # a body line starting with "From " must be escaped as ">From " in mbox
            body += "\n\nFrom next Monday the office will open at 8:30."
        body += f"\n\n{_sentences(v, r, 1 + int(r() * 2))}"
        sig = "\n\nKind regards,\nAlex Morgan\nSenior Partner | Morgan & Hale LLP\n+1 415 555 0134"
    elif who.key == "lukas":
        body = f"Hallo {first},\n\n{_sentences(v, r, 2 + int(r() * 3))}"
        sig = ("\n\nViele Grüße\nLukas", "\n\nLG Lukas\n\nVon meinem iPhone gesendet")[int(r() * 2)]
    else:
        body = f"Hi {first}!\n\n{_sentences(v, r, 2 + int(r() * 2))}"
        sig = f"\n\n{who.name.split()[0]} x"
    return body, sig


def _quote(text: str) -> str:
    """Prefix every line with "> ", empty lines with a bare ">" (str methods: a regex is 10x slower)."""
    q = "> " + text.replace("\n", "\n> ")
    # two passes: replace() skips the second of two adjacent matches, which share a newline
    q = q.replace("\n> \n", "\n>\n").replace("\n> \n", "\n>\n")
    if q.startswith("> \n") or q == "> ":
        q = ">" + q[2:]
    return q[:-1] if q.endswith("\n> ") else q


def _gmail_attr(p: Person, ts: int, off: int, r) -> str:
    """Gmail's attribution line, in the replier's local time."""
    y, mo, d, wd, h, mi, sec = _gmtime(ts + off)
    line = f"On {_DAYS[wd]}, {d} {_MONTHS[mo - 1]} {y} at {h:02d}:{mi:02d}, {p.name} <{p.email}>"
    return line + ("\nwrote:" if r() < 0.4 else " wrote:")  # long attributions wrap in plain text


# --- one mbox message --------------------------------------------------------------------------


def _mbox_message(
    rng: Random, ts: int, thrid: int, labels: str, headers: str | list[str], entity: Entity
) -> tuple[str, int]:
    """The message text (From_ line to trailing blank line) and its thread id (X-GM-THRID: the
    X-GM-MSGID of the thread's first message). `headers`: lines, or one string of them."""
    msgid = (ts * 1000 << 20) | rng.getrandbits(20)  # Gmail ids are time-ordered 64-bit ints
    thrid = thrid or msgid
    if not isinstance(headers, str):
        headers = "\n".join(headers)
    text = headers + "\n" + entity[0] + "\n\n" + entity[1]
    if "\nFrom " in text:  # mboxo: body lines never start with "From "
        text = text.replace("\nFrom ", "\n>From ")
    return (f"From {msgid}@xxx {_from_line_date(ts)}\nX-GM-THRID: {thrid}\nX-Gmail-Labels: {labels}\n{text}\n"), thrid


_SUBJECTS = {
    "work": ("Project update", "Quarterly review", "Contract draft", "Budget for Q2", "Meeting on Thursday"),
    "german": ("Wochenende?", "Überraschung für Sam", "Konzert am Freitag", "Grüße aus München"),
    "friend": ("birthday plans 🎂", "photos from brighton ✨", "that recipe", "¿Cena el sábado?", "flat viewing"),
}
_INBOX = ("Inbox,Important,Opened", "Inbox,Opened", "Important,Opened,Category Personal", "Opened,Category Personal")


_REPLY_PREFIX = {"alex": "RE: ", "lukas": "AW: "}  # Outlook and German clients; everyone else "Re: "
_DELIVERED = f"Delivered-To: {ME.email}\n"


def _conversation(rng: Random, start: int, k: int, partner: Person, kind: str, force_from: bool = False) -> list[str]:
    """A back-and-forth thread with quoted history: 'work' (Alex, multipart, Outlook replies),
    'german' (Lukas, iso-8859-1, AW:), 'friend' (base64 UTF-8, encoded names and subjects)."""
    r = rng.random
    subjects = _SUBJECTS[kind]
    subject = subjects[int(r() * len(subjects))]
    from_to = {
        ME.key: f"From: {_addr(ME)}\nTo: {_addr(partner)}",
        partner.key: f"From: {_addr(partner)}\nTo: {_addr(ME)}",
    }
    robin_first = r() < 0.4
    out: list[str] = []
    thrid = 0
    prev = None  # (who, ts, own text, own text + one level of history, Message-ID)
    refs = ""
    ts = start
    for j in range(k):
        who, to = (ME, partner) if (j % 2 == 0) == robin_first else (partner, ME)
        off = _offset(who, ts)
        new, sig = _compose(who, to, r, from_next=force_from or r() < 0.1)
        own = full = short = new + sig
        attr = quoted = ""
        if who.key == "alex":
            msg_id = _outlook_id(rng)
        elif who is ME and sig.endswith("iPhone"):
            msg_id = _apple_id(rng)
        else:
            msg_id = _gmail_id(rng)
        if prev is None:
            subject_line = f"Subject: {_header_text(subject)}"
        else:  # a reply: signature, then attribution and the quoted history
            p_who, p_ts, p_own, p_short, p_id = prev
            quoted = p_short  # history nests two levels deep, not the whole thread (size, speed)
            y, mo, d, wd, h, mi, sec = _gmtime(p_ts + _offset(who, p_ts))
            if who.key == "alex":  # Outlook: a header block and no ">" prefixes
                sent = (
                    f"{_LONG_DAYS[wd]}, {_LONG_MONTHS[mo - 1]} {d}, {y} "
                    f"{h % 12 or 12}:{mi:02d} {'AM' if h < 12 else 'PM'}"
                )
                block = "-----Original Message-----" if r() < 0.5 else "_" * 32
                attr = (
                    f"{block}\nFrom: {p_who.name} <{p_who.email}>\nSent: {sent}\n"
                    f"To: {to.name} <{to.email}>\nSubject: {subject}"
                )
                full += f"\n\n{attr}\n\n{quoted}"
                short += f"\n\n{attr}\n\n{p_own}"
            else:
                if who.key == "lukas":
                    attr = f"Am {d:02d}.{mo:02d}.{y} um {h:02d}:{mi:02d} schrieb {p_who.name} <{p_who.email}>:"
                elif sig.endswith("iPhone"):
                    attr = f"On {d} {_MONTHS[mo - 1]} {y}, at {h:02d}:{mi:02d}, {p_who.name} <{p_who.email}> wrote:"
                else:
                    attr = _gmail_attr(p_who, p_ts, _offset(who, p_ts), r)
                full += f"\n\n{attr}\n\n{_quote(quoted)}"
                short += f"\n\n{attr}\n\n{_quote(p_own)}"
            refs = f"{refs} {p_id}" if refs else p_id
            subject_line = (
                f"References: {refs}\nIn-Reply-To: {p_id}\n"
                f"Subject: {_header_text(_REPLY_PREFIX.get(who.key, 'Re: ') + subject)}"
            )
        headers = (
            f"{'' if who is ME else _DELIVERED}MIME-Version: 1.0\nDate: {_rfc_date(ts, off)}\n"
            f"Message-ID: {msg_id}\n{subject_line}\n{from_to[who.key]}"
        )
        if kind == "work" and r() < 0.3:
            headers += f"\nCc: {_addr(PEOPLE['priya'])}, {_addr(PEOPLE['zoe'])}"
        if kind == "german":
            entity = _text(full, charset="ISO-8859-1")
        elif kind == "friend":
            entity = _text(full, cte="base64")
        else:  # the HTML alternative quotes one level (Gmail would nest them all)
            markup = _html(own, attr, prev[2] if prev else "")
            entity = _multipart("alternative", [_text(full, cte="auto"), _text(markup, "html", cte="base64")], rng)
        labels = "Sent" if who is ME else _INBOX[int(r() * len(_INBOX))]
        msg, thrid = _mbox_message(rng, ts, thrid, labels, headers, entity)
        out.append(msg)
        prev = (who, ts, own, short, msg_id)
        ts += 1200 + int(r() ** 2 * 172800)  # replies 20 minutes to 2 days later
    return out


# (name, address, subject, labels, lines the body lists)
_SENDERS = (
    (
        "Trailhead Weekly",
        "no-reply@news.trailhead.example",
        "Your weekly trail picks 🥾",
        "Category Promotions,Inbox",
        (
            "Ridge walk above the valley",
            "Coastal loop, 12 km",
            "Forest trail with a café at the end",
            "Waterproof jacket",
        ),
    ),
    (
        "Bramble & Co",
        "hello@bramble.example",
        "20% off everything this weekend",
        "Category Promotions,Unread",
        ("Linen shirts", "Ceramic mugs", "Beeswax candles", "Code WEEKEND20 at checkout"),
    ),
    (
        "Google",
        "no-reply@accounts.google.com",
        "Security alert",
        "Category Updates,Inbox,Opened",
        ("A new sign-in on Linux", "If this was you, you don't need to do anything", "Check activity"),
    ),
    (
        "Spoonful",
        "no-reply@spoonful.example",
        "Your order is on its way",
        "Trash,Category Updates,Opened",
        ("Weekend box", "Sourdough starter kit", "Arriving between 6pm and 7pm"),
    ),
)


@functools.cache
def _newsletter_body(sender: int, picks: tuple[int, ...], html_only: bool) -> tuple[Entity, ...]:
    """The encoded parts of one newsletter. Bodies depend only on (sender, picks), so a handful are
    built once and reused: a mailbox is mostly bulk mail and this keeps it cheap."""
    name, addr, subject, labels, lines = _SENDERS[sender]
    items = [lines[i] for i in picks]
    unsub = _unsubscribe_url(sender)
    markup = (
        '<html><body><table width="600"><tr><td><h1>Hi Robin,</h1><ul>'
        + "".join(f"<li>{html.escape(x)}</li>" for x in items)
        + f'</ul><p><a href="{unsub}">Unsubscribe</a></p></td></tr></table></body></html>\n'
    )
    if html_only:
        return (_text(markup, "html"),)
    plain = "Hi Robin,\n\n" + "\n".join(f"* {x}" for x in items) + f"\n\nUnsubscribe: {unsub}\n"
    return _text(plain, cte="base64"), _text(markup, "html", cte="base64")


def _unsubscribe_url(sender: int) -> str:
    domain = _SENDERS[sender][1].split("@")[1]
    return f"https://{domain}/u/{7919 * (sender + 1):06x}c0ffee"  # a per-subscriber token


@functools.cache
def _newsletter_headers(sender: int) -> tuple[str, str]:
    """The headers every mail from this sender shares, split around Date and Message-ID."""
    name, addr, subject, labels, _ = _SENDERS[sender]
    domain = addr.split("@")[1]
    tail = (
        f"Subject: {_header_text(subject)}\nFrom: {name} <{addr}>\nTo: {ME.email}\nPrecedence: bulk\n"
        f"List-Unsubscribe: <mailto:unsubscribe@{domain}?subject=unsubscribe>, <{_unsubscribe_url(sender)}>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    )
    return f"Delivered-To: {ME.email}\nMIME-Version: 1.0", tail


def _newsletter(rng: Random, ts: int, html_only: bool) -> str:
    r = rng.random
    sender = int(r() * len(_SENDERS))
    n_lines = len(_SENDERS[sender][4])
    parts = _newsletter_body(sender, tuple(int(r() * n_lines) for _ in range(3)), html_only)
    entity = parts[0] if html_only else _multipart("alternative", list(parts), rng)
    head, tail = _newsletter_headers(sender)
    headers = [head, f"Date: {_rfc_date(ts, 0, pad=True, suffix=' (UTC)')}", f"Message-ID: {_bulk_id(rng)}", tail]
    return _mbox_message(rng, ts, 0, _SENDERS[sender][3], headers, entity)[0]


def _calendar(rng: Random, ts: int) -> str:
    alex = PEOPLE["alex"]
    y, mo, d = _gmtime(ts + 7 * 86400)[:3]  # a meeting a week later
    start, end = f"{y}{mo:02d}{d:02d}T100000Z", f"{y}{mo:02d}{d:02d}T110000Z"
    uid = f"{rng.getrandbits(80):020x}@google.com"
    ics = (
        "BEGIN:VCALENDAR\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\nVERSION:2.0\nCALSCALE:GREGORIAN\n"
        f"METHOD:REQUEST\nBEGIN:VEVENT\nDTSTART:{start}\nDTEND:{end}\nDTSTAMP:{start}\n"
        f"ORGANIZER;CN=Alex Morgan:mailto:{alex.email}\nUID:{uid}\n"
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;"
        f"CN={ME.email}:mailto:{ME.email}\n"
        "SUMMARY:Quarterly review\nLOCATION:Morgan & Hale\\, 3rd floor\nSTATUS:CONFIRMED\n"
        "END:VEVENT\nEND:VCALENDAR\n"
    )
    text = (
        f"You have been invited to the following event.\n\nQuarterly review\nWhen: {start}\nOrganizer: {alex.email}\n"
    )
    cal: Entity = ('Content-Type: text/calendar; charset="UTF-8"; method=REQUEST\nContent-Transfer-Encoding: 7bit', ics)
    ics_file: Entity = (
        'Content-Type: application/ics; name="invite.ics"\nContent-Disposition: attachment; '
        'filename="invite.ics"\nContent-Transfer-Encoding: base64',
        _b64(ics.encode()),
    )
    alt = _multipart("alternative", [_text(text), _text(_html(text), "html"), cal], rng)
    entity = _multipart("mixed", [alt, ics_file], rng)
    headers = [
        f"Delivered-To: {ME.email}",
        "MIME-Version: 1.0",
        f"Date: {_rfc_date(ts, alex.utc_offset)}",
        f"Message-ID: {_gmail_id(rng)}",
        f"Subject: Invitation: Quarterly review @ {start[:8]} 10am - 11am (UTC) ({ME.email})",
        f"From: {_addr(alex)}",
        f"To: {ME.email}",
    ]
    return _mbox_message(rng, ts, 0, "Inbox,Important,Opened", headers, entity)[0]


def _forward(rng: Random, ts: int) -> str:
    r = rng.random
    n = 40 + int(r() * 900)
    orig = f"Dear Robin,\n\nPlease find attached invoice INV-2023-{n:04d} for the deposit.\n\nHarbour Lettings"
    text = (
        f"{ROBIN.text(r)}\n\n---------- Forwarded message ---------\nFrom: Harbour Lettings "
        f"<accounts@harbourlettings.example>\nDate: {_rfc_date(ts - 86400, 0)}\nSubject: Invoice INV-2023-{n:04d}\n"
        f"To: <{ME.email}>\n\n{orig}\n"
    )
    pdf: Entity = (
        'Content-Type: application/pdf; name="invoice.pdf"\nContent-Disposition: attachment; '
        'filename="invoice.pdf"\nContent-Transfer-Encoding: base64',
        _b64(TINY_PDF),
    )
    alt = _multipart("alternative", [_text(text), _text(_html(text), "html")], rng)
    entity = _multipart("mixed", [alt, pdf], rng)
    headers = [
        "MIME-Version: 1.0",
        f"Date: {_rfc_date(ts, uk_offset(ts))}",
        f"Message-ID: {_gmail_id(rng)}",
        f"Subject: Fwd: Invoice INV-2023-{n:04d}",
        f"From: {_addr(ME)}",
        f"To: {_addr(PEOPLE['alex'])}",
    ]
    return _mbox_message(rng, ts, 0, "Sent", headers, entity)[0]


def _spam(rng: Random, ts: int) -> str:
    text = (
        "Congratulations!\n\nYou’ve been selected to receive €1,000 — claim it today at "
        "http://lucky-prize.example/claim before it expires.\nFrom all of us at Lucky Prize: good luck!\n"
    )
    headers = [
        f"Delivered-To: {ME.email}",
        "MIME-Version: 1.0",
        f"Date: {_rfc_date(ts, -5 * 3600)}",
        f"Message-ID: <{rng.getrandbits(64):x}@lucky-prize.example>",
        f"Subject: {_q_word('You’ve been selected!', 'windows-1252')}",
        "From: Prize Department <winner@lucky-prize.example>",
        f"To: {ME.email}",
    ]
    return _mbox_message(rng, ts, 0, "Spam,Unread", headers, _text(text, charset="windows-1252"))[0]


def _chat(rng: Random, start: int, k: int) -> list[str]:
    """Hangouts chat as Takeout stores it: label Chat, plain 8-bit text."""
    r = rng.random
    friend = PEOPLE["priya"]
    out, thrid, ts = [], 0, start
    for j in range(k):
        who, to = (ME, friend) if j % 2 == 0 else (friend, ME)
        headers = [
            "MIME-Version: 1.0",
            f"Date: {_rfc_date(ts, _offset(who, ts))}",
            f"Message-ID: {_gmail_id(rng)}",
            f"Subject: Chat with {friend.name}",
            f"From: {_addr(who)}",
            f"To: {_addr(to)}",
        ]
        msg, thrid = _mbox_message(rng, ts, thrid, "Chat", headers, _text(who.voice.text(r), cte="8bit"))
        out.append(msg)
        ts += 20 + int(r() * 300)
    return out


# Thread kinds and weights (per thread; conversations hold 1-4 messages). As in a real mailbox
# much of it is automated; the first threads cycle through every kind so small samples have all.
_KINDS = ("work", "german", "friend", "newsletter", "html_only", "calendar", "forward", "spam", "chat")
_WEIGHTS = (18, 10, 18, 30, 5, 2, 3, 4, 10)
_FRIENDS = ("priya", "zoe", "dmitri", "nino", "sam", "jamie")


def _thread(kind: str, rng: Random, ts: int, k: int, first: bool = False) -> list[str]:
    r = rng.random
    if kind == "work":
        return _conversation(rng, ts, min(k, 2 + int(r() * 3)), PEOPLE["alex"], "work", force_from=first)
    if kind == "german":
        return _conversation(rng, ts, min(k, 2 + int(r() * 3)), PEOPLE["lukas"], "german")
    if kind == "friend":
        return _conversation(rng, ts, min(k, 1 + int(r() * 4)), PEOPLE[_FRIENDS[int(r() * 6)]], "friend")
    if kind == "chat":
        return _chat(rng, ts, min(k, 1 + int(r() * 3)))
    if kind in ("newsletter", "html_only"):
        return [_newsletter(rng, ts, kind == "html_only")]
    return [{"calendar": _calendar, "forward": _forward, "spam": _spam}[kind](rng, ts)]


BLOCK = 10_000  # messages per independently seeded block: the unit of parallel work


def plan(root: Path, n: int, seed: int) -> tuple[list[tuple], Callable[[list[Path]], list[Path]] | None]:
    """Jobs (count, fn, args) writing the mbox in blocks; several blocks go to part files that the
    finishing step concatenates in order. Blocks, not workers, fix the bytes."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / MBOX_NAME
    sizes = [min(BLOCK, n - b) for b in range(0, n, BLOCK)] or [0]
    if len(sizes) == 1:
        return [(n, write_block, (path, 0, n, n, seed))], None
    parts = [root / f".part-{b:05d}.mbox" for b in range(len(sizes))]
    jobs = [(k, write_block, (parts[b], b, k, n, seed)) for b, k in enumerate(sizes)]
    return jobs, functools.partial(_concat, parts, path)


def _concat(parts: list[Path], path: Path, written: list[Path]) -> list[Path]:
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
            part.unlink()
    return [path]


def write_block(
    path: Path, block: int, n: int, total: int, seed: int, progress: Callable[[int], None] | None
) -> list[Path]:
    """Write block `block` (n messages) of a mailbox of `total` messages, thread by thread."""
    progress = progress or (lambda k: None)
    rng = Random(f"{seed}:gmail:{block}")
    r = rng.random
    cum = list(itertools.accumulate(_WEIGHTS))
    acc = cum[-1]
    span = min(max(total * 3600, 30 * 86400), 3 * 365 * 86400)
    per_msg = span / max(1, total)
    ts, left, i = BASE_TS + block * BLOCK * per_msg + r() * 600, n, 0
    buf: list[bytes] = []  # encoded per message: one emoji would widen a joined str to 4 bytes/char
    with open(path, "wb") as fh:
        while left > 0:
            if block == 0 and i < len(_KINDS):  # the first threads show every kind once
                kind = _KINDS[i]
            else:
                kind = _KINDS[bisect.bisect_right(cum, r() * acc)]
            day_ts = int(ts) + (8 * 3600 if int(ts) % 86400 < 7 * 3600 else 0)  # mail by day, not at 3am
            msgs = _thread(kind, rng, day_ts, left, first=block == 0 and i == 0)
            left -= len(msgs)
            buf += [m.encode("utf-8") for m in msgs]
            if len(buf) >= 512:
                fh.write(b"".join(buf))
                progress(len(buf))
                buf.clear()
            ts += per_msg * len(msgs) * (0.5 + r())
            i += 1
        if buf:
            fh.write(b"".join(buf))
            progress(len(buf))
    return [path]
