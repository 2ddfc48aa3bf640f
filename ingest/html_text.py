"""HTML mail bodies to plain text: paragraphs and line breaks kept; head, style, script and hidden
elements (newsletter preheaders) dropped.

Regex passes rather than a DOM: mail HTML is often broken, and newsletters are large, so each step
is one C-speed substitution over the whole document.
"""
from __future__ import annotations

import html
import re

_INVISIBLE = re.compile(
    r"<(head|style|script|title|template|noscript|xml)\b[^>]*>.*?</\1\s*>"
    r"|<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?\]\]>|<![^>]*>|<\?[^>]*>",
    re.S | re.I)
# Start tags of elements a mail client does not show (preheaders, Outlook-only blocks).
_HIDDEN_START = re.compile(
    r"<([a-z][a-z0-9]*)\b(?=[^>]*?(?:display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all"
    r"|\shidden(?=[\s>/=])))[^>]*>",
    re.I)
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_SPACE = re.compile(r"[ \t\r\n\f]+")
_BREAK = re.compile(
    r"<(?:br|/?(?:p|div|tr|table|h[1-6]|ul|ol|li|dl|dt|dd|blockquote|pre|section|article|header"
    r"|footer|center|hr|address|form|fieldset|figure|figcaption|caption|main|nav|aside|tbody|thead|tfoot))"
    r"\b[^>]*>",
    re.I)
_CELL = re.compile(r"</t[dh]\s*>", re.I)
_TAG = re.compile(r"</?[a-z!?][^>]*>", re.I)
_LINE_EDGES = re.compile(r"[ \t\u00a0]*\n[ \t\u00a0]*")
_BLANK_RUNS = re.compile(r"\n{3,}")


def html_to_text(document: str) -> str:
    text = _INVISIBLE.sub("", document)
    if _HIDDEN_START.search(text):
        text = _drop_hidden(text)
    text = _SPACE.sub(" ", text)
    text = _BREAK.sub("\n", text)
    text = _CELL.sub(" ", text)
    text = _TAG.sub("", text)
    text = html.unescape(text).replace("\u00a0", " ").replace("\u200c", "")
    text = _LINE_EDGES.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _drop_hidden(text: str) -> str:
    """Remove hidden elements with their content, matching nested tags of the same name."""
    out, pos = [], 0
    for m in _HIDDEN_START.finditer(text):
        if m.start() < pos:  # inside an element already dropped
            continue
        out.append(text[pos:m.start()])
        tag = m[1].lower()
        pos = m.end() if tag in _VOID or m[0].endswith("/>") else _element_end(text, tag, m.end())
    out.append(text[pos:])
    return "".join(out)


def _element_end(text: str, tag: str, start: int) -> int:
    """Index just past the end tag closing an element opened before `start` (or the text's end)."""
    depth = 1
    for m in re.compile(rf"<(/?){tag}\b[^>]*>", re.I).finditer(text, start):
        depth += -1 if m[1] else 1
        if depth == 0:
            return m.end()
    return len(text)
