"""Properties of the WhatsApp ingester: no input crashes it, and every line of a chat ends up in
exactly one landed message or one reject, whatever the block size."""

import re
import tempfile
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import example, given
from hypothesis import strategies as st

from ingest import landing
from ingest.core.identity import Me
from ingest.sources.base import ExportError, ParseContext
from ingest.sources.whatsapp import ingester as whatsapp
from ingest.sources.whatsapp.content import classify
from ingest.sources.whatsapp.ingester import INGESTER
from tests.support.fuzzing import examples

NAME = "WhatsApp Chat with Alex Morgan.txt"
SETTINGS = examples(60)

# Header lines of one variant, with real and impossible dates and times, and text that may look
# like a header of another variant or hold markers.
days, months, hours = st.integers(1, 35), st.integers(1, 14), st.integers(0, 26)
years = st.sampled_from(["2023", "23", "1970", "1969", "9999", "0000"])
senders = st.sampled_from(["Alex Morgan", "Robin Vale", "~\u00a0Jamie", "+44 7700 900123", "\u200eSam"])
line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=40)
markers = st.sampled_from(
    [
        "<Media omitted>",
        "This message was deleted",
        "x <This message was edited>",
        "\u200eimage omitted",
        "location: https://maps.google.com/?q=1,2",
        "POLL:",
        "12/03/2023, 14:05 Alex: not a header here",
        "[12/03/2023, 14:05:00] iOS-looking",
    ]
)


@st.composite
def header(draw):
    d, m, h, y = draw(days), draw(months), draw(hours), draw(years)
    who = draw(st.none() | senders)
    text = draw(line_text | markers)
    return f"{d:02d}/{m:02d}/{y}, {h:02d}:{draw(st.integers(0, 59)):02d} - " + (f"{who}: {text}" if who else text)


chat_lines = st.lists(header() | line_text | markers | st.just(""), min_size=1, max_size=40)


