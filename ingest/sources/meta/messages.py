"""One Meta message file (legacy or end-to-end-encrypted JSON shape) → a table of raw rows.

legacy:  {participants: [{name}], title, thread_path, messages: [{sender_name, timestamp_ms, content,
          photos, videos, audio_files, gifs, sticker, files, share{link, share_text}, reactions[{reaction,
          actor}], call_duration, missed, is_unsent, type}]}
e2ee:    {participants: [name], threadName, messages: [{senderName, timestamp, text, media[{uri}],
          reactions[{actor, reaction}], isUnsent, type}]}

Most messages are plain text, so the work is done column by column (list comprehensions, Arrow
kernels, one mojibake round trip per file); only messages with attachments, reactions or a
system-line look get Python of their own. A file with an unreadable message is screened message by
message first, so that message alone becomes a reject.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ingest.core.identity import Me
from ingest.core.schema import REACTION_TYPE, TIMESTAMP_MS_RANGE
from ingest.sources import zips
from ingest.sources.base import Reject
from ingest.sources.columns import repeated_list
from ingest.sources.meta.text import Repairer
from ingest.sources.text import neutralise_column

# System lines Meta writes as ordinary messages (English exports). A cheap keyword search first
# (RE2, on the whole column), then the exact sentence shapes, so writing that merely mentions a
# call stays text. Being ASCII, the patterns also work on still-escaped text (see _legacy_special).
SYSTEM_HINT = (
    r" the group| theme| nickname| emoji| quick reaction| call| chat|attachment"
    r"|connected on Messenger|Facebook friend|iked |eacted | waved| pinned| admin"
)
MAX_SYSTEM_LINE = 200
_NAME = r"[^\n]{1,80}?"
_CALL = r"(?:video |audio |voice )?(?:call|chat)"
_REACTION_LINE = re.compile(
    rf"(?:{_NAME} )?(?:[Ll]iked|[Rr]eacted(?: [^\n]{{1,40}}?)? to) "
    r"(?:a|your|their|his|her) message\.?"
)
_MISSED_CALL = re.compile(rf"(?:You missed an? {_CALL} (?:from|with) {_NAME}|{_NAME} missed your {_CALL})\.?")
_SYSTEM_LINE = re.compile(
    "|".join(
        (
            rf"{_NAME} (?:named|renamed) the group(?: [^\n]*)?",
            rf"{_NAME} (?:changed|removed) the group (?:name|photo|image)(?: [^\n]*)?",
            rf"{_NAME} (?:created|left|joined) the group[^\n]*",
            rf"{_NAME} (?:added|removed) {_NAME} (?:to|from) the group\.?",
            rf"{_NAME} (?:changed|set) the (?:chat )?theme[^\n]*",
            rf"{_NAME} (?:changed|set) the (?:quick reaction|emoji)[^\n]*",
            rf"{_NAME} (?:set|changed|cleared) (?:the|your|his|her|their) (?:own )?nickname[^\n]*",
            rf"{_NAME} (?:started|joined|ended) (?:a|an|the) {_CALL}\.?",
            rf"(?:The )?{_CALL} ended\.?",
            rf"{_NAME} sent an attachment\.",
            r"You are now connected on Messenger\.?",
            r"Say hi to your new Facebook friend[^\n]*",
            rf"{_NAME} (?:waved at|pinned|unpinned) {_NAME}",
            rf"{_NAME} (?:made|named) {_NAME} an? (?:group )?admin\.?",
        )
    )
)
# Meta's stand-in text for an attachment: not something the sender wrote.
_PLACEHOLDER = re.compile(
    rf"{_NAME} sent (?:an attachment|a (?:photo|video|voice message|sticker|link|file|GIF"
    r"(?: from GIPHY)?)|\d+ photos)\."
)

_LEGACY_MEDIA = (
    ("photos", "photo"),
    ("videos", "video"),
    ("audio_files", "audio"),
    ("gifs", "gif"),
    ("sticker", "sticker"),
    ("files", "file"),
)
_EXTENSION_KIND = {
    **dict.fromkeys(("jpg", "jpeg", "png", "webp", "heic", "bmp"), "photo"),
    **dict.fromkeys(("mp4", "mov", "webm", "3gp", "mkv", "avi"), "video"),
    **dict.fromkeys(("m4a", "aac", "mp3", "ogg", "opus", "wav", "amr"), "audio"),
    "gif": "gif",
}
# Keys a plain text message carries (reactions are handled for every message). Legacy files mark
# only some messages with is_unsent or type (older Messenger exports all of them: those files
# take the slower path); e2ee files mark every message, so there the values are checked too.
_LEGACY_PLAIN = frozenset(
    {
        "sender_name",
        "timestamp_ms",
        "content",
        "reactions",
        "is_geoblocked_for_viewer",
        "is_unsent_image_by_messenger_kid_parent",
    }
)
_E2EE_PLAIN = frozenset({"senderName", "timestamp", "text", "reactions", "media", "isUnsent", "type"})
_REACTIONS = pa.list_(REACTION_TYPE)
_FLAGS = pa.list_(pa.string())

# (content_type, body_raw, body_text, flags), the strings not yet repaired
Special = tuple[str, "str | None", "str | None", "list[str] | None"]


class BadMessage(Exception):
    """A message this parser cannot read; its reason never contains message text."""


@dataclass(frozen=True)
class Shape:
    name: str
    sender: str
    timestamp: str
    text: str
    title: str
    to_look_at: Callable[[list], list[int]]  # rows that may not be plain text
    special: Callable[[dict, str | None], Special | None]  # None: plain after all


def _legacy_rows(msgs: list) -> list[int]:
    return [i for i, m in enumerate(msgs) if not _LEGACY_PLAIN.issuperset(m)]


def _legacy_special(m: dict, text: str | None) -> Special | None:
    if m.get("is_unsent"):
        return "deleted", text, None, None
    kind = m.get("type")
    if "call_duration" in m or kind == "Call":
        missed = m.get("missed") or bool(text and _MISSED_CALL.fullmatch(text))
        return "call", text, None, ["missed_call"] if missed else None
    if kind in ("Subscribe", "Unsubscribe"):
        return "system", text, None, None
    for key, media in _LEGACY_MEDIA:
        if m.get(key):
            return media, text, _own(text), None
    share = m.get("share")
    if share and share.get("link"):
        return _link(text, share["link"], share.get("share_text"))
    return None


def _e2ee_rows(msgs: list) -> list[int]:
    return [
        i
        for i, m in enumerate(msgs)
        if not _E2EE_PLAIN.issuperset(m) or m.get("isUnsent") or m.get("media") or m.get("type", "text") != "text"
    ]


def _e2ee_special(m: dict, text: str | None) -> Special | None:
    if m.get("isUnsent"):
        return "deleted", text, None, None
    media = m.get("media")
    if media:
        uri = media[0].get("uri") or ""
        return _EXTENSION_KIND.get(uri.rpartition(".")[2].lower(), "file"), text, _own(text), None
    if str(m.get("type")).lower() == "call":
        return "call", text, None, ["missed_call"] if text and _MISSED_CALL.fullmatch(text) else None
    return None


LEGACY = Shape("legacy", "sender_name", "timestamp_ms", "content", "title", _legacy_rows, _legacy_special)
E2EE = Shape("e2ee", "senderName", "timestamp", "text", "threadName", _e2ee_rows, _e2ee_special)


def shape_of(data: dict) -> Shape:
    """Per file: the e2ee shape names its thread threadName and stamps messages with `timestamp`."""
    first = data["messages"][0] if data["messages"] else None
    if "threadName" in data or (isinstance(first, dict) and "timestamp" in first and "timestamp_ms" not in first):
        return E2EE
    return LEGACY


def _own(text: str | None) -> str | None:
    """The sender's own words beside an attachment: none when the text is Meta's stand-in."""
    return None if not text or _PLACEHOLDER.fullmatch(text) else text


def _link(text: str | None, link: str, share_text: str | None) -> Special:
    """body_raw: the text, the link (unless the text has it) and the shared post's caption;
    body_text: what the sender wrote, with the link."""
    own = _own(text)
    body_text = link if not own else own if link in own else f"{own}\n{link}"
    body_raw = "\n".join(p for p in (text, None if text and link in text else link, share_text) if p)
    return "link", body_raw, body_text, None


def text_kind(text: str) -> str:
    """text, or the kind of system line the text is."""
    if len(text) > MAX_SYSTEM_LINE:
        return "text"
    if _REACTION_LINE.fullmatch(text):
        return "reaction"
    if _MISSED_CALL.fullmatch(text):
        return "call"
    if _SYSTEM_LINE.fullmatch(text):
        return "system"
    return "text"


class People:
    """Repaired names and their direction, and other short repeated strings, repaired once each."""

    def __init__(self, me: Me, repairer: Repairer):
        self.me, self.repairer = me, repairer
        self._strings: dict[str, str] = {}
        self._directions: dict[str, str] = {}

    def string(self, raw: str) -> str:
        found = self._strings.get(raw)
        if found is None:
            found = self._strings[raw] = self.repairer.repair(raw)
        return found

    def direction(self, name: str) -> str:
        found = self._directions.get(name)
        if found is None:
            found = self._directions[name] = "outbound" if self.me.is_me(name) else "inbound"
        return found

    def reactions(self, raw) -> tuple[list[dict] | None, bool]:
        """(repaired reactions, whether something malformed was left out)."""
        if not isinstance(raw, list):
            return None, True
        out = [
            {
                "actor": self.string(r["actor"]) if isinstance(r.get("actor"), str) else None,
                "reaction": self.string(r["reaction"]) if isinstance(r.get("reaction"), str) else None,
            }
            for r in raw
            if isinstance(r, dict)
        ]
        return out or None, len(out) != len(raw)


class Ordinals:
    """Ordinal of each message among identical ones (same timestamp, sender and text) in a thread.

    Meta writes a thread in time order (newest or oldest first), so identical messages sit in one
    run of equal timestamps: only the current run is remembered, across the thread's files, and
    only rows in runs longer than one are looked at.
    """

    def __init__(self) -> None:
        self.run_ts: int | None = None
        self.run: dict = {}

    def of(self, ts: np.ndarray, senders: pa.Array, bodies: pa.Array) -> np.ndarray:
        n = len(ts)
        out = np.zeros(n, np.int64)
        repeats = np.flatnonzero(ts[1:] == ts[:-1]) + 1
        visit = set(repeats.tolist()) | set((repeats - 1).tolist()) | {0, n - 1}
        for i in sorted(visit):
            continues = ts[i] == ts[i - 1] if i else ts[0] == self.run_ts
            if not continues:
                self.run = {}
            key = (senders[i].as_py(), bodies[i].as_py())
            out[i] = self.run.get(key, 0)
            self.run[key] = out[i] + 1
        self.run_ts = int(ts[-1])
        return out


def participants_of(data: dict, people: People) -> list[str]:
    """Repaired names: legacy files list {name} objects, e2ee files plain names."""
    listed = data.get("participants")
    names = [p.get("name") if isinstance(p, dict) else p for p in listed] if isinstance(listed, list) else []
    return [people.string(n) for n in names if isinstance(n, str)]


class Irregular(Exception):
    """The column-wise path met something unexpected: screen the file message by message."""


def convert(
    data: dict, shape: Shape, ref: str, conversation_id: str, people: People, ordinals: Ordinals
) -> tuple[pa.Table | None, list[Reject]]:
    """The file's messages as a table (file order; an `ordinal` column instead of message_id, which
    is hashed per batch) and its unreadable messages as rejects. `data["messages"]` is a list."""
    msgs = data["messages"]
    title = data.get(shape.title)
    file = _File(
        shape,
        ref,
        conversation_id,
        people.string(title) if isinstance(title, str) else None,
        participants_of(data, people),
        people,
        ordinals,
    )
    try:
        return file.table(msgs, None), []
    except Irregular:
        keep, rejects = _screen(msgs, shape, ref)
        return file.table([msgs[i] for i in keep], keep), rejects


def _screen(msgs: list, shape: Shape, ref: str) -> tuple[list[int], list[Reject]]:
    keep, rejects = [], []
    for i, m in enumerate(msgs):
        try:
            _check(m, shape)
            keep.append(i)
        except (BadMessage, TypeError, AttributeError, KeyError, IndexError) as e:
            reason = str(e) if isinstance(e, BadMessage) else f"unexpected message structure ({type(e).__name__})"
            rejects.append(Reject(f"{ref}#messages[{i}]", reason, _dumps(m)))
    return keep, rejects


class _Literal(str):
    """JSON punctuation on _dumps' stack, told apart from string values."""


