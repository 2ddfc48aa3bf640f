"""Reply, quote, forward and signature stripping (ingest/sources/gmail/email_text.py).

tests/fixtures/gmail/replies/<client>/<case>.txt holds a decoded body as that client writes it,
or <case>.html its HTML (for mail sent as HTML only), read through html_to_text as the Gmail
ingester reads it; <case>.expected.txt the text the sender actually wrote, which every case must
give exactly.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.sources.gmail.email_text import MAX_ATTRIBUTION_CHARS, Extracted, analyse, extract_reply
from ingest.sources.gmail.html_text import html_to_text
from tests.support.paths import FIXTURES

REPLIES = FIXTURES / "gmail" / "replies"
CLIENTS = ("gmail", "outlook", "apple_mail", "iphone", "android", "yahoo", "thunderbird", "hotmail", "mailru", "yandex")


def reply_cases(root: Path = REPLIES) -> list[tuple[str, str, str, str]]:
    """(client, case, body, expected) for every fixture."""
    cases = []
    for body_file in sorted([*root.glob("*/*.txt"), *root.glob("*/*.html")]):
        if body_file.name.endswith(".expected.txt"):
            continue
        expected = body_file.with_name(body_file.stem + ".expected.txt").read_text(encoding="utf-8")
        body = body_file.read_text(encoding="utf-8")
        if body_file.suffix == ".html":
            body = html_to_text(body)
        cases.append((body_file.parent.name, body_file.stem, body, expected.rstrip("\n")))
    return cases


CASES = reply_cases()


def test_fixtures_cover_every_client():
    counts = Counter(client for client, _, _, _ in CASES)
    assert set(CLIENTS) <= set(counts)
    assert all(counts[c] >= 5 for c in CLIENTS)


@pytest.mark.parametrize(("body", "expected"), [c[2:] for c in CASES], ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_reply_extraction(body, expected):
    assert extract_reply(body) == expected


def test_gmail_attribution_wrapped_over_two_lines():
    body = (
        "Fine by me.\n\nOn Tue, Mar 14, 2023 at 6:02 PM Bartholomew Featherstonehaugh <\n"
        "bartholomew@example.co.uk> wrote:\n\n> Thursday?\n"
    )
    assert extract_reply(body) == "Fine by me."


def test_attribution_needs_a_date():
    body = "On Monday Sue wrote:\nthe best report of the year, so\nI am keeping it."
    assert extract_reply(body) == body


def test_sentence_starting_with_sent_from_is_kept():
    assert extract_reply("Sent from the train, more later.") == "Sent from the train, more later."
    assert extract_reply("See you.\n\nSent from my iPhone") == "See you."


def test_signature_delimiter_with_and_without_space():
    assert extract_reply("Thanks\n-- \nSam\nAcme") == "Thanks"
    assert extract_reply("Thanks\n--\nSam") == "Thanks"
    assert extract_reply("a -- b\n---\nc") == "a -- b\n---\nc"


def test_analyse_reports_what_was_removed():
    forward = analyse("FYI\n\n---------- Forwarded message ---------\nFrom: A <a@x.example>\n\nbody")
    assert (forward.text, forward.forwarded, forward.quoted) == ("FYI", True, True)
    reply = analyse("Yes\n\nOn Mon, 2 Jan 2023 at 10:00, A <a@x.example> wrote:\n> q\n-- \nSam")
    assert (reply.text, reply.forwarded, reply.quoted) == ("Yes", False, True)
    plain = analyse("Just text\n-- \nSam")
    assert (plain.text, plain.quoted, plain.signature) == ("Just text", False, True)


def test_outlook_forward_block_is_flagged_as_forward():
    body = (
        "See below.\n\nFrom: Shop <s@shop.example>\nSent: Monday, January 2, 2023 10:15 AM\n"
        "To: Sam <sam@x.example>\nSubject: FW: Order 1234\n\nShipped."
    )
    result = analyse(body)
    assert (result.text, result.forwarded) == ("See below.", True)


def test_localized_forward_block_is_flagged_as_forward():
    body = (
        "下記ご確認ください。\n\n差出人: Shop <s@shop.example>\n送信日時: 2023年1月2日 10:15\n"
        "宛先: Sam <sam@x.example>\n"
        "件名: FW: ご注文 1234\n\n発送しました。"
    )
    assert (analyse(body).text, analyse(body).forwarded) == ("下記ご確認ください。", True)


def test_date_first_block_needs_a_time():
    body = "Trip:\nDate: next Saturday\nFrom: the station, by bus\nTo: the coast\nSubject: to the weather"
    assert extract_reply(body) == body
    timed = body.replace("next Saturday", "Sat, 7 Jan 2023 10:15:00 +0000")
    assert extract_reply(timed) == "Trip:"


def test_attribution_found_by_its_end_in_a_bottom_post():
    body = (
        "W dniu 26.06.2014 14:00, Jan Kowalski pisze:\n> Sprawdzisz fakturę?\n\nTak, jutro.\n\n"
        '26.06.2014, 14:41, "Anna" <anna@example.pl>:\n> A paragon?\n\nTeż.'
    )
    assert extract_reply(body) == "Tak, jutro.\n\nTeż."


def test_wrapped_attribution_does_not_reach_into_a_sentence_above():
    body = "See you at 10:30.\nAlice <alice@example.com> wrote:\nMeet at the station?"
    assert extract_reply(body) == body


def test_attribution_inside_a_quote_goes_with_the_quote():
    body = "> 02.01.2023 10:15, Alice Example пишет:\n> > Привет\n> Пока\n\nДа."
    assert extract_reply(body) == "Да."


def test_interleaved_reply_keeps_every_answer():
    body = "A wrote:\n> one?\n\nyes\n\n> two?\n\nno\n"
    assert extract_reply(body) == "yes\n\nno"


def test_crlf_bodies():
    assert extract_reply("Ok\r\n\r\nOn Mon, 2 Jan 2023 at 10:00, A <a@x> wrote:\r\n> q\r\n") == "Ok"
    # the delimiter is "-- " alone on its line: only found once CRLF line ends are normalized
    assert analyse("Thanks\r\n-- \r\nSam Smith\r\n") == Extracted("Thanks", signature=True)


def test_only_blank_lines_and_line_end_spaces_are_trimmed():
    assert extract_reply("Hi Sam, \n\nSee you at 5. \n") == "Hi Sam,\n\nSee you at 5."
    body = "Xmas party is on Friday.\n\nOn Mon, 2 Jan 2023 at 10:00, Anna <anna@example.com> wrote:\n> When?"
    assert extract_reply(body) == "Xmas party is on Friday."


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("Use a > b here.", Extracted("Use a > b here."), id="no_quote_no_signature"),
        pytest.param("> Are you in?\n\nYes.", Extracted("Yes.", quoted=True), id="quote_without_attribution"),
        pytest.param(
            "Yes, Friday works.\n\n  > Can you do Friday?\n  > Or Monday?",
            Extracted("Yes, Friday works.", quoted=True),
            id="indented_quote",
        ),
        pytest.param(
            "Да.\n\n02.01.2023 10:15, Алиса пишет:\n> Придёшь?",
            Extracted("Да.", quoted=True),
            id="attribution_by_its_end",
        ),
        pytest.param("Thanks\n-- ", Extracted("Thanks", signature=True), id="delimiter_on_the_last_line"),
        pytest.param(
            "On my way\nGet Outlook for iOS", Extracted("On my way", signature=True), id="mobile_signature_no_gap"
        ),
        pytest.param("Sent from my iPhone", Extracted("", signature=True), id="mobile_signature_only"),
    ],
)
def test_analyse_flags(body, expected):
    assert analyse(body) == expected


_OUTLOOK_FORWARD = (
    "See below.\n\nFrom: Shop <orders@shop.example>\nSent: Monday, January 2, 2023 10:15 AM\n"
    "To: Sam Smith <sam@example.org>\nSubject: FW: Order 1234\n\n"
    "Hello Sam,\n\nyour order has shipped.\n\nTracking: 123\nCarrier: DHL\n\nThanks,\nShop"
)
# Hotmail's block starts with "Date:"; To and Cc wrapped as a plain-text body wraps long lines, so
# the Subject is the block's seventh line.
_HOTMAIL_FORWARD_WRAPPED = (
    "Please check.\n\nDate: Mon, 2 Jan 2023 10:15:00 +0000\nFrom: Anna Petrova <anna@example.com>\n"
    "To: Bob Jones <bob@example.com>; Carol White <carol@example.com>;\n"
    "Dave Brown <dave@example.com>; Erin Black <erin@example.com>;\nFrank Green <frank@example.com>\n"
    "Cc: Grace Hall <grace@example.com>; Heidi King <heidi@example.com>;\nIvan Long <ivan@example.com>\n"
    "Subject: FW: Budget 2023\n\nNumbers attached."
)
_HOTMAIL_FORWARD_NO_NOTE = (
    "Date: Mon, 2 Jan 2023 10:15:00 +0000\nFrom: Shop <orders@shop.example>\nTo: Sam Smith <sam@example.org>\n"
    "Subject: FW: Order 1234\n\nShipped."
)
# A reply (RE:) whose quoted history holds an older forward (FW:) further down.
_REPLY_TO_A_FORWARD = (
    "Thanks, will do.\n\nFrom: Bob Jones <bob@example.com>\nSent: Tuesday, January 3, 2023 9:00 AM\n"
    "To: Sam Smith <sam@example.org>\nSubject: RE: Order 1234\n\nCan you check this one?\n\n"
    "From: Shop <orders@shop.example>\nSent: Monday, January 2, 2023 10:15 AM\nTo: Bob Jones <bob@example.com>\n"
    "Subject: FW: Order 1234\n\nShipped."
)
# Gmail forward of a thread: the reply inside the forward is part of it.
_FORWARDED_THREAD = (
    "FYI\n\n---------- Forwarded message ---------\nFrom: Anna <anna@example.com>\n"
    "Date: Mon, 2 Jan 2023 at 10:00\nSubject: Re: Plan\nTo: Sam <sam@example.com>\n\nAgreed.\n\n"
    "On Sun, 1 Jan 2023 at 18:00, Bob <bob@example.com> wrote:\n\n> Shall we go?\n"
)
# A bottom-posted answer, then a forward below it.
_BOTTOM_POST_THEN_FORWARD = (
    "On Mon, 2 Jan 2023 at 10:00, Anna <anna@example.com> wrote:\n> Can you send me Bob's note?\n\n"
    "Here it is.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\n"
    "Date: Sun, 1 Jan 2023 at 18:00\nSubject: Note\nTo: Sam <sam@example.com>\n\nThe note."
)


@pytest.mark.parametrize(
    ("body", "text", "forwarded"),
    [
        pytest.param(_OUTLOOK_FORWARD, "See below.", True, id="outlook_forward_with_body"),
        pytest.param(_HOTMAIL_FORWARD_WRAPPED, "Please check.", True, id="hotmail_forward_wrapped_recipients"),
        pytest.param(_HOTMAIL_FORWARD_NO_NOTE, "", True, id="hotmail_forward_without_note"),
        pytest.param(_REPLY_TO_A_FORWARD, "Thanks, will do.", False, id="reply_to_a_forward"),
        pytest.param(_FORWARDED_THREAD, "FYI", True, id="forwarded_thread"),
        pytest.param(_BOTTOM_POST_THEN_FORWARD, "Here it is.", True, id="bottom_post_then_forward"),
    ],
)
def test_forwards_are_cut_and_flagged(body, text, forwarded):
    result = analyse(body)
    assert (result.text, result.quoted, result.forwarded) == (text, True, forwarded)


@pytest.mark.parametrize(
    "body",
    [
        # "... wrote:" whose only date is out of reach: three lines up, past a blank line or a sentence
        "Plan for Saturday 9:30\nmeet at the station\nbring lunch\nHere is what Anna wrote:\nWe take the early train.",
        "Timetable\nThe train leaves at 10:30\n\nHere is what Alice wrote:\nWe meet at the station.",
        "Great game at 18:30!\nHere is what the coach wrote:\nWe won.",
        "Still on for 10:30?\nHere is what the coach wrote:\nBring water.",
        # the time is in what follows, not in the line
        "Here is what Anna wrote:\nThe train leaves at 10:30.",
        # angle brackets that hold no address
        "Send the form by 17:00 to <your manager>:\nname, date and amount.",
        # "On ... wrote:" over four lines is prose: an attribution wraps over three at most
        "On Friday at 9:30\nthe bus leaves.\nDon't forget what\nthe coach wrote:\nbring water!",
        # a rule with no header block under it, below a dated line
        "Meeting moved.\nDate: Friday 6 Jan, 10:30\nRoom: 4.12\n__________\nAgenda to follow.",
        # "From:" four lines below a dated "Date:": out of reach of a Hotmail block
        "Date: Sat 7 Jan 2023, 19:30\nVenue: the Old Hall\nDress code: casual\nTickets: at the door\n"
        "From: the organising committee",
    ],
)
def test_prose_that_looks_like_an_attribution_is_kept(body):
    assert analyse(body) == Extracted(body)


def test_sentence_above_an_undated_attribution_ends_with_spaces():
    body = "See you at 10:30. \nAlice <alice@example.com> wrote:\nMeet at the station?"
    assert extract_reply(body) == body.replace(". \n", ".\n")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            'Да, приду.\n\n26.06.2014, 14:41, "Анна Кузнецова"\n<anna.kuznetsova@example.ru>:\n> Придёшь в субботу?',
            "Да, приду.",
            id="address_wrapped_to_its_own_line",
        ),
        pytest.param(
            'Да.\n\n26.06.2014, 14:41, "Анна Кузнецова"\n<anna.kuznetsova@example.ru>:\n> Встречаемся в 18:00?',
            "Да.",
            id="wrapped_with_a_time_in_the_quote",
        ),
        pytest.param(
            '26.06.2014, 14:41, "Анна Кузнецова"\n<anna.kuznetsova@example.ru>:\n> Придёшь в субботу?',
            "",
            id="wrapped_on_the_first_line_of_an_empty_reply",
        ),
        pytest.param(
            "Да, конечно\n02.01.2023 10:15, Алиса пишет:\n> Придёшь?", "Да, конечно", id="no_blank_line_above"
        ),
        pytest.param(
            "Да.\n\n02.01.2023 10:15, Анна Петрова (anna@example.ru):\nПридёшь?", "Да.", id="address_in_parentheses"
        ),
    ],
)
def test_attribution_found_by_its_end(body, expected):
    assert extract_reply(body) == expected


def test_marker_below_a_from_line_that_starts_no_block():
    body = (
        "Pick-up times\nFrom: the station, 9:00\nTo: the hotel, 9:30\n\nThanks!\n\n-----Original Message-----\n"
        "From: Anna\nSent: Monday, January 2, 2023 10:15 AM\nTo: Sam\nSubject: Transfers\n\nWhat are the times?"
    )
    assert extract_reply(body) == "Pick-up times\nFrom: the station, 9:00\nTo: the hotel, 9:30\n\nThanks!"


def test_attribution_on_the_last_line():
    # Thunderbird's German attribution ends with the name (not found by its end), here with nothing after it
    assert extract_reply("Danke!\n\nAm 02.01.23 um 10:00 schrieb Anna Schmidt:") == "Danke!"


def test_wrapped_attribution_of_a_bottom_post_goes_whole():
    body = (
        "On Tue, Mar 14, 2023 at 6:02 PM Bartholomew Featherstonehaugh <\n"
        "bartholomew@example.co.uk> wrote:\n\n> Thursday?\n\nThursday is fine."
    )
    assert extract_reply(body) == "Thursday is fine."


def test_interleaved_reply_without_blank_lines_drops_every_intro():
    body = "Anna wrote:\n> Can you do Friday?\nYes.\nBob wrote:\n> And Saturday?\nNo."
    assert extract_reply(body) == "Yes.\nNo."


@pytest.mark.parametrize("prefix", ["> ", "  > "], ids=["quoted", "indented_quote"])
def test_quote_trimmed_down_to_its_attribution(prefix):
    """The answerer kept the quoted reply's attribution but cut the older quote under it."""
    body = f"{prefix}Ок, до завтра.\n{prefix.rstrip()}\n{prefix}02.01.2023 10:15, Алиса пишет:\n\nДо завтра!"
    assert extract_reply(body) == "До завтра!"


