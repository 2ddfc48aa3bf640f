"""The streaming From_-line splitter (ingest/sources/gmail/mbox.py)."""

from __future__ import annotations

import mailbox
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.sources.base import ExportError
from ingest.sources.gmail.mbox import CHUNK_BYTES, FROM_LINE, check_mbox, envelope_timestamp_ms, read_mbox
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "gmail" / "mbox"
TAKEOUT_FROM = b"From 1754093338441234567@xxx Mon Jan 02 10:11:12 +0000 2023\n"
CLASSIC_FROM = b"From alice@example.com Sat Jan  3 01:05:34 1996\n"


def message(subject: str, body: bytes = b"Hello.\n") -> bytes:
    return f"Subject: {subject}\nFrom: a@example.com\n\n".encode() + body


def write(tmp_path: Path, data: bytes, name: str = "t.mbox") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_splits_at_from_lines_with_offsets(tmp_path):
    first, second = message("one"), message("two")
    data = TAKEOUT_FROM + first + b"\n" + CLASSIC_FROM + second
    messages = list(read_mbox(write(tmp_path, data)))
    assert [m.data for m in messages] == [first + b"\n", second]
    assert [m.offset for m in messages] == [0, len(TAKEOUT_FROM) + len(first) + 1]
    assert [m.envelope for m in messages] == [TAKEOUT_FROM.rstrip(), CLASSIC_FROM.rstrip()]
    assert sum(m.size for m in messages) == len(data)
    assert [m.at_eof for m in messages] == [False, True]


def test_mboxrd_quoting_is_undone(tmp_path):
    body = b">From the start\n>>From quoted\nnot >From here\n"
    [m] = read_mbox(write(tmp_path, TAKEOUT_FROM + message("q", body)))
    assert m.data.endswith(b"From the start\n>From quoted\nnot >From here\n")


def test_unescaped_from_in_a_body_does_not_split(tmp_path):
    body = b"Hi,\nFrom 10:00 to 12:00 in 2023 we meet.\nFrom here on, all good.\n"
    [m] = read_mbox(write(tmp_path, TAKEOUT_FROM + message("x", body)))
    assert m.data.endswith(body)


def test_bom_blank_lines_and_crlf(tmp_path):
    data = b"\xef\xbb\xbf\r\n\r\n" + TAKEOUT_FROM.replace(b"\n", b"\r\n") + b"Subject: a\r\n\r\nx\r\n"
    [m] = read_mbox(write(tmp_path, data))
    assert m.offset == 7
    assert m.envelope == TAKEOUT_FROM.rstrip()
    assert m.data == b"Subject: a\r\n\r\nx\r\n"


def test_empty_file_has_no_messages(tmp_path):
    assert list(read_mbox(write(tmp_path, b""))) == []
    assert list(read_mbox(write(tmp_path, b"\n\n  \n"))) == []


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"Subject: not an mbox\n\nhello\n", "not an mbox"),
        (bytes(range(256)) * 4, "not an mbox"),
        (b"PK\x03\x04" + b"\0" * 100, "zip archive"),
        (b"\x1f\x8b\x08" + b"\0" * 100, "gzip"),
    ],
)
def test_not_an_mbox(tmp_path, data, problem):
    path = write(tmp_path, b"\n" + data if problem == "not an mbox" else data)
    with pytest.raises(ExportError) as err:
        list(read_mbox(path))
    assert problem in str(err.value) and str(path) in str(err.value)
    assert err.value.position == (1 if problem == "not an mbox" else 0)
    with pytest.raises(ExportError):
        check_mbox(path)


@pytest.mark.parametrize("chunk", [7, 61, 4096])
def test_chunk_boundaries_do_not_matter(tmp_path, chunk):
    data = b"".join(TAKEOUT_FROM + message(f"m{i}", b"From me\n>From you\n" * i) + b"\n" for i in range(30))
    path = write(tmp_path, data)
    assert [(m.offset, m.data) for m in read_mbox(path, chunk_bytes=chunk)] == [
        (m.offset, m.data) for m in read_mbox(path)
    ]


def test_oversized_message_keeps_its_head_and_the_rest_lands(tmp_path):
    big = message("big", b"x" * 300_000 + b"\n")
    data = TAKEOUT_FROM + message("a") + b"\n" + TAKEOUT_FROM + big + b"\n" + TAKEOUT_FROM + message("c")
    messages = list(read_mbox(write(tmp_path, data), chunk_bytes=10_000, max_message=100_000))
    assert [m.oversized for m in messages] == [False, True, False]
    assert messages[1].data.startswith(b"Subject: big")
    assert len(messages[1].data) < 100_000
    assert messages[2].data == message("c")
    assert messages[2].offset == data.rindex(TAKEOUT_FROM)
    assert sum(m.size for m in messages) == len(data)