def _dumps(value) -> str:
    """json.dumps, also of a value nested deeper than Python's recursion limit: orjson reads up to
    1024 levels, json.dumps recurses once per level and raises RecursionError near 1000."""
    try:
        return json.dumps(value)
    except RecursionError:
        pass
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Literal):
            out.append(item)
        elif isinstance(item, (list, dict)):
            pairs = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            parts: list = []
            for key, v in pairs:
                parts += [_Literal(",")] if parts else []
                parts += [_Literal(json.dumps(str(key)) + ":")] if key is not None else []
                parts.append(v)
            stack.append(_Literal("}" if isinstance(item, dict) else "]"))
            stack.extend(reversed(parts))
            out.append("{" if isinstance(item, dict) else "[")
        else:
            out.append(json.dumps(item))
    return "".join(out)


def _check(m, shape: Shape) -> None:
    """Raise if the message cannot be read; what passes here converts column-wise."""
    if type(m) is not dict:
        raise BadMessage("message is not a JSON object")
    ts = m.get(shape.timestamp)
    if type(ts) is not int or not -(2**63) <= ts < 2**63:
        raise BadMessage(f"{shape.timestamp} is missing or not an integer")
    if not TIMESTAMP_MS_RANGE[0] <= ts <= TIMESTAMP_MS_RANGE[1]:
        raise BadMessage(f"{shape.timestamp} is out of range (not in the years 1 to 9999)")
    for key in (shape.sender, shape.text):
        if m.get(key) is not None and type(m[key]) is not str:
            raise BadMessage(f"{key} is not a string")
    if (size := _text_bytes(m.get(shape.text))) > zips.MAX_MESSAGE_TEXT_BYTES:
        raise BadMessage(zips.text_too_long(size))
    shape.special(m, m.get(shape.text) or None)


