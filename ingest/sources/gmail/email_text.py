"""What the sender of an email actually wrote: quoted history, forwarded messages and signatures removed.

Works on the decoded plain text of one body (HTML already converted). In order:
1. cut at the first marker that starts someone else's text: a reply attribution, also wrapped over
   up to three lines: one that starts with its word for "on" ("On ... wrote:", "Am ... schrieb ...:",
   "Le ... a écrit :"), or one found by its end, its verb last ("02.01.2023 10:15, Алиса пишет:",
   "... 님이 작성:", "... 写道：") or the sender's address last ("26.06.2014, 14:41, "Alice" <a@x>:",
   Gmail's Russian and Japanese forms); Outlook's "-----Original Message-----" or header block
   ("From:" and "Sent:" in either order, in the languages of Outlook's largest markets), a
   forwarded message header, Apple's "Begin forwarded message:";
   an attribution followed by `>` quotes and then new text is bottom posting or an interleaved
   reply: there only the attribution goes, and step 2 drops the quotes;
2. drop `>` quoted lines and the "... wrote:" line that introduces them;
3. cut at the "-- " signature delimiter and drop trailing mobile signatures ("Sent from my iPhone").

Markers are found with one regex anchored on "\\n" and one on line-final colons, so a body costs a
few C-speed scans, not a Python loop per line. Every attribution needs a date or time, so prose
such as "On Monday Sue wrote:" is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FORWARD = (
    r"-{3,}[ \t]*(?:[Ff]orwarded [Mm]essage|Weitergeleitete Nachricht|Message transféré"
    r"|Message transmis|Mensaje reenviado|Messaggio inoltrato|Mensagem encaminhada|Mensagem reencaminhada"
    r"|Doorgestuurd bericht|Пересылаемое сообщение|Пересланное сообщение)[ \t]*-{3,}"
    r"|(?:Begin forwarded message|Anfang der weitergeleiteten (?:Nachricht|E-Mail)"
    r"|Début du message (?:réexpédié|transféré)|Inicio del mensaje reenviado|Inizio messaggio inoltrato"
    r"|Início da mensagem (?:reencaminhada|encaminhada)|Begin doorgestuurd bericht"
    r"|Начало переадресованного сообщения)[ \t\u00a0]*:"
)
_ORIGINAL = (
    r"-{2,}[ \t]*(?:[Oo]riginal [Mm]essage|Ursprüngliche Nachricht|Originalnachricht|Message d'origine"
    r"|Mensaje original|Messaggio originale|Mensagem original|Oorspronkelijk bericht"
    r"|Originalmeddelande|Wiadomość oryginalna|Исходное сообщение|原始邮件|原始郵件|원본 메시지)[ \t]*-{2,}"
)
# Outlook's header block labels (also the desktop client's, Outlook.com's and Hotmail's); CJK ones
# may end in a full-width colon.
_FROM_LABEL = (
    r"\*?(?:From|Von|De|Da|Van|От|Від|Från|Fra|Od|Kimden|Lähettäjä|差出人|发件人|寄件者|보낸 사람)"
    r"\*?[ \t\u00a0]*[:：]"
)
_SENT_LABEL = (
    r"\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Date d'envoi|Enviado|Enviada|Fecha|Inviato|Data"
    r"|Verzonden|Отправлено|Надіслано|Дата|Skickat|Sendt|Wysłano|Wysłane|Odesláno|Gönderildi|Tarih"
    r"|Lähetetty|送信日時|日付|发送时间|日期|寄件日期|보낸 날짜|날짜)\*?[ \t\u00a0]*[:：]"
)
_ATTRIBUTION_START = r"(?:On|Am|Le|El|Il|Em|Op|Den)\s"

_MARKER = re.compile(
    rf"\n[ \t]*(?:(?P<forward>{_FORWARD})|(?P<original>{_ORIGINAL})|(?P<rule>_{{10,}}[ \t]*(?=\n))"
    rf"|(?P<header>{_FROM_LABEL})|(?P<attribution>{_ATTRIBUTION_START}))"
)  # no re.I: keeps the fast "\n" scan
# "From:" and "Sent:"/"Date:" within four lines of each other, in either order.
_HEADER_BLOCK = re.compile(
    rf"[ \t]*(?:{_FROM_LABEL}[^\n]*\n(?:[^\n]*\n){{0,3}}?[ \t]*{_SENT_LABEL}"
    rf"|{_SENT_LABEL}[^\n]*\n(?:[^\n]*\n){{0,3}}?[ \t]*{_FROM_LABEL})",
    re.I,
)
# The "Date:" line a block starts with in Hotmail (above its "From:"): only with a time, as prose
# such as "Date: Saturday" has none.
_TIMED_SENT_LINE = re.compile(rf"[ \t]*{_SENT_LABEL}[^\n]*\d[:.]\d\d", re.I)
_FORWARDED_SUBJECT = re.compile(
    r"\n[ \t]*\*?(?:Subject|Betreff|Objet|Asunto|Oggetto|Assunto|Onderwerp|Тема|Temat|Ämne|Emne|Konu"
    r"|Předmět|Aihe|件名|主题|主旨|제목)\*?[ \t\u00a0]*[:：][ \t]*"
    r"(?:FWD?|WG|TR|RV|I|Doorst|ENC|Fw|VB|VS|VL|PD|İLT|转发|轉寄|전달)\b",
    re.I,
)

# A whole attribution that starts with its word for "on" (one line, or up to three joined by
# spaces), verified after a cheap start match. Each needs a digit (its date).
_ATTRIBUTION = re.compile(
    r"(?=.*\d)"
    r"(?:On\s.*\bwrote|Am\s.*\b(?:schrieb\b.*|geschrieben)|Le\s.*\ba\s+écrit|El\s.*\bescribió"
    r"|Il\s.*\bha\s+scritto|Em\s.*\bescreveu|Op\s.*\b(?:schreef\b.*|geschreven)|Den\s.*\bskrev\b.*)"
    r"\s*[:：](?:\s*|\s{2,}.*)",
    re.I,
)  # Yahoo's Android client runs the quote on after "wrote:   "
# "wrote" in the languages of the largest mail markets, as clients put it last before the colon.
_WROTE_WORDS = (
    "wrote",
    "schrieb",
    "geschrieben",
    "a écrit",
    "escribió",
    "ha scritto",
    "escreveu",
    "schreef",
    "geschreven",
    "skrev",
    "pisze",
    "napisał(a)",
    "napisała",
    "napisał",
    "napsal(a)",
    "napsal",
    "yazdı",
    "kirjoitti",
    "έγραψε",
    "пишет",
    "написал(а)",
    "написала",
    "написал",
    "пише",
    "написав",
)
_CJK_WROTE = ("写道", "寫道", "작성", "のメール")  # no \b: they follow other letters
_WROTE_PATTERNS = [rf"\b{re.escape(w)}" for w in _WROTE_WORDS] + list(_CJK_WROTE)
_WROTE = "|".join(_WROTE_PATTERNS)
# Tried at one position, where the verb would end: one fixed-width look-behind per verb.
_ENDS_WITH_WROTE = re.compile("|".join(f"(?<={w})" for w in _WROTE_PATTERNS), re.I)
_SENDER_ADDRESS = re.compile(r"<[^\s<>@]+@[^\s<>]+>|\([^\s()@]+@[^\s()]+\)")
_LINE_FINAL_COLON = re.compile(r":[ \t\u00a0]*$", re.M)
_LINE_FINAL_COLONS = re.compile(r"[:：][ \t\u00a0]*$", re.M)  # full-width ones too: a slower scan
_TIME = re.compile(r"\d[:.]\d\d")  # "14:20", "klo 14.20", or a date such as "02.04.2012"
MAX_ATTRIBUTION_CHARS = 300
# The line that introduces a `>` quote: "Alice <a@example.com> wrote:", "вт, 3 янв., Bob <b@x>:".
_QUOTE_INTRO = re.compile(rf"[^\n]*(?:@|{_WROTE})[^\n]*[:：]", re.I)

_SIGNATURE = re.compile(r"\n--[ \t]*\n")
_UNQUOTED_LINE = re.compile(r"\n[ \t\u00a0]*([^\s>][^\n]*)")
_DEVICE = (
    r"(?:iPhone|iPad|iPod(?: touch)?|Apple Watch|Android(?: device| phone| tablet)?|BlackBerry[\w ]*"
    r"|Samsung[\w .-]*|Galaxy[\w .-]*|Huawei[\w .-]*|Xiaomi[\w .-]*|Pixel[\w .-]*|Nokia[\w .-]*"
    r"|Motorola[\w .-]*|OnePlus[\w .-]*|Windows Phone|mobile(?: device| phone)?|smartphone|phone"
    r"|tablet|Handy|téléphone|móvil|celular|telefono|cellulare|telemóvel|mobiel|телефона)"
)
_APP = r"(?:Yahoo Mail|AOL Mobile Mail|Mail|Outlook|Proton ?Mail|Gmail|Samsung Mobile|BlueMail|Spark|myMail)"
_PLATFORM = r"(?:\s+(?:for|on|für|pour|para|per|voor)\s+(?:iPhone|iPad|Android|iOS|Mac|Windows(?: 1[01])?))?"
_MOBILE_SIGNATURE = re.compile(
    rf"(?:Sent from my {_DEVICE}(?: (?:with|using|via) [\w -]{{1,30}})?(?:[.!]? Please excuse [^\n]{{0,40}})?"
    rf"|Sent (?:from|with|via) {_APP}{_PLATFORM}|Get Outlook for (?:iOS|Android|Mac)"
    rf"|Envoyé (?:de|depuis) (?:mon )?{_DEVICE}|Von meinem {_DEVICE} gesendet|Gesendet von (?:meinem )?{_DEVICE}"
    rf"|Enviado (?:desde|do|de) (?:mi|meu|o meu) {_DEVICE}|Inviato da(?:l mio)? {_DEVICE}"
    rf"|Verzonden (?:vanaf|met|van) mijn {_DEVICE}|Verstuurd vanaf mijn {_DEVICE}"
    rf"|Отправлено (?:с|из) (?:моего )?{_DEVICE}"
    rf"|(?:Envoyé|Gesendet|Enviado|Inviato|Verzonden) (?:de|depuis|von|desde|do|da|met) {_APP}{_PLATFORM})"
    r"\.?[ \t]*(?:<[^>\s]+>|\[[^\]\s]+\])?[ \t]*",
    re.I,
)
_BLANK_RUNS = re.compile(r"\n\n\n+")  # not \n{3,}: a literal prefix lets re scan at C speed


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to make, and one is made per mail
class Extracted:
    text: str
    quoted: bool = False  # quoted history was removed
    forwarded: bool = False  # a forwarded message was removed
    signature: bool = False  # a signature was removed


def extract_reply(body: str) -> str:
    """The text the sender wrote in this body."""
    return analyse(body).text


def analyse(body: str) -> Extracted:
    text = "\n" + (body.replace("\r\n", "\n") if "\r" in body else body)
    text, quoted, forwarded = _cut_history(text)
    if ">" in text:
        text, had_quotes = _drop_quoted_lines(text)
        quoted = quoted or had_quotes
    text, signature = _strip_signatures(text)
    text = _BLANK_RUNS.sub("\n\n", _rstrip_lines(text)).strip("\n")
    return Extracted(text, quoted, forwarded, signature)


def _rstrip_lines(text: str) -> str:
    return "\n".join(map(str.rstrip, text.split("\n")))


def _cut_history(text: str) -> tuple[str, bool, bool]:
    """Cut `text` ("\\n"-prefixed) at the first marker of someone else's text.

    Returns the kept text, whether something was cut, and whether that was a forward.
    """
    removed: list[tuple[int, int]] = []  # attributions of bottom posts, removed but not cut at
    cut: int | None = None
    forwarded = False
    for m in _MARKER.finditer(text):
        kind, pos = m.lastgroup, m.start()
        if kind == "forward":
            cut, forwarded = pos, True
        elif kind == "original":
            cut = pos
        elif kind in ("rule", "header"):
            block = _skip_blank_lines(text, m.end()) if kind == "rule" else pos + 1
            if not _HEADER_BLOCK.match(text, block):
                pos = _timed_sent_line_above(text, pos) if kind == "header" else None
                if pos is None:
                    continue
                block = pos + 1
            cut, forwarded = pos, _is_forward_block(text, block)
        else:
            end = _attribution_end(text, pos + 1)
            if end is None:
                continue
            if _bottom_posted(text, end):
                removed.append((pos, end))
                continue
            cut = pos
        break
    # then the attributions found by their end, before that marker only
    by_end = _attribution_by_its_end(text, len(text) if cut is None else cut, removed)
    if by_end is not None:
        cut, forwarded = by_end, False
    kept = text if cut is None else text[:cut]
    for start, end in reversed(_merged(removed)):
        if end <= len(kept):
            kept = kept[:start] + kept[end:]
    return kept, cut is not None or bool(removed), forwarded


def _timed_sent_line_above(text: str, pos: int) -> int | None:
    """The "\\n" before a dated "Sent:"/"Date:" line up to three lines above `pos` (a "\\n"), or None."""
    for _ in range(3):
        above = text.rfind("\n", 0, pos)
        if above < 0:
            return None
        if _TIMED_SENT_LINE.match(text, above + 1, pos):
            return above
        pos = above
    return None


def _attribution_by_its_end(text: str, stop: int, removed: list[tuple[int, int]]) -> int | None:
    """Where the first attribution found by its end, before `stop`, starts (the "\\n" before it), or
    None. Those of bottom posts go to `removed` instead."""
    for m in (_LINE_FINAL_COLONS if "：" in text else _LINE_FINAL_COLON).finditer(text, 0, stop):
        start = text.rfind("\n", 0, m.start())
        if not _ends_as_attribution(text, start + 1, m.start()):
            continue
        if text[start + 1 : m.start()].lstrip().startswith(">"):
            continue  # a quoted one goes with its quote
        for _ in range(2):  # wrapped: the date may be up to two lines up, not past a blank line, a sentence or a quote
            above = text.rfind("\n", 0, start)
            if _TIME.search(text, start, m.start()) or above < 0:
                break
            line_above = text[above + 1 : start].rstrip()
            if not line_above or line_above.endswith((".", "!", "?")) or line_above.lstrip().startswith(">"):
                break
            start = above
        if m.end() - start > MAX_ATTRIBUTION_CHARS or not _TIME.search(text, start, m.start()):
            continue
        if _bottom_posted(text, m.end()):
            removed.append((start, m.end()))
        else:
            return start
    return None


def _ends_as_attribution(text: str, start: int, colon: int) -> bool:
    """Whether text[start:colon] ends as an attribution does: with "wrote" or the sender's address."""
    end = colon
    while end > start and text[end - 1] in " \t\u00a0":
        end -= 1
    closing = text[end - 1 : end]
    if closing in (">", ")"):
        opening = text.rfind("<" if closing == ">" else "(", start, end)
        if opening >= 0 and _SENDER_ADDRESS.fullmatch(text, opening, end):
            return True
    return _ENDS_WITH_WROTE.match(text, end) is not None


