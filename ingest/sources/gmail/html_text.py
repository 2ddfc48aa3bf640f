"""HTML mail bodies to plain text: paragraphs and line breaks kept; head, style, script and hidden
elements (newsletter preheaders) dropped, and with every tag its attributes (event handlers,
tracking-pixel images, links), so no active content reaches the text.

Regex passes rather than a DOM: mail HTML is often broken, and newsletters are large, so each step
is one C-speed substitution over the whole document. Every pattern runs in linear time on any
input (mail is untrusted): a tag pattern can only fail late where no ">" follows, so the text after
the last ">" is cut before the tag passes, and searches for an end that never comes are made once.
"""

from __future__ import annotations

import html
import re

# Elements whose content is never shown. Raw-text ones (script, style, title) run to the end of the
# document when never closed, as in a browser; for the others a missing end tag drops the tag only.
_RAW_TEXT = frozenset({"script", "style", "title"})
_INVISIBLE_START = re.compile(
    r"<(head|style|script|title|template|noscript|xml)\b[^>]*>|<!--|<!\[CDATA\[|<![^>]*>|<\?[^>]*>", re.I
)
_ENDS = {"<!--": re.compile(r"-->"), "<![cdata[": re.compile(r"\]\]>")}
# Start tags of elements a mail client does not show (preheaders, Outlook-only blocks). The lookahead
# stays within the tag ([^<>]), so a tag without "display:none" costs only its own length.
_HIDDEN_START = re.compile(
    r"<([a-z][a-z0-9]*)\b(?=[^<>]*?(?:display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all"
    r"|\shidden(?=[\s>/=])))[^>]*>",
    re.I,
)
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_SPACE = re.compile(r"[ \t\r\n\f]+")
_BREAK = re.compile(
    r"<(?:br|/?(?:p|div|tr|table|h[1-6]|ul|ol|li|dl|dt|dd|blockquote|pre|section|article|header"
    r"|footer|center|hr|address|form|fieldset|figure|figcaption|caption|main|nav|aside|tbody|thead|tfoot))"
    r"\b[^>]*>",
    re.I,
)
_CELL = re.compile(r"</t[dh]\s*>", re.I)
_TAG = re.compile(r"</?[a-z!?][^>]*>", re.I)
_TAG_OPEN = re.compile(r"</?[a-z!?]", re.I)
_LINE_EDGES = re.compile(r"[ \t\u00a0]*\n[ \t\u00a0]*")
_BLANK_RUNS = re.compile(r"\n{3,}")


def html_to_text(document: str) -> str:
    text = _drop_invisible(_cut_open_tail(document))
    if _HIDDEN_START.search(text):
        text = _drop_hidden(text)
    text = _SPACE.sub(" ", text)
    text = _BREAK.sub("\n", text)
    text = _CELL.sub(" ", text)
    text = _TAG.sub("", text)
    text = html.unescape(text).replace("\u00a0", " ").replace("\u200c", "")
    text = _LINE_EDGES.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _cut_open_tail(document: str) -> str:
    """Drop a tag cut off by the end of the document (a browser drops it too). After this, every
    "<" that starts a tag has a ">" after it, so no tag pattern scans to the end and fails."""
    last = document.rfind(">")
    m = _TAG_OPEN.search(document, last + 1)
    return document[: m.start()] if m else document


def _drop_invisible(text: str) -> str:
    """Remove head, style, script, comments, CDATA and the like, with their content."""
    out, pos = [], 0
    unclosed: set[str] = set()  # end tags known to be missing from here on: searched for once
    while m := _INVISIBLE_START.search(text, pos):
        out.append(text[pos : m.start()])
        name = m[1].lower() if m[1] else m[0].lower()
        end_re = _ENDS.get(name) or (re.compile(rf"</{name}\s*>", re.I) if m[1] else None)
        end = None if end_re is None or name in unclosed else end_re.search(text, m.end())
        if end is not None:
            pos = end.end()
        elif end_re is not None and (name in _RAW_TEXT or name in _ENDS):
            pos = len(text)  # never closed: the rest of the document is its content
        else:
            if end_re is not None:
                unclosed.add(name)
            pos = m.end()  # a declaration, or an unclosed head or template: drop the tag only
    if not pos:
        return text
    out.append(text[pos:])
    return "".join(out)


def _drop_hidden(text: str) -> str:
    """Remove hidden elements with their content, matching nested tags of the same name."""
    out, pos = [], 0
    for m in _HIDDEN_START.finditer(text):
        if m.start() < pos:  # inside an element already dropped
            continue
        out.append(text[pos : m.start()])
        tag = m[1].lower()
        pos = m.end() if tag in _VOID or m[0].endswith("/>") else _element_end(text, tag, m.end())
        if pos == len(text):
            break
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
