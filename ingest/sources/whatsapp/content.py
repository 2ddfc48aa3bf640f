"""What a WhatsApp message is: text, a media marker, a deletion, a poll, a system line; edits.

Exports write these as fixed strings in the phone's language (English and German here), iOS
with a LEFT-TO-RIGHT MARK in front. `CANDIDATE_RE` (RE2, run over a whole block at once) picks
the few messages that may carry one; `classify` decides those one by one, and treats any text
the pattern does not match as plain text, so both paths agree by construction.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ingest.sources.text import BIDI_MARKS, strip_bidi

# Any message that might hold a marker; the same for RE2 and Python's re (no \s: RE2's is ASCII only).
CANDIDATE_RE = "(?i)" + "|".join(
    [
        f"^[{BIDI_MARKS}]",  # iOS marks its markers
        "omitted",
        "ausgeschlossen",
        "weggelassen",
        "ausgelassen",
        "<attached: ",
        "file attached",
        "angehängt",
        "^[ \t]*location: ",
        "^[ \t]*standort: ",
        "live location",
        "deleted",
        "gelöscht",
        r"edited\.?>",
        r"bearbeitet\.?>",
        "^[ \t]*missed ",
        "^[ \t]*verpasste",
        "view once",
        "einmal ansehen",
        "^[ \t]*poll:",
        "^[ \t]*umfrage:",
    ]
)
_CANDIDATE = re.compile(CANDIDATE_RE)

_EDITED_RE = re.compile(r"<(?:This message was edited|Diese Nachricht wurde bearbeitet)\.?>\s*")
_DELETED_RE = re.compile(
    r"(?:This message was deleted|You deleted this message|Diese Nachricht wurde gelöscht"
    r"|Du hast diese Nachricht gelöscht)\.?",
    re.IGNORECASE,
)
_OMITTED = {
    "image": "photo",
    "photo": "photo",
    "bild": "photo",
    "video": "video",
    "audio": "audio",
    "voice message": "audio",
    "sticker": "sticker",
    "gif": "gif",
    "contact card": "contact",
    "kontaktkarte": "contact",
    "media": "file",
    "medien": "file",
}
_OMITTED_RE = re.compile(
    r"(?P<kind>image|photo|video|audio|voice message|sticker|gif|contact card|media|bild"
    r"|kontaktkarte|medien) (?:omitted|weggelassen|ausgelassen)"
    r"|<(?P<generic>Media omitted|Medien ausgeschlossen)>",
    re.IGNORECASE,
)
# iOS puts the document's name and size before the marker: "Plan.pdf • 3 pages document omitted"
_DOCUMENT_RE = re.compile(r"(?:.+ )?(?:document|dokument) (?:omitted|weggelassen)", re.IGNORECASE)
_ATTACHED_RE = re.compile(
    r"^<attached: (?P<name>[^>]+)>$|^(?P<android>\S.*) \((?:file attached|Datei angehängt)\)$", re.IGNORECASE
)
_LOCATION_RE = re.compile(r"^(?:location|standort): https?://\S+$|^live location shared$", re.IGNORECASE)
_CALL_RE = re.compile(r"^(?:missed (?:group )?(?:voice|video) call|verpasster (?:sprach|video)anruf)\b", re.IGNORECASE)
_VIEW_ONCE_RE = re.compile(r"view once|einmal ansehen", re.IGNORECASE)
_POLL_RE = re.compile(r"^(?:POLL|UMFRAGE):$", re.IGNORECASE)

# File-name words (iOS "00000012-PHOTO-2023-...jpg", Android "IMG-20230312-WA0001.jpg") and
# extensions that tell an attachment's kind.
_NAME_KINDS = {
    "photo": "photo",
    "img": "photo",
    "video": "video",
    "vid": "video",
    "audio": "audio",
    "ptt": "audio",
    "aud": "audio",
    "sticker": "sticker",
    "stk": "sticker",
    "gif": "gif",
    "contact": "contact",
    "doc": "file",
}
_EXT_KINDS = {
    ".jpg": "photo",
    ".jpeg": "photo",
    ".png": "photo",
    ".heic": "photo",
    ".mp4": "video",
    ".mov": "video",
    ".3gp": "video",
    ".opus": "audio",
    ".ogg": "audio",
    ".m4a": "audio",
    ".mp3": "audio",
    ".aac": "audio",
    ".webp": "sticker",
    ".gif": "gif",
    ".vcf": "contact",
}


def classify(text: str) -> tuple[str, str | None, bool]:
    """(content_type, body_text, is_edited) of a message that is not a system line."""
    return classify_candidate(text) if _CANDIDATE.search(text) else ("text", text, False)


def classify_candidate(text: str) -> tuple[str, str | None, bool]:
    """classify() for a text already known to match CANDIDATE_RE."""
    body, edited = text, False
    cut = text.rfind("<")
    if cut >= 0 and _EDITED_RE.fullmatch(text, cut):  # the marker ends the message
        body, edited = text[:cut].rstrip(" " + BIDI_MARKS), True
    first, _, rest = strip_bidi(body).partition("\n")
    first, caption = first.strip(), rest.strip() or None
    if _DELETED_RE.fullmatch(first):
        return "deleted", caption, edited
    if _VIEW_ONCE_RE.search(first):
        return "view_once", caption, edited
    if kind := _media_kind(first):
        return kind, caption, edited
    if _POLL_RE.match(first):
        return "poll", caption, edited
    return "text", body, edited


def _media_kind(line: str) -> str | None:
    if m := _OMITTED_RE.fullmatch(line):
        return "file" if m["generic"] else _OMITTED[m["kind"].lower()]
    if _DOCUMENT_RE.fullmatch(line):
        return "file"
    if m := _ATTACHED_RE.match(line):
        return _attachment_kind(m["name"] or m["android"])
    if _LOCATION_RE.match(line):
        return "location"
    return None


def _attachment_kind(name: str) -> str:
    path = PurePosixPath(name.strip())
    for word in re.split(r"[-_.]", path.stem.lower()):
        if word in _NAME_KINDS:
            return _NAME_KINDS[word]
    return _EXT_KINDS.get(path.suffix.lower(), "file")


def is_ios_system_line(text: str) -> bool:
    """iOS writes system lines (group changes, encryption notice, missed calls) as a message from
    the chat or the caller, starting with a LEFT-TO-RIGHT MARK like its media markers: a marked
    line is a system line unless it is a known marker."""
    if not text.startswith("\u200e"):
        return False
    return bool(_CALL_RE.match(strip_bidi(text).strip())) or classify(text)[0] == "text"
