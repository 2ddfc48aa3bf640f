"""Instagram and Messenger "Download your information" exports (JSON), current folder layout.

Legacy thread files (`inbox/<thread>/message_N.json`) hold messages newest first, message_1 the
newest, and carry Meta's mojibake: every non-ASCII string is its UTF-8 bytes read as latin-1 and
then \\u00XX-escaped. The newer end-to-end-encrypted Messenger shape (`e2ee_cupcake/`) is camelCase
with plain UTF-8 strings. Files are streamed one chunk at a time, never a whole thread in memory.
"""

from __future__ import annotations

import functools
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from random import Random

from ingest.samples.persona import BASE_TS, ME_NAME, ME_USERNAME, PEOPLE, ROBIN, split, timeline

_ESC_ASCII = json.encoder.encode_basestring_ascii  # the C helpers json.dumps itself uses
_ESC_UTF8 = json.encoder.encode_basestring
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def zipinfo(name: str) -> zipfile.ZipInfo:
    """A zip entry with fixed time, mode and creator system, so zips are byte-identical."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def zip_export(folder: Path, zip_path: Path) -> Path:
    """Zip an export folder (e.g. out/instagram -> instagram-robin.vale_-2024-01-01.zip) the way
    Meta ships it: paths relative to the export root, deterministic bytes."""
    folder, zip_path = Path(folder), Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with (
                open(path, "rb") as src,
                zf.open(zipinfo(path.relative_to(folder).as_posix()), "w", force_zip64=True) as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
    return zip_path


def mojibake(s: str) -> str:
    """What Meta writes for s: UTF-8 bytes as latin-1 code points ("é" -> "Ã©")."""
    return s if s.isascii() else s.encode("utf-8").decode("latin-1")


def _enc(v, ind: str, esc) -> str:
    """json.dumps(v, indent=2) at nesting `ind`, byte for byte, but only for the types used here;
    the stdlib falls back to its pure-Python encoder whenever indent is set, which is ~5x slower."""
    t = type(v)
    if t is str:
        return esc(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    inner = ind + "  "
    if t is dict:
        if not v:
            return "{}"
        return "{\n" + ",\n".join([f"{inner}{esc(k)}: {_enc(x, inner, esc)}" for k, x in v.items()]) + f"\n{ind}}}"
    if t is list:
        if not v:
            return "[]"
        return "[\n" + ",\n".join([inner + _enc(x, inner, esc) for x in v]) + f"\n{ind}]"
    if v is None:
        return "null"
    raise TypeError(t)


def _enc_item(m: dict, esc) -> str:
    """One message object at the nesting of a thread's message list: _enc(m, "    ", esc) with
    scalar values inlined, since nearly all messages are flat (keys here never need escaping)."""
    parts = []
    for k, v in m.items():
        t = type(v)
        if t is str:
            parts.append(f'      "{k}": {esc(v)}')
        elif t is bool:
            parts.append(f'      "{k}": {"true" if v else "false"}')
        elif t is int:
            parts.append(f'      "{k}": {v}')
        else:
            parts.append(f'      "{k}": {_enc(v, "      ", esc)}')
    return "    {\n" + ",\n".join(parts) + "\n    }"


@dataclass(frozen=True)
class Thread:
    folder: str  # lowercase name; a numeric suffix is added
    box: str  # inbox | archived_threads | message_requests | e2ee_cupcake
    partners: tuple[str, ...]  # PEOPLE keys
    weight: float
    title: str | None = None  # group title; 1:1 threads are titled with the partner's name
    cap: int = 0  # a fixed small size (message requests stay short)


@dataclass(frozen=True)
class Export:
    platform: str
    base: str  # the messages folder inside the export root
    me: str  # how Robin's own messages are signed
    threads: tuple[Thread, ...]
    extras: dict  # relative path -> JSON content of files parsers must ignore


INSTAGRAM = Export(
    "instagram",
    "your_instagram_activity/messages",
    ME_USERNAME,
    (
        Thread("jamiechen", "inbox", ("jamie",), 60),
        Thread("zoenunez", "inbox", ("zoe",), 15),
        Thread("weekendplans", "inbox", ("jamie", "zoe", "nino"), 15, title="Weekend plans ✨"),
        Thread("ninoberidze", "inbox", ("nino",), 10),
    ),
    {
        "your_instagram_activity/messages/secret_conversations.json": {
            "ig_secret_conversations": {"armadillo_devices": [], "secret_conversations": []}
        },
        "personal_information/personal_information/personal_information.json": {
            "profile_user": [
                {
                    "string_map_data": {
                        "Username": {"href": "", "value": ME_USERNAME, "timestamp": 0},
                        "Name": {"href": "", "value": ME_NAME, "timestamp": 0},
                    }
                }
            ]
        },
    },
)

MESSENGER = Export(
    "messenger",
    "your_facebook_activity/messages",
    ME_NAME,
    (
        Thread("alexmorgan", "inbox", ("alex",), 45),
        Thread("bookclub", "inbox", ("alex", "priya", "lukas"), 15, title="Book club 📚"),
        Thread("dmitrivolkov", "inbox", ("dmitri",), 12),
        Thread("lukasbecker", "archived_threads", ("lukas",), 10),
        Thread("taylorbrooks", "message_requests", ("taylor",), 0, cap=12),
        Thread("priyashah", "e2ee_cupcake", ("priya",), 15),
    ),
    {
        "your_facebook_activity/messages/autofill_information.json": {
            "autofill_information_v2": {"PHONE": [ME_NAME], "EMAIL": ["robin.vale@gmail.com"]}
        },
        "personal_information/profile_information/profile_information.json": {
            "profile_v2": {"name": {"full_name": ME_NAME, "first_name": "Robin", "last_name": "Vale"}}
        },
    },
)

EXPORTS = {e.platform: e for e in (INSTAGRAM, MESSENGER)}

_REACTIONS = ("❤", "😂", "😮", "😢", "👍", "🔥", "👩‍💻", "🏳️‍🌈")
_LINKS = (
    "https://www.instagram.com/p/Cx7Qm2LrT4a/",
    "https://www.instagram.com/reel/C1a9ZkPNq3f/",
    "https://www.bbc.co.uk/news/technology-64075967",
    "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
)
_SHARE_TEXT = ("this is us on saturday", "Weekend vibes ✨", "Sonnenuntergang in Berlin 🌅", "new drop 👀", "")
# Early positions get a fixed kind so that even a small sample shows every variant.
_SHARE_AT = 2
_FORCED = {
    1: "photo",
    _SHARE_AT: "share",
    3: "react",
    4: "unsent",
    5: "call",
    6: "liked",
    7: "reacted",
    8: "pii",
    9: "video",
    10: "audio",
}


def _kind(i: int, x: float, platform: str) -> str:
    k = _FORCED.get(i)
    if k is None:
        if x >= 0.1:
            return "text"
        k = (
            "photo",
            "share",
            "react",
            "react",
            "react",
            "pii",
            "video",
            "audio",
            "unsent",
            "call" if platform == "messenger" else "liked",
            "reacted",
        )[int(x * 110)]
    if k == "call" and platform != "messenger":
        return "liked"
    return k


def _legacy(exp: Export, th: Thread, folder: str, n: int, rng: Random) -> Iterator[dict]:
    """n legacy message dicts, newest first, every string already mojibaked."""
    r = rng.random
    names = [exp.me] + [PEOPLE[k].name for k in th.partners]
    first = [x.split()[0] for x in names]
    senders = [mojibake(x) for x in names]
    voices = [ROBIN] + [PEOPLE[k].voice for k in th.partners]
    # Robin never answered the message request; in groups the first partner talks most
    weights = [0.0 if th.box == "message_requests" else 1.0] + [1.0] + [0.6] * (len(th.partners) - 1)
    media = f"{exp.base}/{th.box}/{folder}"
    for i, (ts, who) in enumerate(timeline(rng, n, weights, newest_first=True)):
        if th.title and i == n - 1:  # the oldest message of a group: it got its name
            yield {
                "sender_name": mojibake(names[0]),
                "timestamp_ms": ts,
                "content": mojibake(f"{first[0]} named the group {th.title}."),
                "is_geoblocked_for_viewer": False,
            }
            continue
        kind = _kind(i, r(), exp.platform)
        if kind == "share" and i == _SHARE_AT and weights[0]:
            who = 0  # one share surely Robin's: "You sent an attachment."
        m = {"sender_name": senders[who], "timestamp_ms": ts}
        if kind in ("text", "react"):
            m["content"] = mojibake(voices[who].text(r))
            if kind == "react" and len(names) > 1:
                actor = (who + 1 + int(r() * (len(names) - 1))) % len(names)
                m["reactions"] = [
                    {"reaction": mojibake(_REACTIONS[int(r() * len(_REACTIONS))]), "actor": mojibake(names[actor])}
                ]
        elif kind in ("photo", "video", "audio"):
            key, ext = {"photo": ("photos", "jpg"), "video": ("videos", "mp4"), "audio": ("audio_files", "mp4")}[kind]
            uri = f"{media}/{key}/{ts // 1000}{int(r() * 1e9):09d}.{ext}"
            m[key] = [{"uri": uri, "creation_timestamp": ts // 1000}]
        elif kind == "share":
            link = _LINKS[int(r() * len(_LINKS))]
            if exp.platform == "messenger":
                m["content"] = link
            else:
                m["content"] = "You sent an attachment." if who == 0 else mojibake(f"{first[who]} sent an attachment.")
            text = _SHARE_TEXT[int(r() * len(_SHARE_TEXT))]
            m["share"] = {"link": link, "share_text": mojibake(text)} if text else {"link": link}
        elif kind == "unsent":
            m["is_unsent"] = True
        elif kind == "call":
            if who and r() < 0.3:
                m["content"] = mojibake(f"You missed a call from {first[who]}.")
                m["call_duration"] = 0
            else:
                m["content"] = mojibake(f"{first[who]} started a video chat.")
                m["call_duration"] = 30 + int(r() * 3000)
        elif kind == "liked":
            m["content"] = "Liked a message"
        elif kind == "reacted":
            m["content"] = mojibake(f"Reacted {_REACTIONS[1 + int(r() * 7)]} to your message")
        else:
            m["content"] = mojibake(voices[who].pii_text(r))
        m["is_geoblocked_for_viewer"] = False
        yield m


def _e2ee(th: Thread, n: int, rng: Random) -> Iterator[dict]:
    """n camelCase messages, oldest first, plain strings."""
    r = rng.random
    names = [ME_NAME] + [PEOPLE[k].name for k in th.partners]
    voices = [ROBIN] + [PEOPLE[k].voice for k in th.partners]
    for ts, who in timeline(rng, n, [1.0] * len(names)):
        x = r()
        reactions = [{"actor": names[1 - who], "reaction": "❤️"}] if x < 0.05 else []
        yield {
            "isUnsent": 0.05 <= x < 0.06,
            "media": [],
            "reactions": reactions,
            "senderName": names[who],
            "text": "" if 0.05 <= x < 0.06 else voices[who].text(r),
            "timestamp": ts,
            "type": "text",
        }


def _write_json(path: Path, head: dict, key: str, items: list[dict], tail: dict, esc) -> None:
    """{**head, key: items, **tail} as json.dumps(indent=2) would write it."""
    parts = [f"  {esc(k)}: {_enc(v, '  ', esc)}" for k, v in head.items()]
    parts.append(f"  {esc(key)}: [\n" + ",\n".join([_enc_item(m, esc) for m in items]) + "\n  ]")
    parts += [f"  {esc(k)}: {_enc(v, '  ', esc)}" for k, v in tail.items()]
    path.write_text("{\n" + ",\n".join(parts) + "\n}", encoding="utf-8")


def write_thread(
    platform: str, index: int, out: Path, n: int, per_file: int, seed: int, progress: Callable[[int], None] | None
) -> list[Path]:
    """Write thread `index` of an export: n messages in files of at most per_file messages."""
    exp = EXPORTS[platform]
    th = exp.threads[index]
    progress = progress or (lambda k: None)
    rng = Random(f"{seed}:{exp.platform}:{th.folder}")
    folder = f"{th.folder}_{rng.randrange(10**15, 10**16)}"
    tdir = out / exp.base / th.box / folder
    tdir.mkdir(parents=True, exist_ok=True)
    names = [exp.me] + [PEOPLE[k].name for k in th.partners]
    title = th.title or names[1]
    if th.box == "e2ee_cupcake":
        esc, msgs = _ESC_UTF8, _e2ee(th, n, rng)
        head, tail = {"participants": names, "threadName": title}, {}
    else:
        esc, msgs = _ESC_ASCII, _legacy(exp, th, folder, n, rng)
        head = {"participants": [{"name": mojibake(x)} for x in names]}
        tail = {
            "title": mojibake(title),
            "is_still_participant": True,
            "thread_path": f"{th.box}/{folder}",
            "magic_words": [],
        }
        if th.title:
            tail["image"] = {"uri": f"{exp.base}/photos/{folder}.jpg", "creation_timestamp": BASE_TS}
    files = []
    left = n
    while left > 0:
        chunk = [next(msgs) for _ in range(min(per_file, left))]
        left -= len(chunk)
        path = tdir / f"message_{len(files) + 1}.json"
        _write_json(path, head, "messages", chunk, tail, esc)
        files.append(path)
        progress(len(chunk))
    stale = len(files) + 1  # left by an earlier, larger run into the same folder
    while (tdir / f"message_{stale}.json").is_file():
        (tdir / f"message_{stale}.json").unlink()
        stale += 1
    return files


def write_extras(platform: str, out: Path, written: list[Path]) -> list[Path]:
    """After the threads (`written`): the export's non-message files, which parsers must skip."""
    files = list(written)
    for rel, content in EXPORTS[platform].extras.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
        files.append(path)
    return files


def plan(platform: str, out: Path, n: int, seed: int) -> tuple[list[tuple], Callable[[list[Path]], list[Path]]]:
    """Jobs (count, fn, args), one per thread, writing exactly n messages; then write_extras."""
    threads = EXPORTS[platform].threads
    caps = [min(t.cap, n // 10) for t in threads]
    shares = split(n - sum(caps), [t.weight for t in threads], minimum=min(12, n // len(threads)))
    sizes = [c or s for c, s in zip(caps, shares)]
    # at most 10,000 per file as Meta does; small samples use smaller files so that the biggest
    # thread still spans 2-3 files
    per_file = min(10_000, max(10, -(-max(sizes) // 3)))
    jobs = [(k, write_thread, (platform, i, out, k, per_file, seed)) for i, k in enumerate(sizes) if k > 0]
    return jobs, functools.partial(write_extras, platform, out)