@pytest.mark.parametrize("below_quote", ["", "\n-- \nSam Smith\n"], ids=["nothing", "signature"])
def test_top_post_ending_in_a_colon_keeps_its_last_line(below_quote):
    """A top post over the quote (Thunderbird puts the signature under it): only the quote goes."""
    body = (
        "Looping in bob@example.com:\n\nOn Mon, 2 Jan 2023 at 10:00, Anna <anna@example.com> wrote:\n"
        f"> Who handles refunds?\n{below_quote}"
    )
    assert extract_reply(body) == "Looping in bob@example.com:"


@pytest.mark.parametrize(
    "above",
    ["> ", "On Mon, 2 Jan 2023 at 10:00, Anna <anna@example.com> wrote:\n> ", "  > "],
    ids=["interleaved", "bottom_post", "indented_quote"],
)
def test_answer_under_a_dated_quote_line_is_kept(above):
    """An own line ending in "wrote:" takes no date from the quoted line above it (the search for a
    wrapped attribution's date stopped at blank lines and sentences, not at quotes, and cut here)."""
    body = f"{above}Lunch at 12:30\nFine by me, see what Bob wrote:\nI will bring dessert."
    assert extract_reply(body) == "Fine by me, see what Bob wrote:\nI will bring dessert."


def _padded(prefix: str, suffix: str, length: int) -> str:
    """prefix + a long display name + suffix, `length` characters in all."""
    name = ("Maria Josefina Alvarez de la Fuente y Castillo " * 10)[: length - len(prefix) - len(suffix)]
    return prefix + name + suffix


