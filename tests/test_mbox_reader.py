"""The streaming From_-line splitter (ingest/mbox_reader.py)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.base import ExportError
from ingest.mbox_reader import FROM_LINE, check_mbox, envelope_timestamp_ms, read_mbox

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


@pytest.mark.parametrize("data, problem", [
    (b"Subject: not an mbox\n\nhello\n", "not an mbox"),
    (bytes(range(256)) * 4, "not an mbox"),
    (b"PK\x03\x04" + b"\0" * 100, "zip archive"),
    (b"\x1f\x8b\x08" + b"\0" * 100, "gzip"),
])
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
    assert [(m.offset, m.data) for m in read_mbox(path, chunk_bytes=chunk)] == \
           [(m.offset, m.data) for m in read_mbox(path)]


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


@st.composite
def mbox_files(draw):
    """A valid start, then a mix of envelope lines, header-ish lines and arbitrary bytes."""
    pieces = st.sampled_from([TAKEOUT_FROM, CLASSIC_FROM, b"\n", b"From x\n", b">From y\n", b"Subject: s\n",
                              b"\r\n", b"From ", b"\n\n"]) | st.binary(max_size=40)
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
        pieces = [(m.offset, m.data) for start, stop in zip(bounds, bounds[1:])
                  for m in read_mbox(path, start=start, stop=stop, chunk_bytes=chunk)]
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
            assert sum(m.size for m in messages) == len(data.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")) \
                or not messages
