"""Text cleanup shared by the parsers."""
from __future__ import annotations

import re

import ftfy

# Bidi and zero-width marks WhatsApp and others sprinkle before names and markers.
BIDI_MARKS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_BIDI_RE = re.compile(f"[{BIDI_MARKS}]")


def strip_bidi(text: str) -> str:
    return _BIDI_RE.sub("", text)


def repair_meta_mojibake(text: str) -> str:
    """Undo Meta's export encoding: UTF-8 bytes written as latin-1 code points.

    The latin-1 round trip is exact when the whole string was encoded that way; strings that are
    not (already-correct text, partly mangled text) fall back to ftfy, which never drops characters.
    """
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return ftfy.fix_text(text, normalization=None)
