"""The Gmail ingester (ingest/sources/gmail/ingester.py): MIME, headers, threads, bad input, the sample export.

tests/fixtures/gmail/messages/*.eml are single messages as their clients send them (Takeout's
X-GM-THRID / X-Gmail-Labels on top); golden.json holds, for each, every parser column (all of
PARSER_COLUMNS but source_ref, which test_source_refs_point_at_the_from_lines checks) as it must
land, written from the message itself and the rules of the ingester. The tests build mbox files
from them the way Takeout writes one (From_ lines, mboxrd quoting).
tests/fixtures/gmail/mbox/ holds whole files as other mbox writers leave them, and files that are
not mboxes.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import re
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.core.config import Config
from ingest.core.identity import Me
from ingest.core.schema import PARSER_COLUMNS
from ingest.landing import land
from ingest.sources import workers as worker_processes
from ingest.sources.base import ExportError, ParseContext, Reject
from ingest.sources.gmail import ingester as gmail
from ingest.sources.gmail import message as gmail_message
from ingest.sources.gmail import mime as gmail_mime
from ingest.sources.gmail import threads as gmail_threads
from ingest.sources.gmail.html_text import html_to_text
from ingest.sources.gmail.mbox import RawMessage
from tests.support.paths import FIXTURES

MESSAGES = FIXTURES / "gmail" / "messages"
MBOXES = FIXTURES / "gmail" / "mbox"
GOLDEN = json.loads((MESSAGES / "golden.json").read_text(encoding="utf-8"))
ENVELOPE = b"From 1754093338441230000@xxx Thu Jan 12 12:00:00 +0000 2023\n"
ME = Me(emails=("sam.smith@gmail.com",))


def mbox_of(messages: list[bytes]) -> bytes:
    """Takeout layout: a From_ line per message, mboxrd quoting, a blank line between messages."""
    quoted = [re.sub(rb"(?m)^(>*From )", rb">\1", m) for m in messages]
    return b"\n".join(ENVELOPE + m for m in quoted)


def land_mbox(tmp_path: Path, data: bytes, me: Me = ME, name: str = "All mail.mbox"):
    path = tmp_path / name
    path.write_bytes(data)
    [export] = gmail.INGESTER.discover([path])
    ctx = ParseContext("gmail", me)
    result = land(gmail.INGESTER, export, tmp_path / "warehouse", ctx)
    rows = pq.read_table(result.path).to_pylist() if result.landed else []
    rejects = pq.read_table(result.reject_path).to_pylist() if result.reject_path else []
    return result, rows, rejects


@pytest.fixture(scope="module")
def fixture_rows(tmp_path_factory):
    names = sorted(GOLDEN, key=lambda name: (name.endswith("_truncated_last.eml"), name))  # it ends the file
    result, rows, rejects = land_mbox(
        tmp_path_factory.mktemp("fixtures"), mbox_of([(MESSAGES / n).read_bytes() for n in names])
    )
    assert result.rejected == 0 and len(rows) == len(names)
    return dict(zip(names, rows)), result


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_fixture_message_lands_as_golden(fixture_rows, name):
    row = fixture_rows[0][name]
    expected = GOLDEN[name]
    assert set(expected) == set(PARSER_COLUMNS) - {"source_ref"}
    assert {k: row[k] for k in expected} == expected


def test_takeout_thread_ids_group_messages(fixture_rows):
    rows = fixture_rows[0]
    assert rows["01_gmail_reply.eml"]["conversation_id"] == rows["02_outlook_reply.eml"]["conversation_id"]
    assert rows["07_latin1_no_thrid.eml"]["conversation_id"].startswith("gmail:h")


def test_truncated_last_message_is_noted_with_its_offset(fixture_rows):
    rows, result = fixture_rows
    offset = int(rows["16_truncated_last.eml"]["source_ref"].rsplit("@", 1)[1])
    assert any(f"byte {offset}" in note and "cut short" in note for note in result.notes)


def test_source_refs_point_at_the_from_lines(tmp_path):
    data = mbox_of([b"Subject: a\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n\nx\n"] * 3)
    _, rows, _ = land_mbox(tmp_path, data)
    offsets = [int(r["source_ref"].rsplit("@", 1)[1]) for r in rows]
    assert all(data[o:].startswith(ENVELOPE) for o in offsets) and len(set(offsets)) == 3
    assert rows[0]["source_ref"] == "All mail.mbox@0"


@pytest.mark.parametrize(
    "name, bodies",
    [
        (
            "mailman-2010-December.txt",
            [
                'Hi all,\n\nthe link step stops with "undefined reference to __aeabi_uidiv".\n'
                "From what I can tell the toolchain misses libgcc.\n\nGoran",
                "Add -lgcc after your objects and it links.\n\nAnna",
                "That did it, thanks!",
            ],
        ),
        ("non_ascii_envelope.mbox", ["Passt Donnerstag?", "Ja, 10 Uhr.", "Je viens aussi."]),
        ("thunderbird/Inbox", ["I left the keys with the neighbour.", "From now on we start at nine."]),
        ("undated_envelopes.mbox", ["First.", "Second."]),
    ],
)
def test_mbox_files_of_other_writers_land(tmp_path, name, bodies):
    [export] = gmail.INGESTER.discover([MBOXES / name])
    result = land(gmail.INGESTER, export, tmp_path / "warehouse", ParseContext("gmail", ME))
    rows = pq.read_table(result.path).to_pylist()
    assert result.rejected == 0 and [r["body_text"] for r in rows] == bodies
    assert all(r["flags"] is None and r["source_ref"].startswith(export.label + "@") for r in rows)


@pytest.mark.parametrize("name", ["not_mbox_single_message.eml", "not_mbox_letter.txt"])
def test_files_that_are_not_mboxes_land_nothing(tmp_path, name):
    [export] = gmail.INGESTER.discover([MBOXES / name])
    with pytest.raises(ExportError, match=rf"{re.escape(name)}:0: not an mbox") as err:
        land(gmail.INGESTER, export, tmp_path / "warehouse", ParseContext("gmail", ME))
    assert "Dear Sam" not in str(err.value) and "lone message" not in str(err.value)
    assert not list(tmp_path.rglob("*.parquet"))


# --- direction and automation -------------------------------------------------------------------


def test_me_given_on_the_command_line_matches_my_address(tmp_path):
    msg = b"From: Sam <Sam.Smith+x@gmail.com>\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n\nhi\n"
    me = Config().identity(("SAM.SMITH@gmail.com",))  # as `--me SAM.SMITH@gmail.com` does
    _, [row], _ = land_mbox(tmp_path, mbox_of([msg]), me=me)
    assert row["direction"] == "outbound"


def test_without_my_address_the_sent_label_decides(tmp_path):
    msgs = [
        b"X-Gmail-Labels: Sent\nFrom: sam@x.example\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n\nhi\n",
        b"X-Gmail-Labels: Inbox\nFrom: al@x.example\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n\nhi\n",
    ]
    result, rows, _ = land_mbox(tmp_path, mbox_of(msgs), me=Me())
    assert [r["direction"] for r in rows] == ["outbound", "inbound"]
    assert any("only mail labelled Sent counts as outbound" in n for n in result.notes)


@pytest.mark.parametrize(
    "header, automated",
    [
        (b"Precedence: bulk\n", True),
        (b"Precedence: list\n", True),
        (b"Auto-Submitted: auto-generated\n", True),
        (b"Auto-Submitted: no\n", False),
        (b"X-Gmail-Labels: Category Social\n", True),
        (b"X-Gmail-Labels: Category Updates,Inbox\n", True),
        (b"X-Gmail-Labels: Category Personal\n", False),
        (b"From: DoNotReply@bank.example\n", True),
        (b"From: Mailer-Daemon@googlemail.com\n", True),
        (b"From: Noah Reply <noah@x.example>\n", False),
    ],
)
def test_automated_mail(tmp_path, header, automated):
    msg = header + b"Date: Mon, 2 Jan 2023 10:00:00 +0000\n\nhello\n"
    _, [row], _ = land_mbox(tmp_path, mbox_of([msg]))
    assert row["is_automated"] is automated


# --- dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date, expected_ms, flags",
    [
        (b"Mon, 2 Jan 2023 10:00:00 +0200", 1672646400000, None),
        (b"2 Jan 2023 10:00 -0000", 1672653600000, None),
        (b"Mon, 02 Jan 23 10:00:00 EST", 1672671600000, None),
        (b"Mon, 2 Jan 2023 10:00:00", 1672653600000, ["date_no_zone"]),
        (b"Mon, 31 Feb 2023 10:00:00 +0000", 1672654272000, ["date_from_envelope"]),
        (b"yesterday", 1672654272000, ["date_from_envelope"]),
        (None, 1672654272000, ["date_from_envelope"]),
    ],
)
def test_dates_to_utc_with_envelope_fallback(date, expected_ms, flags):
    head = b"Message-ID: <d@x>\n" + (b"Date: " + date + b"\n" if date else b"")
    raw = RawMessage(0, b"From x Mon Jan 02 10:11:12 +0000 2023", head + b"\nx\n", 0, False)
    message = gmail_message.parse_message(raw, frozenset())
    assert (message.timestamp_ms, message.flags or None) == (expected_ms, flags)


def test_no_date_anywhere_is_a_reject():
    raw = RawMessage(0, b"From x Mon Jan 02 10:11:12", b"Subject: d\n\nx\n", 0, False)
    assert gmail_message.parse_message(raw, frozenset()) == "no usable date in the Date header or the From_ line"


# --- threads without X-GM-THRID -----------------------------------------------------------------


def _mail(mid: str, subject: str, refs: str = "", reply_to: str = "") -> bytes:
    head = f"Message-ID: <{mid}>\nSubject: {subject}\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n"
    head += f"References: {refs}\n" if refs else ""
    head += f"In-Reply-To: <{reply_to}>\n" if reply_to else ""
    return (head + "\nbody\n").encode()


def test_threads_are_derived_from_references_and_subjects(tmp_path):
    msgs = [
        _mail("b@x", "Re: Plans", refs="<a@x>", reply_to="a@x"),  # reply seen before its root
        _mail("a@x", "Plans"),  # the root
        _mail("c@x", "RE: Plans", reply_to="b@x"),  # parent only
        _mail("d@x", "Aw: Plans"),  # a reply that lost its references
        _mail("e@x", "Hello"),
        _mail("f@x", "Hello"),  # same subject, not a reply: new thread
        _mail("g@x", "Re: Unrelated", refs="<zz@x> <b@x>"),  # unknown root
    ]
    _, rows, _ = land_mbox(tmp_path, mbox_of(msgs))
    conv = {r["message_id"]: r["conversation_id"] for r in rows}
    assert conv["a@x"] == conv["b@x"] == conv["c@x"] == conv["d@x"]
    assert len({conv["a@x"], conv["e@x"], conv["f@x"], conv["g@x"]}) == 4
    assert all(c.startswith("gmail:h") for c in conv.values())


def test_thread_memory_is_bounded():
    threads = gmail_threads.Threads(limit=100)
    for i in range(1000):
        threads.conversation_of(None, f"m{i}@x", None, None, f"subject {i}")
    assert len(threads.by_message) <= 100 and len(threads.by_subject) <= 100


def test_subject_normalisation():
    assert gmail_threads.normalised_subject("Re: AW: Fwd:  Plans  for  May") == "plans for may"
    assert gmail_threads.normalised_subject("RE[2]: WG: TR: Plans") == "plans"
    assert gmail_threads.normalised_subject("Reunion") == "reunion"


# --- bad input ----------------------------------------------------------------------------------


def test_binary_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.mbox"
    path.write_bytes(bytes(range(256)) * 20)
    [export] = gmail.INGESTER.discover([path])
    with pytest.raises(ExportError, match=r"garbage\.mbox:0: not an mbox"):
        land(gmail.INGESTER, export, tmp_path / "warehouse", ParseContext("gmail", ME))
    assert not (tmp_path / "warehouse" / "raw" / "gmail").exists() or not list(
        (tmp_path / "warehouse" / "raw" / "gmail").glob("*.parquet")
    )


def test_a_garbage_message_is_rejected_with_its_offset_and_the_rest_lands(tmp_path):
    good = b"Subject: fine\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n\nsecret words\n"
    garbage = b"\x00\x01\x02\xffsecret binary words\n"
    data = mbox_of([good, garbage, good])
    result, rows, rejects = land_mbox(tmp_path, data)
    assert (result.landed, result.rejected) == (2, 1)
    [reject] = rejects
    assert reject["source_ref"] == f"All mail.mbox@{data.index(ENVELOPE + garbage)}"
    assert reject["reason"] == "no mail headers after the From_ line"
    assert "secret" in reject["raw"]


def test_an_unforeseen_failure_rejects_only_that_message(tmp_path, monkeypatch):
    real = gmail_message.analyse

    def fragile(body):
        if "boom" in body:
            raise ValueError("boom in the body")
        return real(body)

    monkeypatch.setattr(gmail_message, "analyse", fragile)
    msgs = [b"Date: Mon, 2 Jan 2023 10:00:00 +0000\n\n" + body for body in (b"ok\n", b"boom\n", b"ok\n")]
    result, _, [reject] = land_mbox(tmp_path, mbox_of(msgs))
    assert (result.landed, result.rejected) == (2, 1)
    assert reject["reason"] == "unparseable message (ValueError)"


def test_oversized_message_is_rejected():
    raw = RawMessage(10, b"From x Mon Jan 02 10:11:12 2023", b"Subject: big\n\nxx", 99 << 20, False, True)
    assert "larger than" in gmail_message.parse_message(raw, frozenset())


def test_mime_without_boundaries_or_closing_delimiter(tmp_path):
    head = b"Message-ID: <m@x>\nDate: Mon, 2 Jan 2023 10:00:00 +0000\nContent-Type: multipart/mixed"
    msgs = [
        head + b"\n\nno boundary at all\n",
        head + b'; boundary="zz"\n\nno delimiter either\n',
        head + b'; boundary="zz"\n\n--zz\nContent-Type: text/plain\n\nunclosed\n',
    ]
    _, rows, _ = land_mbox(
        tmp_path, mbox_of(msgs) + b"\n" + ENVELOPE + b"Date: Mon, 2 Jan 2023 10:00:00 +0000\n\nlast\n"
    )
    assert [(r["body_text"], r["flags"]) for r in rows[:3]] == [
        ("no boundary at all", ["mime_malformed"]),
        (None, ["mime_malformed"]),
        ("unclosed", ["mime_unterminated"]),
    ]


def test_parts_deeper_than_the_limit_are_not_followed():
    nested = b"Content-Type: text/plain\n\ndeep\n"
    for depth in range(gmail_mime.MAX_MIME_DEPTH + 5):
        boundary = f"b{depth}".encode()
        nested = (
            b"Content-Type: multipart/mixed; boundary="
            + boundary
            + b"\n\n--"
            + boundary
            + b"\n"
            + nested
            + b"\n--"
            + boundary
            + b"--\n"
        )
    raw = RawMessage(
        0, b"From x Mon Jan 02 10:11:12 2023", b"Date: Mon, 2 Jan 2023 10:00:00 +0000\n" + nested, 0, False
    )
    message = gmail_message.parse_message(raw, frozenset())
    assert message.body_raw is None and "mime_malformed" in message.flags


# --- discover -----------------------------------------------------------------------------------


def test_a_folder_expands_to_its_mbox_files(tmp_path):
    folder = tmp_path / "Takeout" / "Mail"
    folder.mkdir(parents=True)
    for name in ("Inbox.mbox", "Sent.mbox", "notes.txt"):
        (folder / name).write_bytes(mbox_of([b"Subject: x\n\ny\n"]))
    exports = gmail.INGESTER.discover([tmp_path / "Takeout"])
    assert [e.label for e in exports] == ["Mail/Inbox.mbox", "Mail/Sent.mbox"]
    assert all(len(e.files) == 1 and e.root == tmp_path / "Takeout" for e in exports)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="no .mbox files"):
        gmail.INGESTER.discover([tmp_path / "empty"])
    with pytest.raises(ExportError, match="no such file"):
        gmail.INGESTER.discover([tmp_path / "missing.mbox"])


def test_source_refs_of_a_folder_export_name_the_file_inside_it(tmp_path):
    (tmp_path / "Mail").mkdir()
    (tmp_path / "Mail" / "Inbox.mbox").write_bytes(mbox_of([b"Date: Mon, 2 Jan 2023 10:00:00 +0000\n\nx\n"]))
    [export] = gmail.INGESTER.discover([tmp_path])
    result = land(gmail.INGESTER, export, tmp_path / "warehouse", ParseContext("gmail", ME))
    assert pq.read_table(result.path).column("source_ref").to_pylist() == ["Mail/Inbox.mbox@0"]


# --- text helpers -------------------------------------------------------------------------------


def test_html_to_text_drops_what_is_not_shown():
    html = (
        "<html><head><style>p{color:red}</style><title>T</title></head><body>"
        '<div style="display: none">pre<div>header</div>text</div>'
        "<span hidden>also hidden</span><p>First&nbsp;para</p><p>Second<br/>line &amp; more</p>"
        "<!-- comment --><script>alert(1)</script><table><tr><td>a</td><td>b</td></tr></table>"
        '<div style="overflow:hidden">visible</div></body></html>'
    )
    assert html_to_text(html) == "First para\n\nSecond\nline & more\n\na b\n\nvisible"


def test_html_to_text_survives_broken_markup():
    assert html_to_text("<p>open <b>bold <!-- never closed") == "open bold"
    assert html_to_text('<div style="display:none">unclosed hidden') == ""


@pytest.mark.parametrize(
    "charset, encoding, body",
    [
        ("iso-2022-jp", "7bit", "こんにちは、明日の会議は十時からです。"),
        ("Shift_JIS", "8bit", "了解しました。"),
        ("koi8-r", "8bit", "Привет, до завтра!"),
        ("windows-1251", "8bit", "Привет, до завтра!"),
        ("gb2312", "base64", "明天见"),
    ],
)
def test_declared_charsets_decode(tmp_path, charset, encoding, body):
    data = body.encode(charset)
    payload = base64.encodebytes(data) if encoding == "base64" else data
    msg = (
        (
            f"Message-ID: <j@x>\nDate: Mon, 2 Jan 2023 10:00:00 +0000\nSubject: =?ISO-2022-JP?B?GyRCMnE1RBsoQg==?=\n"
            f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {encoding}\n\n"
        ).encode()
        + payload
        + b"\n"
    )
    _, [row], _ = land_mbox(tmp_path, mbox_of([msg]))
    assert (row["body_text"], row["subject"], row["flags"]) == (body, "会議", None)


@pytest.mark.parametrize(
    "raw, text",
    [
        ("=?UTF-8?Q?Caf=C3=A9?= =?UTF-8?Q?_Luna?=", "Café Luna"),
        ("Re: =?iso-8859-1?q?caf=E9?= and more", "Re: café and more"),
        ("=?utf-8?B?8J+Ri8==?=", "👋"),
        ("=?x-bogus?Q?abc?=", "abc"),
        ("=?utf-8?B?@@@?=", ""),
        ("plain =? not encoded", "plain =? not encoded"),
    ],
)
def test_encoded_words(raw, text):
    assert gmail_mime.header_text(raw.encode()) == text


@pytest.mark.parametrize(
    "flowed, delsp, text",
    [
        ("a \nb\n", False, "a b\n"),
        ("a  \nb\n", True, "a b\n"),
        ("> a \n> b\n", False, "> a b\n"),  # RFC 3676 4.5: the continuation's quote marks go
        ("> a \n>> b\n>> c\n", False, "> a \n>> b\n>> c\n"),  # a change of depth ends the paragraph
        (" From x \n ok\n", False, "From x ok\n"),  # space-stuffing
        ("-- \nSam\n", False, "-- \nSam\n"),  # the signature separator is never flowed
    ],
)
def test_format_flowed_is_unwrapped(flowed, delsp, text):
    assert gmail_mime._unflow(flowed, delsp) == text


def test_the_blank_line_before_the_next_from_line_is_not_body(tmp_path):
    msg = b"Subject: a\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n\nx\n"
    _, rows, _ = land_mbox(tmp_path, mbox_of([msg, msg]))
    assert [r["body_raw"] for r in rows] == ["x\n", "x\n"]
    assert rows[0]["message_id"] == rows[1]["message_id"]  # no Message-ID: hashed alike wherever it is


# --- the sample export --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from ingest.samples import export_path, generate
    from ingest.samples.persona import ME_EMAILS

    root = tmp_path_factory.mktemp("sample")
    summary = generate(root / "exports", messages=1500, seed=7, platforms=["gmail"])
    path = export_path(root / "exports", "gmail")
    return root, path, summary.counts["gmail"], Me(emails=ME_EMAILS)


def test_sample_export_lands_without_rejects(sample):
    root, path, count, me = sample
    [export] = gmail.INGESTER.discover([path])
    result = land(gmail.INGESTER, export, root / "warehouse", ParseContext("gmail", me))
    assert (result.landed, result.rejected, result.records_in) == (count, 0, count)
    rows = pq.read_table(result.path).to_pylist()
    quote_marker = re.compile(r"^>|wrote:$|schrieb .*:$|^-----Original Message-----$|^From: .*\n(Sent|Date):", re.M)
    assert not [r["source_ref"] for r in rows if r["body_text"] and quote_marker.search(r["body_text"])]
    assert {r["direction"] for r in rows} == {"inbound", "outbound"}
    assert {"calendar", "email"} <= {r["content_type"] for r in rows}
    assert any(r["is_automated"] for r in rows) and not all(r["is_automated"] for r in rows)
    assert any("forwarded" in (r["flags"] or []) for r in rows)
    assert all(r["conversation_id"].startswith("gmail:") for r in rows)


def test_small_files_and_single_cores_parse_in_one_process(monkeypatch):
    assert gmail._worker_count(gmail.PARALLEL_FROM_BYTES - 1) == 1
    monkeypatch.setattr(gmail.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert gmail._worker_count(1 << 40) == 1
    monkeypatch.setattr(gmail.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert gmail._worker_count(1 << 40) == gmail.MAX_WORKERS


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_land_exactly_what_one_process_lands(sample, monkeypatch, tmp_path, start_method):
    root, path, count, me = sample
    [export] = gmail.INGESTER.discover([path])
    one = land(gmail.INGESTER, export, tmp_path / "one", ParseContext("gmail", me))
    monkeypatch.setattr(gmail, "RANGE_BYTES", 1 << 16)
    monkeypatch.setattr(gmail, "_worker_count", lambda size: 2)
    monkeypatch.setattr(worker_processes, "worker_context", lambda: multiprocessing.get_context(start_method))
    progress = []
    ctx = ParseContext("gmail", me, advance=progress.append)
    many = land(gmail.INGESTER, export, tmp_path / "many", ctx)
    assert pq.read_table(many.path).equals(pq.read_table(one.path))
    assert sum(progress) == path.stat().st_size and many.records_in == count
    assert not [note for note in ctx.notes if "worker processes failed" in note]


# --- property: nothing crashes, nothing is lost -------------------------------------------------

_PIECES = st.sampled_from(
    [
        ENVELOPE,
        b"\n",
        b"\n\n",
        b"Date: Mon, 2 Jan 2023 10:00:00 +0000\n",
        b"Date: garbage\n",
        b"Subject: =?utf-8?B?",
        b"Content-Type: multipart/mixed; boundary=zz\n",
        b"Content-Type: text/html; charset=klingon\n",
        b"Content-Transfer-Encoding: base64\n",
        b"Content-Transfer-Encoding: quoted-printable\n",
        b"--zz\n",
        b"--zz--\n",
        b"<p>hi</p>",
        b"=E9=",
        b"Message-ID: <x@y>\n",
        b"References: <x@y>\n",
        b"On Mon, 2 Jan 2023, A <a@b> wrote:\n",
        b"> quoted\n",
        b"\xff\xfe",
        b"From: a@b\n",
        b"X-Gmail-Labels: Sent\n",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.lists(_PIECES | st.binary(max_size=30), max_size=40).map(lambda p: ENVELOPE + b"".join(p)),
    )
)
def test_arbitrary_bytes_never_crash_and_every_message_is_accounted_for(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.mbox"
        path.write_bytes(data)
        [export] = gmail.INGESTER.discover([path])
        ctx = ParseContext("gmail", ME)
        try:
            items = list(gmail.INGESTER.parse(export, ctx))
        except ExportError as e:
            assert e.path == str(path)
            return
        rows = sum(item.num_rows for item in items if not isinstance(item, Reject))
        rejects = sum(isinstance(item, Reject) for item in items)
        assert ctx.records_in == rows + rejects == data.count(b"\n" + ENVELOPE[:-1]) + data.startswith(ENVELOPE)
