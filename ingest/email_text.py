"""What the sender of an email actually wrote: quoted history, forwarded messages and signatures removed.

Works on the decoded plain text of one body (HTML already converted). In order:
1. cut at the first marker that starts someone else's text: a reply attribution ("On ... wrote:"
   and its German, French, Spanish, Italian, Portuguese, Dutch and Russian forms, also wrapped over
   two lines), Outlook's "-----Original Message-----" or "From:/Sent:" header block, a forwarded
   message header, Apple's "Begin forwarded message:";
   an attribution followed by `>` quotes and then new text is bottom posting or an interleaved
   reply: there only the attribution goes, and step 2 drops the quotes;
2. drop `>` quoted lines and the "... wrote:" line that introduces them;
3. cut at the "-- " signature delimiter and drop trailing mobile signatures ("Sent from my iPhone").

Markers are found with one regex anchored on "\\n", so a body costs a few C-speed scans, not a
Python loop per line.
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
    r"|Originalmeddelande|Исходное сообщение)[ \t]*-{2,}"
)
_FROM_LABEL = r"\*?(?:From|Von|De|Da|Van|От|Från|Fra|Od)\*?[ \t\u00a0]*:"
_SENT_LABEL = (r"\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Date d'envoi|Enviado|Enviada|Fecha|Inviato|Data"
               r"|Verzonden|Отправлено|Дата|Skickat|Sendt|Wysłano)\*?[ \t\u00a0]*:")
_ATTRIBUTION_START = r"(?:On|Am|Le|El|Il|Em|Op)\s"

_MARKER = re.compile(
    rf"\n[ \t]*(?:(?P<forward>{_FORWARD})|(?P<original>{_ORIGINAL})|(?P<rule>_{{10,}}[ \t]*(?=\n))"
    rf"|(?P<header>{_FROM_LABEL})|(?P<attribution>{_ATTRIBUTION_START}))")  # no re.I: keeps the fast "\n" scan
# "From:" and "Sent:"/"Date:" within four lines of each other, in either order.
_HEADER_BLOCK = re.compile(
    rf"[ \t]*(?:{_FROM_LABEL}[^\n]*\n(?:[^\n]*\n){{0,3}}?[ \t]*{_SENT_LABEL}"
    rf"|{_SENT_LABEL}[^\n]*\n(?:[^\n]*\n){{0,3}}?[ \t]*{_FROM_LABEL})", re.I)
_FORWARDED_SUBJECT = re.compile(
    r"\n[ \t]*\*?(?:Subject|Betreff|Objet|Asunto|Oggetto|Assunto|Onderwerp|Тема)\*?[ \t\u00a0]*:[ \t]*"
    r"(?:FWD?|WG|TR|RV|I|Doorst|ENC|Fw)\b", re.I)

# A whole attribution (one line, or two joined by a space), verified after a cheap start match.
# Each needs a digit (its date), so "On Monday Sue wrote:" in prose is left alone.
_ATTRIBUTION = re.compile(
    r"(?=.*\d)"
    r"(?:On\s.*\bwrote|Am\s.*\b(?:schrieb\b.*|geschrieben)|Le\s.*\ba\s+écrit|El\s.*\bescribió"
    r"|Il\s.*\bha\s+scritto|Em\s.*\bescreveu|Op\s.*\b(?:schreef\b.*|geschreven))"
    r"\s*:(?:\s*|\s{2,}.*)", re.I)  # Yahoo's Android client runs the quote on after "wrote:   "
# Russian clients put the verb last ("02.01.2023 10:15, Алиса пишет:"), so it is found by its end.
_RUSSIAN_VERB = re.compile(r"(?:пишет|написал\(а\)|написала|написал)[ \t\u00a0]*:[ \t]*(?=\n|\Z)")
_DIGIT = re.compile(r"\d")
MAX_ATTRIBUTION_CHARS = 300
# The line that introduces a `>` quote: "Alice <a@example.com> wrote:", "вт, 3 янв., Bob <b@x>:".
_QUOTE_INTRO = re.compile(
    r"[^\n]*(?:@|\bwrote|\bschrieb|\bgeschrieben|écrit|escribió|scritto|escreveu|schreef|geschreven"
    r"|пишет|написал)[^\n]*:", re.I)

_SIGNATURE = re.compile(r"\n--[ \t]*\n")
_UNQUOTED_LINE = re.compile(r"\n[ \t\u00a0]*([^\s>][^\n]*)")
_DEVICE = (r"(?:iPhone|iPad|iPod(?: touch)?|Apple Watch|Android(?: device| phone| tablet)?|BlackBerry[\w ]*"
           r"|Samsung[\w .-]*|Galaxy[\w .-]*|Huawei[\w .-]*|Xiaomi[\w .-]*|Pixel[\w .-]*|Nokia[\w .-]*"
           r"|Motorola[\w .-]*|OnePlus[\w .-]*|Windows Phone|mobile(?: device| phone)?|smartphone|phone"
           r"|tablet|Handy|téléphone|móvil|celular|telefono|cellulare|telemóvel|mobiel|телефона)")
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
    re.I)
_BLANK_RUNS = re.compile(r"\n\n\n+")  # not \n{3,}: a literal prefix lets re scan at C speed


@dataclass(slots=True)   # not frozen: a frozen dataclass is slower to make, and one is made per mail
class Extracted:
    text: str
    quoted: bool = False     # quoted history was removed
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
    cut = _russian_attribution(text, removed)
    forwarded = False
    for m in _MARKER.finditer(text, 0, len(text) if cut is None else cut):
        kind, pos = m.lastgroup, m.start()
        if kind == "forward":
            cut, forwarded = pos, True
        elif kind == "original":
            cut = pos
        elif kind in ("rule", "header"):
            block = _skip_blank_lines(text, m.end()) if kind == "rule" else pos + 1
            if not _HEADER_BLOCK.match(text, block):
                continue
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
    kept = text if cut is None else text[:cut]
    for start, end in sorted(removed, reverse=True):
        if end <= len(kept):
            kept = kept[:start] + kept[end:]
    return kept, cut is not None or bool(removed), forwarded


def _russian_attribution(text: str, removed: list[tuple[int, int]]) -> int | None:
    if "пиш" not in text and "напис" not in text:
        return None
    for m in _RUSSIAN_VERB.finditer(text):
        start = text.rfind("\n", 0, m.start())
        if m.end() - start > MAX_ATTRIBUTION_CHARS or not _DIGIT.search(text, start, m.start()):
            continue
        if _bottom_posted(text, m.end()):
            removed.append((start, m.end()))
        else:
            return start
    return None


def _attribution_end(text: str, start: int) -> int | None:
    """End of the attribution line(s) starting at `start`, or None when it is not one."""
    first_end = text.find("\n", start)
    first_end = len(text) if first_end < 0 else first_end
    line = text[start:first_end]
    if len(line) > MAX_ATTRIBUTION_CHARS:
        return None
    if line.rstrip().endswith(":") or "wrote:" in line:
        if _ATTRIBUTION.fullmatch(line.strip()):
            return first_end
    if first_end < len(text):
        second_end = text.find("\n", first_end + 1)
        second_end = len(text) if second_end < 0 else second_end
        second = text[first_end + 1:second_end]
        if (second.rstrip().endswith(":") and len(second) <= MAX_ATTRIBUTION_CHARS
                and _ATTRIBUTION.fullmatch(f"{line.strip()} {second.strip()}")):
            return second_end
    return None


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
    block = text[pos:pos + 1000]
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
        text, found = text[:sig.start()], True
    while True:
        body = text.rstrip()
        last_start = body.rfind("\n") + 1
        if not _MOBILE_SIGNATURE.fullmatch(body[last_start:].strip()):
            return text, found
        text, found = body[:last_start], True
