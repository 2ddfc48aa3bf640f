"""Mail as bytes → text: header blocks, encoded words, MIME parts, transfer encodings and charsets."""

from __future__ import annotations

import binascii
import codecs
import functools
import re

from ingest.sources.gmail.html_text import html_to_text

MAX_MIME_DEPTH = 20
_PART_HEADERS = frozenset(b"content-type content-transfer-encoding content-disposition".split())
_CALENDAR_TYPES = (b"text/calendar", b"application/ics")
_LOGICAL_LINE = re.compile(rb"\n(?![ \t])")  # a header line with its folded continuation lines
LOOKS_LIKE_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")
_PARAM = re.compile(rb';\s*([A-Za-z0-9_*.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_MESSAGE_ID = re.compile(rb"<([^<>\s]+)>")
_MULTIBYTE_CODECS = (
    "utf_",
    "utf-",
    "gb",
    "big5",
    "shift_jis",
    "euc_",
    "iso2022",
    "cp932",
    "cp936",
    "cp949",
    "cp950",
    "hz",
    "johab",
)
_SEVEN_BIT_CODECS = ("iso2022", "utf-7", "hz")  # ASCII bytes that are not ASCII text
_CHARSET_ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso8859_8",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "x-user-defined": "",
}
_NOT_FOR_MAIL = frozenset({"unicode_escape", "raw_unicode_escape", "undefined", "idna", "punycode"})


