"""WhatsApp "Export chat" files: Android TXT, iOS _chat.txt (zipped or unzipped), several locales.

Times in the files are Europe/London wall-clock time, as the exporting phone shows them.
"""

from __future__ import annotations

import itertools
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from random import Random

from ingest.samples.meta import zipinfo
from ingest.samples.persona import BASE_TS, ME_NAME, ME_SHORT, PEOPLE, ROBIN, split, timeline, uk_offset

LRM = "\u200e"  # iOS marks system and media lines with LEFT-TO-RIGHT MARK
NNBSP = "\u202f"  # recent Android/iOS put a NARROW NO-BREAK SPACE before AM/PM
TINY_JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + bytes(64) + bytes.fromhex("ffd9")


@dataclass(frozen=True)
class Chat:
    title: str  # contact or group name, as WhatsApp names the export
    partners: tuple[str, ...]  # PEOPLE keys
    me: str  # Robin's display name in this export
    fmt: str  # key of _FORMATS
    container: str  # txt | zip | dir
    weight: float  # share of the platform's messages
    group: bool = False


CHATS = (
    Chat("Sam Okafor", ("sam",), ME_NAME, "android_gb", "txt", 70),  # the bulk: one big file
    Chat("Priya Shah", ("priya",), ME_NAME, "ios_gb", "zip", 6),
    Chat("Lukas Becker", ("lukas",), ME_SHORT, "android_de", "txt", 5),
    Chat("ნინო ბერიძე", ("nino",), ME_SHORT, "android_us", "txt", 5),
    Chat("Дмитрий Волков", ("dmitri",), ME_SHORT, "ios_us", "dir", 4),
    Chat("Weekend Crew", ("sam", "priya", "jamie"), ME_NAME, "android_gb", "txt", 6, group=True),
    Chat("+44 7700 900781", ("mark",), ME_NAME, "android_gb", "txt", 4),
)
GROUP_LEAVER = "+44 7700 900781"

_E2E_EN = (
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, "
    "can read or listen to them."
)
_STRINGS = {
    "en": dict(
        e2e=_E2E_EN + " Tap to learn more.",
        media="<Media omitted>",
        deleted="This message was deleted",
        deleted_me="You deleted this message",
        edited=" <This message was edited>",
    ),
    # a phone set to German exports German system strings
    "de": dict(
        e2e="Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand außerhalb dieses Chats, "
        "nicht einmal WhatsApp, kann sie lesen oder anhören. Tippe, um mehr zu erfahren.",
        media="<Medien ausgeschlossen>",
        deleted="Diese Nachricht wurde gelöscht",
        deleted_me="Du hast diese Nachricht gelöscht",
        edited=" <Diese Nachricht wurde bearbeitet>",
    ),
    "ios": dict(
        e2e=LRM + _E2E_EN,
        media=LRM + "image omitted",
        deleted=LRM + "This message was deleted.",
        deleted_me=LRM + "You deleted this message.",
        edited=" " + LRM + "<This message was edited>",
    ),
}


def _h12(h: int) -> str:
    return f"{(h % 12) or 12}"


def _ampm(h: int) -> str:
    return "AM" if h < 12 else "PM"


# fmt -> (locale strings, is_ios, date(y, m, d), prefix(date, h, mi, s))
_FORMATS = {
    "android_gb": (
        "en",
        False,
        lambda y, m, d: f"{d:02d}/{m:02d}/{y}",
        lambda ds, h, mi, s: f"{ds}, {h:02d}:{mi:02d} - ",
    ),
    "android_de": (
        "de",
        False,
        lambda y, m, d: f"{d:02d}.{m:02d}.{y % 100:02d}",
        lambda ds, h, mi, s: f"{ds}, {h:02d}:{mi:02d} - ",
    ),
    "android_us": (
        "en",
        False,
        lambda y, m, d: f"{m}/{d}/{y % 100:02d}",
        lambda ds, h, mi, s: f"{ds}, {_h12(h)}:{mi:02d}{NNBSP}{_ampm(h)} - ",
    ),
    "ios_gb": (
        "ios",
        True,
        lambda y, m, d: f"{d:02d}/{m:02d}/{y}",
        lambda ds, h, mi, s: f"[{ds}, {h:02d}:{mi:02d}:{s:02d}] ",
    ),
    "ios_us": (
        "ios",
        True,
        lambda y, m, d: f"{m}/{d}/{y % 100:02d}",
        lambda ds, h, mi, s: f"[{ds}, {_h12(h)}:{mi:02d}:{s:02d}{NNBSP}{_ampm(h)}] ",
    ),
}


def _prefixer(fmt: str) -> Callable[[int], str]:
    """epoch ms -> line prefix in UK local time. Dates are cached per day and, for the
    minute-resolution Android formats, whole prefixes per minute (consecutive messages share them)."""
    _, ios, date_fn, line_fn = _FORMATS[fmt]
    days: dict[int, str] = {}
    last = [-1, ""]  # Android: (minute, prefix) of the previous message

    def prefix(ts_ms: int) -> str:
        t = ts_ms // 1000
        t += uk_offset(t)
        if not ios and t // 60 == last[0]:
            return last[1]
        day, sod = divmod(t, 86400)
        ds = days.get(day)
        if ds is None:
            y, m, d = time.gmtime(day * 86400)[:3]
            ds = days[day] = date_fn(y, m, d)
        h, rem = divmod(sod, 3600)
        out = line_fn(ds, h, rem // 60, rem % 60)
        last[0], last[1] = t // 60, out
        return out

    return prefix


def _media_stamp(ts_ms: int) -> str:
    """Local time as WhatsApp puts it in media file names: 2023-01-02-10-11-12."""
    t = ts_ms // 1000
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(t + uk_offset(t)))


