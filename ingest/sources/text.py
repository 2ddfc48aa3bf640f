"""Text cleanup shared by the parsers."""

from __future__ import annotations

import re

import ftfy
import pyarrow as pa
import pyarrow.compute as pc

# Bidi and zero-width marks WhatsApp and others sprinkle before names and markers.
BIDI_MARKS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_BIDI_RE = re.compile(f"[{BIDI_MARKS}]")

# ftfy restricted to encoding repairs, so correct text (curly quotes, full-width letters, CRLF,
# "&amp;", ligatures) survives unchanged.
_ENCODING_ONLY = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)
# Meta's mojibake consists of code points U+0080..U+00FF; a string without any has none.
_LATIN1_HIGH = re.compile("[\x80-\xff]")


# What body_text may not carry (every dataset, report and the model read it): invisible characters
# that make text display differently from what it is (bidi embeddings, overrides and isolates as in
# "Trojan Source", direction marks, zero-width space, word joiner, invisible operators, BOM,
# interlinear annotations) and control characters other than tab, newline and carriage return.
# ZWJ (U+200D) and ZWNJ (U+200C) stay: they join emoji sequences (a family emoji is three emoji and
# two ZWJ) and are spelling in Persian and Indic scripts; emoji tag characters (flags) stay too.
# body_raw keeps the text as exported (message ids hash it): the audit copy, never a dataset's text.
_HIDDEN_RANGES = (
    (0x00, 0x08),
    (0x0B, 0x0C),
    (0x0E, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x2069),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
)
_HIDDEN_RE = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _HIDDEN_RANGES) + "]")
_HIDDEN_RE2 = "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in _HIDDEN_RANGES) + "]"  # Arrow's RE2 syntax


def strip_bidi(text: str) -> str:
    return _BIDI_RE.sub("", text)


def neutralise(text: str | None) -> str | None:
    """Text without the invisible and control characters listed above."""
    return _HIDDEN_RE.sub("", text) if text else text


def neutralise_column(texts: pa.Array) -> pa.Array:
    """neutralise() over a string column, in Arrow kernels; untouched (no copy) when nothing matches."""
    if not len(texts) or texts.null_count == len(texts):
        return texts
    hit = pc.match_substring_regex(texts, _HIDDEN_RE2)
    if not pc.any(hit).as_py():
        return texts
    return pc.replace_substring_regex(texts, _HIDDEN_RE2, "")


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