def _text_bytes(text: str | None) -> int:
    """UTF-8 length of a text as exported (0 for none); encoded only when it may be over the cap."""
    if not text or len(text) * 4 <= zips.MAX_MESSAGE_TEXT_BYTES:
        return len(text or "")
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass
class _Read:
    """A file's messages read column-wise, before classification."""

    ts: pa.Int64Array
    texts: pa.StringArray  # repaired; null where a message has no text
    senders: pa.StringArray  # as exported
    specials: dict  # row -> Special, or None where it is plain after all
    reactions: list  # repaired, per row
    flags: list  # per row


@dataclass
class _File:
    shape: Shape
    ref: str
    conversation_id: str
    title: str | None
    participants: list[str]
    people: People
    ordinals: Ordinals

    def table(self, msgs: list, index: list[int] | None) -> pa.Table | None:
        """Raises Irregular when a message does not have the expected types (see _check)."""
        n = len(msgs)
        if not n:
            return None
        read = self._read(msgs)
        kinds, raw_over, text_over = self._classify(read)
        body_raw = self._patched(read.texts, raw_over)
        senders, directions = self._senders(read.senders)
        rows = pa.array(range(n) if index is None else index, pa.int64())
        return pa.table(
            {
                "conversation_id": pa.repeat(pa.scalar(self.conversation_id), n),
                "ordinal": self.ordinals.of(read.ts.to_numpy(), senders, body_raw),
                "timestamp_ms": read.ts,
                "sender": senders,
                "direction": directions,
                "participants": repeated_list(pa.array(self.participants, pa.string()), n),
                "body_raw": body_raw,
                "body_text": neutralise_column(self._patched(read.texts, text_over)),
                "content_type": pa.array(kinds, pa.string()),
                "conversation_title": pa.repeat(pa.scalar(self.title, pa.string()), n),
                "reactions": pa.array(read.reactions, _REACTIONS),
                "flags": pa.array(read.flags, _FLAGS),
                "source_ref": pc.binary_join_element_wise(f"{self.ref}#messages[", rows.cast(pa.string()), "]", ""),
            }
        )

    def _read(self, msgs: list) -> _Read:
        shape = self.shape
        try:
            ts = pa.array(list(map(itemgetter(shape.timestamp), msgs)))
            texts = list(map(dict.get, msgs, repeat(shape.text)))
            repaired = self.people.repairer.repair_column(texts)
            senders = pa.array(list(map(dict.get, msgs, repeat(shape.sender))), pa.string())
            if ts.type != pa.int64() or ts.null_count:
                raise Irregular
            low, high = pc.min_max(ts).values()
            if low.as_py() < TIMESTAMP_MS_RANGE[0] or high.as_py() > TIMESTAMP_MS_RANGE[1]:
                raise Irregular
            if max(map(len, filter(None, texts)), default=0) * 4 > zips.MAX_MESSAGE_TEXT_BYTES and any(
                _text_bytes(t) > zips.MAX_MESSAGE_TEXT_BYTES for t in texts if type(t) is str
            ):
                raise Irregular  # an over-long text: screened (and rejected) message by message
            specials = {i: shape.special(msgs[i], texts[i] or None) for i in shape.to_look_at(msgs)}
            reactions, flags = self._reactions(list(map(dict.get, msgs, repeat("reactions"))))
        except (TypeError, AttributeError, KeyError, IndexError, OverflowError, pa.ArrowException) as e:
            raise Irregular from e
        return _Read(ts, repaired, senders, specials, reactions, flags)

    def _classify(self, read: _Read) -> tuple[list[str], dict, dict]:
        """content_type per row, and the rows whose body_raw / body_text is not their text."""
        kinds, flags, specials = ["text"] * len(read.texts), read.flags, read.specials
        raw_over, text_over = {}, {}
        for i, special in specials.items():
            if special is not None:
                kinds[i], raw_over[i], text_over[i], flag = special
                if flag:
                    flags[i] = (flags[i] or []) + flag
        for i in _rows(read.texts.is_null()):
            if specials.get(i) is None:
                kinds[i], flags[i] = "system", (flags[i] or []) + ["no_content"]
        for i in _rows(pc.match_substring_regex(read.texts, SYSTEM_HINT).fill_null(False)):
            if specials.get(i) is None and (kind := text_kind(read.texts[i].as_py())) != "text":
                kinds[i], text_over[i] = kind, None
        return kinds, raw_over, text_over

    def _reactions(self, raw: list) -> tuple[list, list]:
        """Repaired reactions per row, and flags (a list per row, None when there are none)."""
        reactions, flags = [None] * len(raw), [None] * len(raw)
        for i in compress(range(len(raw)), raw):
            reactions[i], malformed = self.people.reactions(raw[i])
            if malformed:
                flags[i] = ["malformed_reaction"]
        return reactions, flags

    def _patched(self, repaired: pa.StringArray, over: dict) -> pa.StringArray:
        """`repaired` with the rows in `over` replaced by their own (repaired) string or null."""
        if not over:
            return repaired
        values, mask = [None] * len(repaired), np.zeros(len(repaired), bool)
        for i, text in over.items():
            mask[i] = True
            values[i] = self.people.repairer.repair(text) if text else None
        return pc.if_else(mask, pa.array(values, pa.string()), repaired)

    def _senders(self, raw: pa.StringArray) -> tuple[pa.Array, pa.Array]:
        """Repaired sender names (empty ones null) and directions, worked out once per name."""
        encoded = raw.dictionary_encode()
        names = [self.people.string(s) or None for s in encoded.dictionary.to_pylist()]
        directions = [self.people.direction(s) if s else "inbound" for s in names]
        return (
            pa.array(names, pa.string()).take(encoded.indices),
            pa.array(directions, pa.string()).take(encoded.indices).fill_null("inbound"),
        )


def _rows(mask: pa.BooleanArray) -> list[int]:
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist()


def with_message_ids(table: pa.Table) -> pa.Table:
    """Replace `ordinal` by message_id = XXH3-128 (hex) of the UTF-8 of
    "conversation_id␟timestamp_ms␟sender␟body_raw␟ordinal" (␟ = U+001F, null as empty): the same
    message gets the same id in every export of its thread."""
    keys = pc.binary_join_element_wise(
        table["conversation_id"],
        table["timestamp_ms"].cast(pa.string()),
        table["sender"].fill_null(""),
        table["body_raw"].fill_null(""),
        table["ordinal"].cast(pa.string()),
        "\x1f",
    ).cast(pa.binary())
    ids = pa.array(list(map(xxhash.xxh3_128_hexdigest, keys.to_pylist())), pa.string())
    return table.drop_columns(["ordinal"]).append_column("message_id", ids)