def land_text(data: bytes):
    """Land data as a chat file; (rows, rejects) or None when it is rejected as no chat at all."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / NAME
        path.write_bytes(data)
        ctx = ParseContext("whatsapp", Me(names=("Robin Vale",)), timezone="Europe/London")
        try:
            result = landing.land(INGESTER, INGESTER.discover([path])[0], Path(tmp) / "wh", ctx)
        except ExportError as e:
            assert NAME in str(e)
            return None
        rows = pq.read_table(result.path).to_pylist()
        rejects = pq.read_table(result.reject_path).to_pylist() if result.reject_path else []
        return rows, rejects


def covered_lines(rows, rejects) -> list[int]:
    """Line numbers each record claims: messages from their first line and body, rejects by range."""
    lines = []
    for r in rows:
        first = int(r["source_ref"].rsplit(":", 1)[1])
        lines += range(first, first + r["body_raw"].count("\n") + 1)
    for r in rejects:
        span = re.fullmatch(r".*:(\d+)(?:-(\d+))?", r["source_ref"])
        first = int(span[1])
        lines += range(first, int(span[2] or first) + 1)
        assert r["raw"].count("\n") == int(span[2] or first) - first
    return sorted(lines)


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text):
    land_text(text.encode())


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data):
    land_text(data)


# Found by the property below: identical system lines in one minute, either side of a batch whose time
# is later, got the same message_id when read in blocks (the ordinals only carried the last time).
REPEATS_AROUND_A_LATER_TIME = (
    ["01/01/2023, 00:00 - "] * 3 + ["01/01/2023, 00:01 - Alex Morgan: "] + ["01/01/2023, 00:00 - "] * 2
)


@SETTINGS
@given(chat_lines, st.sampled_from([64, 128, 1 << 20]), st.sampled_from([200, 1 << 20]), st.booleans())
@example(REPEATS_AROUND_A_LATER_TIME, 64, 200, False)
# a "sender" of marks and `~` alone is no name: the line is a system line, not a message from ""
@example(["12/03/2023, 14:05 - \u200e~\u00a0: hi", "12/03/2023, 14:06 - Alex Morgan: ok"], 1 << 20, 1 << 20, False)
def test_every_line_lands_in_exactly_one_record(lines, block, max_message, crlf):
    """block: 1 MiB reads the file as one block, smaller sizes survey it and read it in blocks."""
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    with patch.multiple(whatsapp, SINGLE_BLOCK_BYTES=block, BLOCK_BYTES=block, MAX_MESSAGE_BYTES=max_message):
        landed = land_text(text.encode())
    if landed is None:  # no header among the lines: the file is refused as a whole
        assert not any(re.match(r"\d\d/\d\d/\d+, \d\d:\d\d - ", line) for line in lines)
        return
    rows, rejects = landed
    assert covered_lines(rows, rejects) == list(range(1, len(lines) + 1))
    assert all(r["content_type"] == "system" or r["sender"] for r in rows)
    # distinct messages never share an id; identical ones (same time, sender and text) may only when
    # more than REPEAT_WINDOW_SECONDS out of time order (ingester._MessageIds)
    by_id = {}
    for r in rows:
        by_id.setdefault(r["message_id"], set()).add((r["timestamp_ms"], r["sender"], r["body_raw"]))
    assert all(len(same) == 1 for same in by_id.values())


# Pieces of marker strings, to be glued to each other and to random text.
fragments = st.sampled_from(
    [
        "<Media omitted>",
        "<Medien ausgeschlossen>",
        "image omitted",
        "Kontaktkarte ausgelassen",
        "\u200e",
        "\u200f",
        "This message was deleted",
        "Du hast diese Nachricht gelöscht",
        "deleted",
        " <This message was edited>",
        "<Diese Nachricht wurde bearbeitet.>",
        "location: https://maps.google.com/?q=1,2",
        "POLL:",
        "\n",
        " ",
        "\u00a0",
        "IMG-20230313-WA0004.jpg (file attached)",
        "<attached: 00000003-PHOTO-x.jpg>",
        "Missed voice call",
        "view once",
        "Trip.pdf • 3 pages document omitted",
        "LOCATION: http://x",
        "\t",
    ]
)
message_texts = st.lists(fragments | st.text(max_size=8), max_size=5).map("".join)


@SETTINGS
@given(st.lists(message_texts, min_size=1, max_size=20))
# texts that only look like markers once spaces or marks are stripped: plain text on both paths
@example(["\u00a0location: https://maps.google.com/?q=1,2", "POLL\u200e:"])
def test_vectorised_content_types_agree_with_per_message_classification(texts):
    content, body_text, edited = whatsapp._contents(pa.array(texts, pa.string()), np.zeros(len(texts), dtype=bool))
    expected = [classify(t) for t in texts]
    assert content.cast(pa.string()).to_pylist() == [kind for kind, _, _ in expected]
    assert body_text.to_pylist() == [body for _, body, _ in expected]
    assert edited.tolist() == [e for _, _, e in expected]


# One day of a chat, few distinct messages: repeats of the same minute, sender and text, in any order.
one_day_lines = st.lists(
    st.builds(
        "01/01/2023, {:02d}:{:02d} - {}".format,
        st.integers(0, 23),
        st.sampled_from([0, 1]),
        st.sampled_from(["", "Alex Morgan: hi", "Robin Vale: hi", "Robin Vale: 👍"]),
    ),
    min_size=1,
    max_size=30,
)


@SETTINGS
@given(one_day_lines, st.sampled_from([64, 128]))
@example(REPEATS_AROUND_A_LATER_TIME, 64)
def test_message_ids_do_not_depend_on_the_block_size(lines, block):
    """A longer re-export is read in other blocks than a short one: the ids must be the same, and
    identical messages of one day get ids of their own."""
    text = ("\n".join(lines) + "\n").encode()
    whole = land_text(text)
    with patch.multiple(whatsapp, SINGLE_BLOCK_BYTES=block, BLOCK_BYTES=block):
        blocks = land_text(text)
    if whole is None:
        assert blocks is None
        return
    assert [r["message_id"] for r in blocks[0]] == [r["message_id"] for r in whole[0]]
    assert len({r["message_id"] for r in whole[0]}) == len(whole[0])
