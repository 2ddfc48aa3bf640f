"""Reply, quote, forward and signature stripping (ingest/sources/gmail/email_text.py).

tests/fixtures/gmail/replies/<client>/<case>.txt holds a decoded body as that client writes it,
or <case>.html its HTML (for mail sent as HTML only), read through html_to_text as the Gmail
ingester reads it; <case>.expected.txt the text the sender actually wrote. Accuracy is the share
of exact matches.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.sources.gmail.email_text import analyse, extract_reply
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


def reply_accuracy(root: Path = REPLIES) -> dict[str, tuple[int, int]]:
    """Per client (and "all"): (exact matches, cases)."""
    scores: dict[str, list[int]] = {}
    for client, _, body, expected in reply_cases(root):
        for key in (client, "all"):
            hit_total = scores.setdefault(key, [0, 0])
            hit_total[0] += extract_reply(body) == expected
            hit_total[1] += 1
    return {k: (hits, total) for k, (hits, total) in scores.items()}


def test_fixtures_cover_every_client():
    counts = reply_accuracy()
    assert set(CLIENTS) <= set(counts)
    assert all(counts[c][1] >= 5 for c in CLIENTS)


def test_reply_extraction_accuracy():
    scores = reply_accuracy()
    failures = [f"{client}/{case}" for client, case, body, expected in reply_cases() if extract_reply(body) != expected]
    hits, total = scores["all"]
    assert hits / total >= 0.95, f"{hits}/{total} exact; failing: {failures}"
    for client in CLIENTS:
        client_hits, client_total = scores[client]
        assert client_hits / client_total >= 0.8, f"{client}: {client_hits}/{client_total}; failing: {failures}"


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