def test_attribution_as_long_as_the_limit_is_still_one():
    on_line = _padded("On Mon, 2 Jan 2023 at 10:00, ", " <maria.alvarez@example.com> wrote:", MAX_ATTRIBUTION_CHARS)
    assert extract_reply(f"Ok\n\n{on_line}\nthe old message") == "Ok"
    intro = _padded("", " <maria.alvarez@example.com> wrote:", MAX_ATTRIBUTION_CHARS)
    assert extract_reply(f"Ok\n\n{intro}\n> the old message") == "Ok"


_PIECES = st.sampled_from(
    [
        "a",
        "b",
        " ",
        ">",
        "-",
        "_",
        ":",
        "@",
        "\n",
        "\t",
        "\r",
        "\u00e9",
        "-- ",
        "On 2 Jan 2023, A wrote:",
        "From: x",
        "Sent: y",
        "Sent from my iPhone",
        "Am 1.2.23 schrieb B:",
        "---------- Forwarded message ---------",
        "02.01.2023 10:15, A <a@b.c>:",
        "Date: 2 Jan 10:15",
        "написал:",
        "2023년 1월 2일 (월) 오전 10:15, A <a@b.c>님이 작성:",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=5)).map("".join))
def test_extraction_only_removes_lines(body):
    """Whatever the input, the result is made of the input's own lines: nothing is invented."""
    result = analyse(body)
    source_lines = {line.rstrip() for line in body.replace("\r\n", "\n").split("\n")}
    assert all(line.rstrip() in source_lines for line in result.text.split("\n") if line.strip())