def test_final_message_without_newline_is_incomplete(tmp_path):
    [m] = read_mbox(write(tmp_path, TAKEOUT_FROM + b"Subject: cut\n\nhalf a sent"))
    assert not m.complete


def test_progress_counts_every_byte(tmp_path):
    data = b"".join(TAKEOUT_FROM + message(str(i)) for i in range(100))
    seen = []
    list(read_mbox(write(tmp_path, data), seen.append, chunk_bytes=1000))
    assert sum(seen) == len(data)


def test_envelope_dates():
    assert envelope_timestamp_ms(TAKEOUT_FROM.rstrip()) == 1672654272000
    assert envelope_timestamp_ms(CLASSIC_FROM.rstrip()) == 820631134000
    assert envelope_timestamp_ms(b"From x Mon Jan 02 10:11:12 -0130 2023") == 1672654272000 + 5400_000
    assert envelope_timestamp_ms(b"From x Mon Foo 02 10:11:12 2023") is None
    assert FROM_LINE.match(b"From - Sat Jan 03 10:11:12 2015")
    assert not FROM_LINE.match(b"From 10:00 to 12:00 in 2023")
    assert envelope_timestamp_ms(b"From goran at domain.com  Wed Dec  1 08:26:40 2010") == 1291192000000


@pytest.mark.parametrize(
    "line",
    [
        b"From goran at domain.com  Wed Dec  1 08:26:40 2010",
        b'From "J\xc3\xb6rg M\xc3\xbcller" <j@example.de> Thu Dec  2 10:00:00 +0100 2010',
        b"From j\xf6rg m\xfcller Thu Dec 02 10:00 2010",
        b"From - Wed Dec  1 08:26:40 2010",
    ],
)
def test_envelope_lines_with_spaces_or_other_bytes_in_the_sender(line):
    assert FROM_LINE.match(line)


@pytest.mark.parametrize(
    "line",
    [
        b"From Jan 3 10:00 2023 on, the office is closed",
        b"From what I heard on Dec 1 08:26 the build broke",
        b"From the meeting on Wed Dec  1 08:26 we know more",
    ],
)
def test_prose_from_lines_are_not_envelopes(line):
    assert not FROM_LINE.match(line)


def mailbox_split(path: Path, tmp_path: Path) -> list[bytes]:
    """The envelope lines `mailbox.mbox` starts its messages at (on a copy: it opens files rb+)."""
    copy = tmp_path / "copy.mbox"
    shutil.copyfile(path, copy)
    box = mailbox.mbox(copy, create=False)
    try:
        return [box.get_bytes(key, from_=True).split(b"\n", 1)[0].rstrip(b"\r") for key in box.keys()]
    finally:
        box.close()


@pytest.mark.parametrize(
    "name, count",
    [
        ("non_ascii_envelope.mbox", 3),
        ("thunderbird/Inbox", 2),
        ("undated_envelopes.mbox", 2),
    ],
)
def test_envelope_forms_split_as_mailbox_splits_them(tmp_path, name, count):
    path = FIXTURES / name
    for chunk in (16, CHUNK_BYTES):
        messages = list(read_mbox(path, chunk_bytes=chunk))
        assert [m.envelope for m in messages] == mailbox_split(path, tmp_path)
        assert len(messages) == count and sum(m.size for m in messages) == path.stat().st_size
    half = path.stat().st_size // 2
    assert [m.offset for m in read_mbox(path, stop=half)] + [m.offset for m in read_mbox(path, start=half)] == [
        m.offset for m in messages
    ]


def test_mailman_archive_keeps_its_unescaped_from_body_line(tmp_path):
    """Pipermail archives do not escape body lines: `mailbox` splits at "From what I can tell";
    that line has no date, so here it stays in its message."""
    path = FIXTURES / "mailman-2010-December.txt"
    messages = list(read_mbox(path))
    assert [m.envelope for m in messages] == [
        line for line in mailbox_split(path, tmp_path) if not line.startswith(b"From what")
    ]
    assert len(messages) == 3 and b"\nFrom what I can tell" in messages[0].data
    assert [envelope_timestamp_ms(m.envelope) for m in messages] == [1291192000000, 1291194131000, 1291284900000]