def _attribution_end(text: str, start: int) -> int | None:
    """End of the attribution line(s) starting at `start`, or None when it is not one."""
    lines: list[str] = []
    while len(lines) < 3:  # wrapped over up to three lines
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end].strip()
        if lines and not line:
            return None
        lines.append(line)
        joined = " ".join(lines)
        if len(joined) > MAX_ATTRIBUTION_CHARS:
            return None
        if (line.endswith((":", "：")) or "wrote:" in line) and _ATTRIBUTION.fullmatch(joined):
            return end
        if end == len(text):
            return None
        start = end + 1
    return None


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans sorted, overlapping ones joined (both attribution searches may find the same one)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def _bottom_posted(text: str, end: int) -> bool:
    """After the attribution ending at `end`: `>` quotes, then new text of the sender's own."""
    i = _skip_blank_lines(text, end)
    if not text.startswith(">", i):
        return False
    own = _UNQUOTED_LINE.search(text, i)
    if own is None:
        return False
    line = own[1].rstrip()
    return not (line == "--" or _MOBILE_SIGNATURE.fullmatch(line))


def _skip_blank_lines(text: str, pos: int) -> int:
    """Index of the first non-blank character from `pos` (across newlines)."""
    n = len(text)
    while pos < n and text[pos] in " \t\n\u00a0":
        pos += 1
    return pos


