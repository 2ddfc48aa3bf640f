"""Text cleanup shared by the parsers."""
from __future__ import annotations

import re

import ftfy

# Bidi and zero-width marks WhatsApp and others sprinkle before names and markers.
BIDI_MARKS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_BIDI_RE = re.compile(f"[{BIDI_MARKS}]")

# ftfy restricted to encoding repairs, so correct text (curly quotes, full-width letters, CRLF,
# "&amp;", ligatures) survives unchanged.
_ENCODING_ONLY = ftfy.TextFixerConfig(
    unescape_html=False, remove_terminal_escapes=False, fix_latin_ligatures=False,
    fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False,
    remove_control_chars=False, normalization=None, explain=False)
# Meta's mojibake consists of code points U+0080..U+00FF; a string without any has none.
_LATIN1_HIGH = re.compile("[\x80-\xff]")


def strip_bidi(text: str) -> str:
    return _BIDI_RE.sub("", text)


def repair_meta_mojibake(text: str) -> str:
    """Undo Meta's export encoding: UTF-8 bytes written as latin-1 code points ("é" -> "Ã©").

    The latin-1 round trip restores such a string exactly. Strings it does not fit (plain UTF-8 as
    in e2ee exports, or partly mangled text) go to encoding-only ftfy, which never drops characters.
    """
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:  # a code point beyond latin-1: plain Unicode, maybe partly mangled
        if not _LATIN1_HIGH.search(text):
            return text
    except UnicodeDecodeError:
        pass
    return ftfy.fix_text(text, _ENCODING_ONLY)