@pytest.mark.parametrize(
    "name, problem",
    [
        ("not_mbox_single_message.eml", "does not start with a 'From ' envelope line"),
        ("not_mbox_letter.txt", "no mail header follows the 'From ' line"),
    ],
)
def test_fixtures_that_are_not_mboxes(name, problem):
    path = FIXTURES / name
    for read in (check_mbox, lambda p: list(read_mbox(p)), lambda p: list(read_mbox(p, start=10))):
        with pytest.raises(ExportError) as err:
            read(path)
        assert problem in str(err.value) and str(path) in str(err.value) and err.value.position == 0
        assert "Dear Sam" not in str(err.value) and "lone message" not in str(err.value)


@st.composite
def mbox_files(draw):
    """A valid start, then a mix of envelope lines, header-ish lines and arbitrary bytes."""
    pieces = st.sampled_from(
        [TAKEOUT_FROM, CLASSIC_FROM, b"\n", b"From x\n", b">From y\n", b"Subject: s\n", b"\r\n", b"From ", b"\n\n"]
    ) | st.binary(max_size=40)
    return TAKEOUT_FROM + b"".join(draw(st.lists(pieces, max_size=40)))


@settings(max_examples=200, deadline=None)
@given(mbox_files(), st.integers(min_value=1, max_value=300), st.data())
def test_messages_tile_the_file_and_ranges_agree(data, chunk, draw):
    """Message sizes add up to the file (nothing lost), and reading byte ranges in pieces yields
    exactly the messages of one sequential read, whatever the cut points."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), data)
        whole = [(m.offset, m.data) for m in read_mbox(path, chunk_bytes=chunk)]
        assert sum(m.size for m in read_mbox(path)) == len(data)
        cuts = sorted(set(draw.draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=5))))
        bounds = [0, *cuts, len(data)]
        pieces = [
            (m.offset, m.data)
            for start, stop in zip(bounds, bounds[1:])
            for m in read_mbox(path, start=start, stop=stop, chunk_bytes=chunk)
        ]
        assert pieces == whole


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), data)
        try:
            messages = list(read_mbox(path, chunk_bytes=64))
        except ExportError as e:
            assert e.path == str(path)
        else:
            assert sum(m.size for m in messages) == len(data.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")) or not messages


_NO_NEWLINE = st.binary(max_size=30).filter(lambda b: b"\n" not in b)


@st.composite
def envelope_lines(draw):
    """An envelope line as some writer puts it: any sender (spaces and non-ASCII bytes included),
    one or two spaces, then an asctime date."""
    day = draw(st.sampled_from([b"%d", b"%2d", b"%02d"])) % draw(st.integers(1, 31))
    date = b"%s %s %s %02d:%02d:%02d%s %d" % (
        draw(st.sampled_from([b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"])),
        draw(st.sampled_from([b"Jan", b"Feb", b"Mar", b"Jun", b"Sep", b"Dec"])),
        day,
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 60)),
        draw(st.sampled_from([b"", b" +0000", b" -0130"])),
        draw(st.integers(1970, 2100)),
    )
    return b"From " + draw(_NO_NEWLINE) + draw(st.sampled_from([b" ", b"  "])) + date


_BODY_LINE = (
    st.sampled_from([b"Subject: s", b"", b"hello", b">From quoted", b" From indented", b"From: a@b", b"Fromage", b"\r"])
    | _NO_NEWLINE
)
_FROM_BODY_LINE = st.builds(lambda rest: b"From " + rest, _NO_NEWLINE)


@st.composite
def mailbox_files(draw):
    """Messages whose envelope lines all carry a date and whose bodies have no line starting with
    "From " (mboxrd-escaped, as Takeout writes them); or, after an undated first envelope line,
    anything at all."""
    undated = draw(st.booleans())
    if undated:
        first = b"From " + draw(_NO_NEWLINE)
        assume(not FROM_LINE.match(first))
        envelopes = [first] + draw(st.lists(_FROM_BODY_LINE, max_size=4))
        body_lines = st.lists(_BODY_LINE | _FROM_BODY_LINE, max_size=6)
    else:
        envelopes = draw(st.lists(envelope_lines(), min_size=1, max_size=5))
        body_lines = st.lists(_BODY_LINE.filter(lambda line: not line.startswith(b"From ")), max_size=6)
    messages = [
        envelope + b"\nSubject: s\n" + b"".join(line + b"\n" for line in draw(body_lines)) for envelope in envelopes
    ]
    return b"\n".join(messages)


@settings(max_examples=200, deadline=None)
@given(mailbox_files(), st.integers(min_value=1, max_value=300))
def test_every_envelope_mailbox_splits_at_is_split_at(data, chunk):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), data)
        assert [m.envelope for m in read_mbox(path, chunk_bytes=chunk)] == mailbox_split(path, Path(tmp))