# Special records forced early in every chat, so even a small sample shows each variant.
_PII_AT = 6
_FORCED = {1: "media", 3: "multiline", 5: "edited", _PII_AT: "pii", 8: "deleted"}


def _records(chat: Chat, n: int, rng: Random, attached: list[str]) -> Iterator[str]:
    """Exactly n records (a header line plus any continuation lines), oldest first."""
    loc, ios, _, _ = _FORMATS[chat.fmt]
    st = _STRINGS[loc]
    prefix = _prefixer(chat.fmt)
    r = rng.random
    people = [PEOPLE[k] for k in chat.partners]
    names = [chat.me] + [p.name for p in people]
    voices = [ROBIN] + [p.voice for p in people]

    system = [st["e2e"]]
    if chat.group:
        system += [f'{chat.me} created group "{chat.title}"'] + [f"{chat.me} added {x}" for x in names[1:]]
        system += [
            f"{chat.me} added {GROUP_LEAVER}",
            f'{names[1]} changed the subject from "{chat.title}" to "{chat.title} 🏕️"',
        ]
    system = system[:n]
    weights = [1.0] + [1.0, 1.0, 0.6][: len(people)]  # Robin, then partners (the third is quieter)
    times = timeline(rng, n - len(system) or 1, weights, start=BASE_TS + int(r() * 36000))  # 09:00-19:00
    first_ts, first_who = next(times)

    hdr = prefix(first_ts)
    for line in system:  # Android: no sender; iOS: the chat name "sends" them
        yield f"{LRM}{hdr}{chat.title}: {line}\n" if ios else f"{hdr}{line}\n"
    if len(system) == n:
        return

    for i, (ts, who) in enumerate(itertools.chain([(first_ts, first_who)], times)):
        hdr = prefix(ts)
        kind = _FORCED.get(i)
        if kind is None:
            x = r()
            kind = (
                "text"
                if x >= 0.06
                else "media"
                if x < 0.025
                else "deleted"
                if x < 0.032
                else "edited"
                if x < 0.045
                else "pii"
            )
        if chat.group and i == 10:
            yield f"{hdr}{GROUP_LEAVER} left\n"
            continue
        voice = voices[who]
        if kind == "text":
            text = voice.text(r)
        elif kind == "media":
            if ios:
                if chat.container == "zip" and not attached:  # one real file travels in the zip
                    attached.append(f"{i:08d}-PHOTO-{_media_stamp(ts)}.jpg")
                    text = f"{LRM}<attached: {attached[0]}>"
                else:
                    text = st["media"]
                yield f"{LRM}{hdr}{names[who]}: {text}\n"
                continue
            text = st["media"]
        elif kind == "deleted":
            text = st["deleted_me"] if who == 0 else st["deleted"]
        elif kind == "edited":
            text = voice.text(r) + st["edited"]
        elif kind == "multiline":
            text = voice.text(r) + "\n" + voice.text(r)
        elif i == _PII_AT:  # Robin's own identifiers, a different one per chat, so all appear
            who, text = 0, ROBIN.pii[CHATS.index(chat) % len(ROBIN.pii)]
        else:
            text = voice.pii_text(r)
        yield f"{hdr}{names[who]}: {text}\n"


def plan(root: Path, n: int, seed: int) -> tuple[list[tuple], None]:
    """Jobs (count, fn, args), one per chat, that write exactly n records; no finishing step."""
    root.mkdir(parents=True, exist_ok=True)
    sizes = split(n, [c.weight for c in CHATS], minimum=min(14, n // len(CHATS)))
    return [(k, write_chat, (root, i, k, seed)) for i, k in enumerate(sizes) if k > 0], None


def write_chat(root: Path, index: int, n: int, seed: int, progress: Callable[[int], None] | None) -> list[Path]:
    """Write chat CHATS[index] with n records; returns the file written."""
    chat = CHATS[index]
    progress = progress or _ignore
    rng = Random(f"{seed}:whatsapp:{chat.title}")  # str seeds hash with sha512: stable
    attached: list[str] = []
    records = _records(chat, n, rng, attached)
    if chat.container == "zip":
        path = root / f"WhatsApp Chat - {chat.title}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            with zf.open(zipinfo("_chat.txt"), "w", force_zip64=True) as fh:
                _pump(records, fh.write, progress)
            for name in attached:
                zf.writestr(zipinfo(name), TINY_JPEG)
        return [path]
    if chat.container == "dir":  # an iOS export someone unzipped
        path = root / f"WhatsApp Chat - {chat.title}" / "_chat.txt"
        path.parent.mkdir(exist_ok=True)
    else:
        path = root / f"WhatsApp Chat with {chat.title}.txt"
    with open(path, "wb") as fh:
        _pump(records, fh.write, progress)
    return [path]


def _ignore(k: int) -> None:
    pass


def _pump(records: Iterator[str], write, progress: Callable[[int], None], batch: int = 4096) -> None:
    """Write records as UTF-8 in joined batches (one write call per batch is what makes this fast)."""
    buf: list[str] = []
    for rec in records:
        buf.append(rec)
        if len(buf) == batch:
            write("".join(buf).encode("utf-8"))
            progress(batch)
            buf.clear()
    if buf:
        write("".join(buf).encode("utf-8"))
        progress(len(buf))