def _is_forward_block(text: str, pos: int) -> bool:
    block = text[pos : pos + 1000]
    subject = _FORWARDED_SUBJECT.search(block)
    return subject is not None and block.count("\n", 0, subject.start()) <= 6


def _drop_quoted_lines(text: str) -> tuple[str, bool]:
    """Remove `>` quoted lines and the "... wrote:" line that introduces each quote."""
    out: list[str] = []
    dropped = in_quote = False
    for line in text.split("\n"):
        if line.lstrip().startswith(">"):
            if not in_quote:
                _drop_quote_intro(out)
            dropped = in_quote = True
        else:
            out.append(line)
            in_quote = in_quote and not line.strip()
    return "\n".join(out), dropped


def _drop_quote_intro(out: list[str]) -> None:
    i = len(out) - 1
    while i >= 0 and not out[i].strip():
        i -= 1
    line = out[i].strip() if i >= 0 else ""
    if len(line) <= MAX_ATTRIBUTION_CHARS and _QUOTE_INTRO.fullmatch(line):
        del out[i:]


def _strip_signatures(text: str) -> tuple[str, bool]:
    """Cut at the "-- " delimiter, then drop trailing mobile signature lines."""
    found = False
    sig = _SIGNATURE.search(text + "\n")
    if sig:
        text, found = text[: sig.start()], True
    while True:
        body = text.rstrip()
        last_start = body.rfind("\n") + 1
        if not _MOBILE_SIGNATURE.fullmatch(body[last_start:].strip()):
            return text, found
        text, found = body[:last_start], True