def _cp1252_for_bad_utf8(err: UnicodeDecodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Windows-1252: mixed or mislabelled mail reads right."""
    return err.object[err.start : err.end].decode("cp1252", "replace"), err.end


codecs.register_error("ai_me_cp1252", _cp1252_for_bad_utf8)


def split_head(data: bytes) -> tuple[bytes, bytes, bool]:
    """Headers and body; the flag is False when the blank line ending the headers never came."""
    if data.startswith(b"\n"):
        return b"", data[1:], True
    end = data.find(b"\n\n")
    if end < 0:
        return data, b"", False
    return data[:end], data[end + 2 :], True


def header_fields(head: bytes, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """The first value of each wanted header (lowercase name → raw value, still folded)."""
    found: dict[bytes, bytes] = {}
    for line in _LOGICAL_LINE.split(head):
        name, colon, value = line.partition(b":")
        if colon:
            name = name.rstrip().lower()
            if name in wanted and name not in found:
                found[name] = value
    return found


def header_text(value: bytes | None) -> str:
    """A header value unfolded and decoded: raw UTF-8 (or Windows-1252) and RFC 2047 words."""
    if not value:
        return ""
    text = decoded(value.replace(b"\n", b"").strip())
    return _decode_words(text) if "=?" in text else text


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words of one charset are joined before decoding,
    since encoders split multi-byte characters across them."""
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = None
    pos = 0
    for m in _ENCODED_WORD.finditer(text):
        gap = text[pos : m.start()]
        charset = m[1].split("*", 1)[0].lower()
        if pending and (gap.strip() or charset != pending_charset):
            out.append(_decode_charset(b"".join(pending), pending_charset)[0])
            pending = []
        if gap.strip() or not out and not pending:
            out.append(gap)
        pending_charset = charset
        pending.append(_word_bytes(m[2], m[3]))
        pos = m.end()
    if pending:
        out.append(_decode_charset(b"".join(pending), pending_charset)[0])
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(encoding: str, payload: str) -> bytes:
    data = payload.encode("ascii", "replace")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return _base64(data)[0]


def decoded(value: bytes) -> str:
    """Header bytes as text: UTF-8, with stray non-UTF-8 bytes read as Windows-1252."""
    return value.decode("utf-8", "ai_me_cp1252")


def first_id(value: bytes | None) -> str | None:
    """The first <id> of a Message-ID, In-Reply-To or References value."""
    m = _MESSAGE_ID.search(value) if value else None
    return decoded(m[1]) if m else None


# Header values repeat across a mailbox (correspondents, labels, thread subjects, the heads of MIME
# parts), so what is decoded from them is cached; callers never change what these return.
CACHED = functools.lru_cache(maxsize=4096)


class Mime:
    """Walks one message's MIME tree: returns its text, notes attachments and invites in `flags`."""

    def __init__(self, flags: list[str]):
        self.flags = flags
        self.calendar = False
        self.unterminated = False

    def text_of(self, headers: dict[bytes, bytes], body: bytes) -> str | None:
        """The message text: the plain text version, else its HTML converted (flagged html_body)."""
        text, kind = self._entity(headers, body, 0, b"text/plain")
        if kind == "html":
            self._flag("html_body")
        return text

    def _entity(
        self, headers: dict[bytes, bytes], body: bytes, depth: int, default_type: bytes
    ) -> tuple[str | None, str | None]:
        """(text, "plain" | "html" | None) of one entity."""
        ctype, params = _content_type(headers.get(b"content-type"), default_type)
        if ctype in _CALENDAR_TYPES:
            self.calendar = True
        if headers.get(b"content-disposition", b"").lstrip().lower().startswith(b"attachment"):
            self._note(ctype)
            return None, None
        if ctype.startswith(b"multipart/"):
            boundary = params.get(b"boundary")
            if boundary and depth < MAX_MIME_DEPTH:
                return self._multipart(ctype, boundary, body, depth)
            self._flag("mime_malformed")
            if boundary:
                return None, None
            ctype = b"text/plain"  # no boundary: readers show the body as it is
        if ctype == b"text/plain":
            text = self._decode(headers, params, body)
            if params.get(b"format", b"").lower() == b"flowed":
                text = _unflow(text, params.get(b"delsp", b"").lower() == b"yes")
            return text, "plain"
        if ctype == b"text/html":
            return html_to_text(self._decode(headers, params, body)), "html"
        if ctype not in _CALENDAR_TYPES:
            self._note(ctype)
        return None, None

    def _multipart(self, ctype: bytes, boundary: bytes, body: bytes, depth: int) -> tuple[str | None, str | None]:
        parts, closed = _split_multipart(body, boundary)
        if not parts and not closed:
            self._flag("mime_malformed")
            return None, None
        self.unterminated = self.unterminated or not closed
        children = [_split_part(p) for p in parts]
        if ctype == b"multipart/alternative":
            return self._alternative(children, depth)
        if ctype == b"multipart/related":
            children = children[:1]  # the root; the rest are its inline images and styles
        child_default = b"message/rfc822" if ctype == b"multipart/digest" else b"text/plain"
        found = [r for r in (self._entity(h, b, depth + 1, child_default) for h, b in children) if r[0] is not None]
        if not found:
            return None, None
        kind = "plain" if any(k == "plain" for _, k in found) else "html"
        return "\n\n".join(t for t, _ in found if t), kind

    def _alternative(self, children: list[tuple[dict, bytes]], depth: int) -> tuple[str | None, str | None]:
        """The plain text version unless it is empty (as in some newsletters), else the HTML one.
        HTML parts are only converted when needed: they are the costly ones."""
        html_parts, found = [], []
        for headers, body in children:
            if _content_type(headers.get(b"content-type"), b"text/plain")[0] == b"text/html":
                html_parts.append((headers, body))
                continue
            text, kind = self._entity(headers, body, depth + 1, b"text/plain")
            if text is not None:
                if kind == "plain" and text.strip():
                    return text, kind
                found.append((text, kind))
        for headers, body in html_parts:
            text, kind = self._entity(headers, body, depth + 1, b"text/plain")
            if text is not None:
                return text, kind
        return found[0] if found else (None, None)

    def _decode(self, headers: dict[bytes, bytes], params: dict[bytes, bytes], body: bytes) -> str:
        data, damaged = _decode_transfer(body, headers.get(b"content-transfer-encoding", b"").strip().lower())
        if damaged:
            self._flag("transfer_encoding_damaged")
        charset = params.get(b"charset")
        text, fallback = _decode_charset(data, charset.decode("ascii", "replace").strip().lower() if charset else None)
        if fallback:
            self._flag("charset_fallback")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

    def _note(self, ctype: bytes) -> None:
        self._flag("attachment:" + ctype[:80].decode("ascii", "replace"))

    def _flag(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)


def _content_type(value: bytes | None, default: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """(type, params)."""
    return _parse_content_type(value) if value else (default, {})


@CACHED
def _parse_content_type(value: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    main, _, rest = value.partition(b";")
    ctype = main.strip().lower()
    if b"/" not in ctype:  # RFC 2045: an invalid type is read as text/plain
        ctype = b"text/plain"
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(b";" + rest)} if rest else {}
    return ctype, params


def _split_multipart(body: bytes, boundary: bytes) -> tuple[list[bytes], bool]:
    """The parts between "--boundary" lines, and whether the closing "--boundary--" came."""
    text = b"\n" + body
    delimiter = b"\n--" + boundary
    starts: list[tuple[int, int]] = []  # (delimiter position, content start)
    pos = text.find(delimiter)
    closed = False
    while pos >= 0:
        after = pos + len(delimiter)
        line_end = text.find(b"\n", after)
        rest = text[after : line_end if line_end >= 0 else len(text)]
        if rest.startswith(b"--"):
            starts.append((pos, -1))
            closed = True
            break
        if not rest.strip():  # otherwise a longer boundary that merely starts with ours
            starts.append((pos, line_end + 1 if line_end >= 0 else len(text)))
        pos = text.find(delimiter, after)
    if not closed:
        starts.append((len(text), -1))
    return [text[begin : starts[i + 1][0]] for i, (_, begin) in enumerate(starts[:-1])], closed


def _split_part(part: bytes) -> tuple[dict[bytes, bytes], bytes]:
    """A part's headers and its body."""
    if part.startswith(b"\n") or not LOOKS_LIKE_HEADER.match(part):
        return {}, part[1:] if part.startswith(b"\n") else part
    head, body, _ = split_head(part)
    return _part_headers(head), body


@CACHED
def _part_headers(head: bytes) -> dict[bytes, bytes]:
    return header_fields(head, _PART_HEADERS)


def _decode_transfer(body: bytes, encoding: bytes) -> tuple[bytes, bool]:
    """Undo the Content-Transfer-Encoding; the flag says base64 had to be repaired (cut or dirty)."""
    if encoding == b"base64":
        return _base64(body)
    if encoding == b"quoted-printable":
        return binascii.a2b_qp(body), False
    return body, False


def _base64(data: bytes) -> tuple[bytes, bool]:
    try:
        return binascii.a2b_base64(data), False
    except binascii.Error:
        clean = _NOT_BASE64.sub(b"", data)
        clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean + b"=" * (-len(clean) % 4)
        return binascii.a2b_base64(clean), True


_codec_cache: dict[str | None, str | None] = {}


def _codec(charset: str | None) -> str | None:
    """Python codec for a declared charset; None for UTF-8, a missing or an unusable charset."""
    if charset in _codec_cache:
        return _codec_cache[charset]
    name = _CHARSET_ALIASES.get(charset, charset) if charset else None
    try:
        info = codecs.lookup(name) if name else None
        codec = info.name if info and info._is_text_encoding and info.name not in _NOT_FOR_MAIL else None
    except LookupError:
        codec = None
    if codec == "utf-8":
        codec = None
    if len(_codec_cache) < 1000:
        _codec_cache[charset] = codec
    return codec


def _decode_charset(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode text bytes; the flag says the declared charset was missing-and-wrong, unknown or wrong.

    Bytes that are valid UTF-8 are read as UTF-8 even under a declared single-byte charset (an
    accident of that kind is common, the reverse is not); bytes that fit no codec are read as
    Windows-1252, so nothing raises and nothing is dropped.
    """
    codec = _codec(charset)
    if data.isascii() and not (codec and codec.startswith(_SEVEN_BIT_CODECS)):
        return data.decode("ascii"), False
    if codec is not None and codec.startswith(_MULTIBYTE_CODECS):
        try:
            return data.decode(codec), False
        except UnicodeDecodeError:
            pass
    elif codec is not None:
        try:
            return data.decode("utf-8"), True
        except UnicodeDecodeError:
            pass
        try:
            return data.decode(codec), False
        except UnicodeDecodeError:  # bytes the code page leaves undefined
            pass
    try:
        return data.decode("utf-8"), charset not in (None, "utf-8", "utf8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "ai_me_cp1252"), True


def _unflow(text: str, delsp: bool) -> str:
    """Join RFC 3676 format=flowed soft line breaks: a line ending in a space continues on the next
    line of the same quote depth, whose quote marks and space-stuffing are dropped (section 4.5)."""
    out: list[str] = []
    pending = ""  # the paragraph so far, while its last line is flowed
    pending_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth + 1 :] if line.startswith(" ", depth) else line[depth:]  # unstuffed
        if pending and depth != pending_depth:
            out.append(pending)  # a change of quote depth ends the paragraph
            pending = ""
        if pending:
            line = pending + content
        elif not depth:
            line = content  # a quoted line keeps its quote marks and the space after them
        if content.endswith(" ") and content.rstrip() != "--":
            pending, pending_depth = (line[:-1] if delsp else line), depth
        else:
            out.append(line)
            pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out)
