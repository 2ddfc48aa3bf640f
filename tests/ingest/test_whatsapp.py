"""WhatsApp ingester: one fixture per export variant, with golden records, plus the error paths."""

import calendar
import datetime as dt
import itertools
import shutil
import struct
import zipfile
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest import landing
from ingest.core.identity import Me
from ingest.sources.base import ExportError, ParseContext
from ingest.sources.whatsapp import ingester as whatsapp
from ingest.sources.whatsapp.content import classify, is_ios_system_line
from ingest.sources.whatsapp.files import chat_title
from ingest.sources.whatsapp.headers import SAMPLE_LINES, detect_variant, scan_block
from ingest.sources.whatsapp.ingester import INGESTER
from ingest.sources.whatsapp.timestamps import LocalClock, epoch_days, infer_date_order, seconds_of_day
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "whatsapp"
ME = Me(names=("Robin Vale", "Robin"))


def utc(y, mo, d, h, mi, s=0) -> int:
    return calendar.timegm((y, mo, d, h, mi, s)) * 1000


def ingest(path: Path, tmp_path: Path, tz="Europe/London", order=None, me=ME):
    """Land every export found at path; returns [(result, rows, rejects, ctx)]."""
    out = []
    for export in INGESTER.discover([path]):
        ctx = ParseContext("whatsapp", me, timezone=tz, date_order=order)
        result = landing.land(INGESTER, export, tmp_path / "warehouse", ctx)
        rows = pq.read_table(result.path).to_pylist()
        rejects = pq.read_table(result.reject_path).to_pylist() if result.reject_path else []
        out.append((result, rows, rejects, ctx))
    return out


def one(path: Path, tmp_path: Path, **kw):
    (landed,) = ingest(path, tmp_path, **kw)
    return landed


def golden(rows):
    return [
        (r["sender"], r["timestamp_ms"], r["direction"], r["content_type"], r["body_text"], r["is_edited"])
        for r in rows
    ]


def test_android_en_gb(tmp_path):
    # Europe/London is on GMT until 26 March 2023: each header's local time is its UTC time.
    result, rows, rejects, ctx = one(FIXTURES / "android_gb", tmp_path)
    assert golden(rows) == [
        (
            None,
            utc(2023, 3, 12, 14, 5),
            "inbound",
            "system",
            "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read "
            "or listen to them. Tap to learn more.",
            False,
        ),
        ("Alex Morgan", utc(2023, 3, 12, 14, 5), "inbound", "text", "Are we still on for 7?", False),
        (
            "Robin Vale",
            utc(2023, 3, 12, 14, 6),
            "outbound",
            "text",
            "yes! see you at the station\nbring the tickets",
            False,
        ),
        ("Alex Morgan", utc(2023, 3, 12, 14, 7), "inbound", "file", None, False),
        ("Robin Vale", utc(2023, 3, 12, 14, 8), "outbound", "deleted", None, False),
        ("Alex Morgan", utc(2023, 3, 12, 14, 9), "inbound", "text", "Running late: 10 mins", True),
        ("Robin Vale", utc(2023, 3, 13, 9, 15), "outbound", "photo", "the view from here", False),
        ("Alex Morgan", utc(2023, 3, 13, 9, 16), "inbound", "location", None, False),
        (
            "Alex Morgan",
            utc(2023, 3, 13, 9, 17),
            "inbound",
            "poll",
            "Pizza or tacos?\nOPTION: Pizza (1 vote)\nOPTION: Tacos (0 votes)",
            False,
        ),
        ("Alex Morgan", utc(2023, 3, 13, 9, 18), "inbound", "view_once", None, False),
    ]
    assert rejects == []
    name = "WhatsApp Chat with Alex Morgan.txt"
    # the fixture's header lines; 4, 9 and 12-14 continue the message above them
    assert [r["source_ref"] for r in rows] == [f"{name}:{n}" for n in (1, 2, 3, 5, 6, 7, 8, 10, 11, 15)]
    assert {r["conversation_title"] for r in rows} == {"Alex Morgan"}
    assert {tuple(r["participants"]) for r in rows} == {("Alex Morgan", "Robin Vale")}
    assert rows[6]["body_raw"] == "IMG-20230313-WA0004.jpg (file attached)\nthe view from here"
    assert rows[5]["body_raw"] == "Running late: 10 mins <This message was edited>"
    assert any("date order dmy (inferred" in n for n in ctx.notes)
    assert any("one-to-one chat" in n for n in ctx.notes)


def test_android_en_us_twelve_hour_clock_with_narrow_nbsp_and_fixed_offset(tmp_path):
    _, rows, _, ctx = one(FIXTURES / "android_us", tmp_path, tz="-04:00")
    behind = 4  # local time is UTC-04:00, so UTC is 4 hours later (utc() carries 27 h into the next day)
    assert golden(rows) == [
        ("Sam Lee", utc(2023, 3, 14, 9 + behind, 41), "inbound", "text", "morning!", False),  # 9:41 AM
        ("Robin", utc(2023, 3, 14, 12 + behind, 0), "outbound", "text", "lunch?", False),  # 12:00 PM is noon
        ("Sam Lee", utc(2023, 3, 15, 0 + behind, 30), "inbound", "text", "can't sleep", False),  # 12:30 AM
        ("Robin", utc(2023, 3, 15, 13 + behind, 5), "outbound", "deleted", None, False),  # 1:05 PM
        ("Sam Lee", utc(2023, 3, 15, 23 + behind, 59), "inbound", "file", None, False),  # 11:59 PM
    ]
    assert any("date order mdy (inferred" in n and "-04:00" in n for n in ctx.notes)


def test_android_de_german_strings(tmp_path):
    _, rows, _, _ = one(FIXTURES / "android_de", tmp_path, tz="Europe/Berlin")
    cet = 1  # Berlin is on UTC+01:00 in mid-March (summer time starts on the 26th)
    notice = (
        "Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand außerhalb dieses Chats, nicht einmal "
        "WhatsApp, kann sie lesen oder anhören. Tippe, um mehr zu erfahren."
    )
    assert [(r["sender"], r["timestamp_ms"], r["content_type"], r["body_text"], r["is_edited"]) for r in rows] == [
        (None, utc(2023, 3, 13, 8 - cet, 0), "system", notice, False),
        ("Lukas Becker", utc(2023, 3, 13, 8 - cet, 1), "text", "Guten Morgen: alles klar?", False),
        ("Robin", utc(2023, 3, 13, 8 - cet, 2), "file", None, False),
        ("Lukas Becker", utc(2023, 3, 13, 8 - cet, 3), "deleted", None, False),
        ("Robin", utc(2023, 3, 13, 8 - cet, 4), "deleted", None, False),
        ("Lukas Becker", utc(2023, 3, 13, 8 - cet, 5), "text", "bis später", True),
    ]
    assert rows[0]["body_raw"] == notice
    assert {r["conversation_title"] for r in rows} == {"Lukas Becker"}


# The headers' local times in Europe/London, on GMT in mid-March: UTC is the local time.
IOS_GOLDEN = [
    (
        None,
        utc(2023, 3, 12, 18, 29, 58),
        "inbound",
        "system",
        "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or "
        "listen to them.",
        False,
    ),
    ("Priya Shah", utc(2023, 3, 12, 18, 30, 1), "inbound", "text", "Did you get home ok?", False),
    ("Robin Vale", utc(2023, 3, 12, 18, 30, 5), "outbound", "photo", None, False),
    ("Priya Shah", utc(2023, 3, 12, 18, 31, 10), "inbound", "photo", None, False),
    ("Priya Shah", utc(2023, 3, 12, 18, 31, 12), "inbound", "sticker", None, False),
    ("Robin Vale", utc(2023, 3, 12, 18, 31, 20), "outbound", "gif", None, False),
    ("Priya Shah", utc(2023, 3, 12, 18, 32), "inbound", "video", None, False),
    ("Robin Vale", utc(2023, 3, 12, 18, 32, 30), "outbound", "audio", None, False),
    ("Priya Shah", utc(2023, 3, 12, 18, 33), "inbound", "contact", None, False),
    ("Priya Shah", utc(2023, 3, 12, 18, 34), "inbound", "file", None, False),
    ("Robin Vale", utc(2023, 3, 12, 18, 35), "outbound", "text", "home now, thanks", True),
    ("Priya Shah", utc(2023, 3, 12, 18, 36), "inbound", "deleted", None, False),
    (None, utc(2023, 3, 12, 18, 40), "inbound", "system", "Missed voice call", False),  # a system line
    ("Priya Shah", utc(2023, 3, 13, 7, 0), "inbound", "location", None, False),
]


def test_ios_zip_export(tmp_path):
    zip_path = FIXTURES / "ios_zip" / "WhatsApp Chat - Priya Shah.zip"
    result, rows, rejects, ctx = one(zip_path, tmp_path)
    assert golden(rows) == IOS_GOLDEN and rejects == []
    assert rows[0]["source_ref"] == "WhatsApp Chat - Priya Shah.zip!_chat.txt:1"
    assert {r["conversation_title"] for r in rows} == {"Priya Shah"}
    assert {tuple(r["participants"]) for r in rows} == {("Priya Shah", "Robin Vale")}  # the jpg is ignored
    assert any("iOS headers" in n for n in ctx.notes)


def test_zip_and_unzipped_export_of_one_chat_give_the_same_ids(tmp_path):
    ((_, zipped, _, _),) = ingest(FIXTURES / "ios_zip" / "WhatsApp Chat - Priya Shah.zip", tmp_path)
    ((_, unzipped, _, _),) = ingest(FIXTURES / "ios_zip" / "WhatsApp Chat - Priya Shah", tmp_path)
    assert unzipped[0]["source_ref"] == "WhatsApp Chat - Priya Shah/_chat.txt:1"
    for key in ("conversation_id", "message_id", "timestamp_ms", "body_raw"):
        assert [r[key] for r in zipped] == [r[key] for r in unzipped]
    assert len({r["message_id"] for r in zipped}) == len(zipped)


def test_ios_group_system_lines_unsaved_contacts_and_phone_numbers(tmp_path):
    _, rows, _, ctx = one(FIXTURES / "ios_group", tmp_path, tz="America/New_York")
    edt = 4  # US summer time began on 12 March 2023: EDT is UTC-04:00, 6:00 PM is 18 + 4 h UTC
    assert [(r["sender"], r["timestamp_ms"], r["content_type"], r["body_text"]) for r in rows] == [
        (None, utc(2023, 3, 14, 18 + edt, 0), "system", "Robin Vale created group “Weekend Crew”"),
        (None, utc(2023, 3, 14, 18 + edt, 0, 1), "system", "Robin Vale added Sam Lee"),
        (None, utc(2023, 3, 14, 18 + edt, 0, 2), "system", "Robin Vale added ~\u00a0Jamie"),
        (
            None,
            utc(2023, 3, 14, 18 + edt, 1),
            "system",
            "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read "
            "or listen to them.",
        ),
        ("Sam Lee", utc(2023, 3, 14, 18 + edt, 2), "text", "who's bringing the tent?"),
        ("Jamie", utc(2023, 3, 14, 18 + edt, 3), "text", "me: I have a 4-person one"),
        ("+44 7700 900123", utc(2023, 3, 14, 18 + edt, 4, 15), "text", "I can drive"),
        (None, utc(2023, 3, 14, 18 + edt, 5), "system", "Sam Lee changed the subject to “Weekend Crew 🏕️”"),
        (None, utc(2023, 3, 14, 18 + edt, 6), "system", "~\u00a0Jamie left"),
        ("Robin Vale", utc(2023, 3, 14, 18 + edt, 7), "text", "see you all saturday"),
        (None, utc(2023, 3, 14, 18 + edt, 8), "system", "Your security code with Sam Lee changed. Tap to learn more."),
        (None, utc(2023, 3, 14, 23 + edt, 9), "system", "Missed group video call"),  # 11:09 PM: 03:09 UTC next day
    ]
    assert rows[0]["participants"] == ["+44 7700 900123", "Jamie", "Robin Vale", "Sam Lee"]
    assert {r["conversation_title"] for r in rows} == {"Weekend Crew"}
    assert [r["direction"] for r in rows if r["sender"] == "Robin Vale"] == ["outbound"]
    assert any("group chat, 4 participants" in n for n in ctx.notes)


@pytest.mark.parametrize(
    "folder, expected",
    [
        ("ymd", [("Erik Svensson", utc(2023, 3, 12, 14, 5), "Hej!"), ("Robin", utc(2023, 3, 12, 14, 6), "hej hej")]),
        (
            "finnish",
            [("Aino Virtanen", utc(2023, 3, 13, 9, 0), "Moi!"), ("Robin", utc(2023, 3, 13, 21, 45), "hyvää yötä")],
        ),
        (
            "spanish",
            [
                ("Lucía Gómez", utc(2023, 3, 14, 9, 5), "¡Hola!"),  # 9:05 a. m.
                ("Robin", utc(2023, 3, 14, 2 + 12, 5), "hola"),  # 2:05 p. m.
                ("Lucía Gómez", utc(2023, 3, 14, 0, 10), "medianoche"),  # 12:10 a. m. is ten past midnight
            ],
        ),
        (
            "dash_bidi",
            [("Noor Haddad", utc(2023, 3, 13, 14, 5), "مرحبا"), ("Robin", utc(2023, 3, 13, 14, 6), "hi Noor")],
        ),
        (
            "trailing_dot",
            [("Ivana Horvat", utc(2023, 3, 13, 14, 5), "Bok!"), ("Robin", utc(2023, 3, 13, 14, 6), "bok")],
        ),
        (
            "lowercase_ampm",
            [("Chris Doe", utc(2023, 2, 13, 9, 5), "early"), ("Chris Doe", utc(2023, 2, 13, 9 + 12, 5), "late")],
        ),
    ],
)
def test_header_variants(tmp_path, folder, expected):
    _, rows, rejects, _ = one(FIXTURES / folder, tmp_path, tz="UTC")
    assert [(r["sender"], r["timestamp_ms"], r["body_text"]) for r in rows] == expected
    assert rejects == []
    assert [r["direction"] for r in rows] == ["outbound" if s == "Robin" else "inbound" for s, _, _ in expected]


def test_ambiguous_dates_use_the_configured_order_else_the_clock_style(tmp_path):
    _, rows, _, ctx = one(FIXTURES / "ambiguous", tmp_path, tz="UTC")
    assert [r["timestamp_ms"] for r in rows] == [utc(2023, 4, 3, 10, 0), utc(2023, 4, 5, 11, 0)]
    assert any("date order dmy (dates ambiguous, assumed from the clock style)" in n for n in ctx.notes)
    _, rows, _, ctx = one(FIXTURES / "ambiguous", tmp_path, tz="UTC", order="mdy")
    assert [r["timestamp_ms"] for r in rows] == [utc(2023, 3, 4, 10, 0), utc(2023, 5, 4, 11, 0)]
    assert any("date order mdy (dates ambiguous, configured order used)" in n for n in ctx.notes)


def test_configured_order_does_not_override_a_decided_file(tmp_path):
    _, rows, _, ctx = one(FIXTURES / "android_gb", tmp_path, tz="UTC", order="mdy")
    assert rows[1]["timestamp_ms"] == utc(2023, 3, 12, 14, 5)
    assert any("date order dmy (inferred" in n for n in ctx.notes)


def test_preamble_and_malformed_headers_become_rejects_with_line_numbers(tmp_path):
    result, rows, rejects, _ = one(FIXTURES / "malformed", tmp_path)
    name = "WhatsApp Chat with Dana Scully.txt"
    assert [(r["source_ref"], r["body_text"]) for r in rows] == [
        (f"{name}:3", "hello"),
        (f"{name}:7", "after the bad ones"),
    ]
    assert [(r["source_ref"], r["reason"], r["raw"]) for r in rejects] == [
        (
            f"{name}:1-2",
            "text before the first message header",
            "This chat was exported from an old phone.\nKeep it safe.",
        ),
        (
            f"{name}:4-5",
            "invalid date or time in message header",
            "31/02/2023, 14:06 - Dana Scully: impossible date\nwith a second line",
        ),
        (f"{name}:6", "invalid date or time in message header", "12/03/2023, 25:00 - Dana Scully: impossible hour"),
    ]
    assert result.records_in == 5 and result.landed == 2 and result.rejected == 3
    assert all("impossible" not in r["reason"] for r in rejects)  # no message text in reasons


def test_dates_outside_plausible_years_are_rejects(tmp_path):
    chat = tmp_path / "WhatsApp Chat with Alex Morgan.txt"
    chat.write_text(
        "31/12/9999, 10:00 - Alex Morgan: far future\n31/12/1969, 10:00 - Alex Morgan: before 1970\n"
        "01/01/1970, 00:00 - Alex Morgan: clock reset\n"
    )
    ((result, rows, rejects, _),) = ingest(chat, tmp_path, tz="UTC")
    assert [r["source_ref"][-2:] for r in rejects] == [":1", ":2"]
    assert [r["timestamp_ms"] for r in rows] == [0]


def test_crlf_line_ends_are_dropped(tmp_path):
    _, rows, _, _ = one(FIXTURES / "crlf", tmp_path)
    assert [r["body_raw"] for r in rows] == ["line one\nline two", "ok"]


def test_dst_europe_london_both_switches(tmp_path):
    _, rows, _, _ = one(FIXTURES / "dst", tmp_path, tz="Europe/London")
    assert [r["timestamp_ms"] for r in rows] == [
        utc(2023, 3, 26, 0, 30),  # GMT
        utc(2023, 3, 26, 0, 59),
        utc(2023, 3, 26, 1, 0),  # 02:00 BST: clocks went forward at 01:00 UTC
        utc(2023, 3, 26, 2, 15),
        utc(2023, 10, 29, 0, 30),  # 01:30 BST, before the clocks go back
        utc(2023, 10, 29, 1, 10),  # 01:10 GMT: the time went backwards, so the second 01:xx
        utc(2023, 10, 29, 1, 40),
        utc(2023, 10, 29, 2, 0),
    ]


@pytest.mark.parametrize(
    "zone, offset_s",
    [
        ("UTC", 0),
        (None, 0),
        ("UTC+2", 7200),
        ("+05:30", 19800),
        ("GMT-3", -10800),
        ("-0400", -14400),
        ("Asia/Kolkata", 19800),
    ],
)
def test_fixed_offsets_and_zones(zone, offset_s):
    local = np.array([utc(2023, 7, 1, 12, 0) // 1000])
    assert LocalClock(zone).to_utc(local).tolist() == [local[0] - offset_s]


def test_unknown_zone_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        LocalClock("Mars/Olympus")


def test_folder_expands_to_each_chat_and_ignores_media(tmp_path):
    exports = INGESTER.discover([FIXTURES / "folder"])
    assert [e.label for e in exports] == ["WhatsApp Chat with Alex Morgan.txt", "WhatsApp Chat with Sam Lee.txt"]
    landed = ingest(FIXTURES / "folder", tmp_path)
    assert [rows[0]["conversation_title"] for _, rows, _, _ in landed] == ["Alex Morgan", "Sam Lee"]
    assert len({rows[0]["conversation_id"] for _, rows, _, _ in landed}) == 2


def test_a_file_that_is_no_chat_export_is_an_error_naming_it(tmp_path):
    with pytest.raises(ExportError, match=r"notes\.txt: not a WhatsApp chat export"):
        ingest(FIXTURES / "not_whatsapp" / "notes.txt", tmp_path)
    empty = tmp_path / "WhatsApp Chat with Nobody.txt"
    empty.write_bytes(b"")
    with pytest.raises(ExportError, match="Nobody.txt"):
        ingest(empty, tmp_path)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


ANDROID_CHAT = (FIXTURES / "android_gb" / "WhatsApp Chat with Alex Morgan.txt").read_bytes()


def test_zip_holding_an_android_chat_named_like_the_app_names_it(tmp_path):
    path = _zip(
        tmp_path / "export.zip",
        {"WhatsApp Chat with Alex Morgan.txt": ANDROID_CHAT, "IMG-20230313-WA0004.jpg": b"\xff\xd8\xff\xd9"},
    )
    ((_, rows, _, _),) = ingest(path, tmp_path)
    ((_, plain, _, _),) = ingest(FIXTURES / "android_gb", tmp_path)
    assert [r["message_id"] for r in rows] == [r["message_id"] for r in plain]
    assert rows[0]["source_ref"] == "export.zip!WhatsApp Chat with Alex Morgan.txt:1"


@pytest.mark.parametrize(
    "members, message",
    [
        ({"photo.jpg": b"\xff\xd8"}, "no chat .txt file"),
        ({"../_chat.txt": ANDROID_CHAT}, "only unsafe member paths"),
        ({"/abs/_chat.txt": ANDROID_CHAT}, "only unsafe member paths"),
        ({"a.txt": ANDROID_CHAT, "b.txt": ANDROID_CHAT}, "several .txt files"),
    ],
)
def test_zip_without_a_usable_chat_is_an_error_naming_it(tmp_path, members, message):
    path = _zip(tmp_path / "WhatsApp Chat - X.zip", members)
    with pytest.raises(ExportError, match=rf"WhatsApp Chat - X\.zip: .*{message}"):
        ingest(path, tmp_path)


def test_broken_zip_is_an_error_naming_it(tmp_path):
    path = tmp_path / "WhatsApp Chat - X.zip"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ExportError, match=r"WhatsApp Chat - X\.zip: not a readable zip"):
        ingest(path, tmp_path)


def test_zip_member_above_the_size_cap_is_refused(tmp_path):
    path = _zip(tmp_path / "WhatsApp Chat - Alex.zip", {"_chat.txt": ANDROID_CHAT})
    with patch("ingest.sources.whatsapp.files.MAX_MEMBER_BYTES", len(ANDROID_CHAT) - 1):
        with pytest.raises(ExportError, match=r"Alex\.zip:_chat\.txt: .*exceeds"):
            ingest(path, tmp_path)


def test_zip_member_whose_header_understates_its_size_is_an_error(tmp_path):
    path = tmp_path / "WhatsApp Chat - Alex.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("_chat.txt", ANDROID_CHAT)
    data = bytearray(path.read_bytes())
    small = struct.pack("<I", 100)
    data[18:26] = small + small  # local header: compressed, uncompressed size
    central = data.index(b"PK\x01\x02")
    data[central + 20 : central + 28] = small + small  # central directory: the same
    path.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=r"Alex\.zip: not a readable zip file"):
        ingest(path, tmp_path)


def test_reexport_with_more_messages_keeps_every_id(tmp_path):
    first = tmp_path / "a" / "WhatsApp Chat with Alex Morgan.txt"
    later = tmp_path / "b" / "WhatsApp Chat with Alex Morgan.txt"
    first.parent.mkdir()
    later.parent.mkdir()
    shutil.copy(FIXTURES / "android_gb" / first.name, first)
    later.write_bytes(first.read_bytes() + b"14/03/2023, 10:00 - Robin Vale: one more\n")
    ((_, old, _, _),) = ingest(first, tmp_path)
    ((_, new, _, _),) = ingest(later, tmp_path)
    assert [r["message_id"] for r in new][: len(old)] == [r["message_id"] for r in old]
    assert old[0]["conversation_id"] == new[0]["conversation_id"] == whatsapp.conversation_id("alex  MORGAN")


def test_identical_messages_get_distinct_stable_ids(tmp_path):
    chat = tmp_path / "WhatsApp Chat with Alex Morgan.txt"
    chat.write_text("13/03/2023, 10:00 - Alex Morgan: ok\n" * 3 + "13/03/2023, 10:01 - Alex Morgan: ok\n")
    ((_, rows, _, _),) = ingest(chat, tmp_path)
    ids = [r["message_id"] for r in rows]
    assert len(set(ids)) == 4
    chat.write_text(chat.read_text() + "13/03/2023, 10:02 - Alex Morgan: ok\n")
    ((_, again, _, _),) = ingest(chat, tmp_path)
    assert [r["message_id"] for r in again][:4] == ids


@pytest.mark.parametrize("block", [16, 64, 100, "file size"])
def test_small_blocks_give_the_same_rows_as_one_block(tmp_path, block):
    """Held-back messages, the survey pass and ordinals across block boundaries."""
    chat = tmp_path / "WhatsApp Chat with Alex Morgan.txt"
    chat.write_bytes(ANDROID_CHAT + b"13/03/2023, 09:18 - Alex Morgan: ok\n" * 5 + b"13/03/2023, 09:19 - Alex: x\ny\n")
    ((_, whole, _, _),) = ingest(chat, tmp_path)
    size = chat.stat().st_size if block == "file size" else block
    with patch.multiple(whatsapp, SINGLE_BLOCK_BYTES=0, BLOCK_BYTES=size):
        ((_, pieces, _, ctx),) = ingest(chat, tmp_path)
    assert pieces == whole
    assert len({r["message_id"] for r in pieces}) == len(pieces)


@pytest.mark.parametrize(
    "first, last",
    [
        ("12/03/2023, 14:05 - Alex Morgan: start", "12/03/2023, 14:06 - Robin: next"),
        ("[12/03/2023, 14:05:00] Alex Morgan: start", "[12/03/2023, 14:06:00] Robin: next"),  # iOS: blocks of no header
    ],
)
def test_over_long_message_is_cut_and_its_rest_rejected(tmp_path, first, last):
    chat = tmp_path / "WhatsApp Chat with Alex Morgan.txt"
    chat.write_text(first + "\n" + "more text here\n" * 40 + last + "\n")
    with patch.multiple(whatsapp, SINGLE_BLOCK_BYTES=0, BLOCK_BYTES=64, MAX_MESSAGE_BYTES=200):
        ((result, rows, rejects, _),) = ingest(chat, tmp_path)
    assert [r["source_ref"].rsplit(":", 1)[1] for r in rows] == ["1", "42"]
    covered = 1 + rows[0]["body_raw"].count("\n") + sum(r["raw"].count("\n") + 1 for r in rejects)
    assert covered == 41 and {r["reason"] for r in rejects} == {"lines outside any message"}


def test_invalid_utf8_is_replaced_and_noted(tmp_path):
    chat = tmp_path / "WhatsApp Chat with Alex Morgan.txt"
    chat.write_bytes(b"12/03/2023, 14:05 - Alex Morgan: caf\xe9\n12/03/2023, 14:06 - Robin: ok\n")
    ((_, rows, _, ctx),) = ingest(chat, tmp_path)
    assert [r["body_text"] for r in rows] == ["caf\ufffd", "ok"]
    assert any("invalid UTF-8" in n for n in ctx.notes)


def test_direction_ignores_case_bidi_marks_and_emoji_in_my_name(tmp_path):
    chat = tmp_path / "WhatsApp Chat with Alex Morgan.txt"
    chat.write_text("12/03/2023, 14:05 - \u200eROBIN vale 🌿: hi\n12/03/2023, 14:06 - Alex Morgan: hey\n")
    ((_, rows, _, _),) = ingest(chat, tmp_path)
    assert [r["direction"] for r in rows] == ["outbound", "inbound"]


@pytest.mark.parametrize(
    "file_name, container, title",
    [
        ("WhatsApp Chat with Alex Morgan.txt", None, "Alex Morgan"),
        ("WhatsApp Chat - Alex Morgan.zip", None, "Alex Morgan"),
        ("WhatsApp Chat with Alex Morgan (1).txt", None, "Alex Morgan"),
        ("WhatsApp-Chat mit Lukas Becker.txt", None, "Lukas Becker"),
        ("_chat.txt", Path("WhatsApp Chat - Priya Shah.zip"), "Priya Shah"),
        ("_chat.txt", Path("exports/WhatsApp Chat - Priya Shah"), "Priya Shah"),
        ("family.txt", None, "family"),
    ],
)
def test_chat_title_comes_from_the_file_name(file_name, container, title):
    assert chat_title(file_name, container) == title


def test_sample_generator_chats_all_land(tmp_path):
    samples = pytest.importorskip("ingest.samples")
    summary = samples.generate(tmp_path / "samples", messages=2000, platforms=["whatsapp"])
    landed = ingest(tmp_path / "samples" / "whatsapp", tmp_path, me=Me(names=samples.ME_NAMES))
    assert len(landed) == len(summary.files)
    assert sum(result.rejected for result, *_ in landed) == 0
    assert sum(result.landed for result, *_ in landed) == summary.counts["whatsapp"]
    rows = [r for _, chat_rows, _, _ in landed for r in chat_rows]
    kinds = {r["content_type"] for r in rows}
    assert {"text", "system", "file", "deleted"} <= kinds
    assert any(r["is_edited"] for r in rows) and any(r["direction"] == "outbound" for r in rows)
    assert not any("<This message was edited>" in (r["body_text"] or "") for r in rows)
    assert not any("Diese Nachricht wurde bearbeitet" in (r["body_text"] or "") for r in rows)
    with patch.multiple(whatsapp, SINGLE_BLOCK_BYTES=0, BLOCK_BYTES=4096):  # zip and txt, surveyed
        in_blocks = ingest(tmp_path / "samples" / "whatsapp", tmp_path / "blocks", me=Me(names=samples.ME_NAMES))
    assert [chat_rows for _, chat_rows, _, _ in in_blocks] == [chat_rows for _, chat_rows, _, _ in landed]


def test_android_group_system_lines_with_colons_are_no_messages(tmp_path):
    """A system line holding ": " (a quoted subject, or a colon past the longest name) is not read
    as a message from a "sender" named by its first words; its text starts where that name did."""
    _, rows, rejects, _ = one(FIXTURES / "android_group", tmp_path)  # GMT in mid-March: UTC is local time
    assert [(r["sender"], r["timestamp_ms"], r["content_type"], r["body_text"]) for r in rows] == [
        (
            None,
            utc(2023, 3, 14, 18, 0),
            "system",
            "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read "
            "or listen to them. Tap to learn more.",
        ),
        (None, utc(2023, 3, 14, 18, 0), "system", 'Robin Vale created group "Lake: June trip"'),
        (None, utc(2023, 3, 14, 18, 1), "system", "Robin Vale added Xavier Dupont"),
        ("Xavier Dupont", utc(2023, 3, 14, 18, 2), "text", "Xmas in June? 🎄"),
        (
            None,
            utc(2023, 3, 14, 18, 3),
            "system",
            'Robin Vale changed the subject from "Lake: June trip" to "Lake trip"',
        ),
        (
            None,
            utc(2023, 3, 14, 18, 4),
            "system",
            "Robin Vale changed the group description to the plan for the lake weekend and the list of what "
            "everyone brings: tents",
        ),
        ("Robin Vale", utc(2023, 3, 14, 18, 5), "text", "see you there"),
    ]
    assert rejects == []
    assert rows[1]["body_raw"] == 'Robin Vale created group "Lake: June trip"'  # from just after " - "
    assert rows[0]["participants"] == ["Robin Vale", "Xavier Dupont"]  # a leading X is no `~`
    assert {r["conversation_title"] for r in rows} == {"Lake trip"}


def test_chat_of_system_lines_only(tmp_path):
    """A new group nobody has written in yet: no header has a sender."""
    chat = tmp_path / "WhatsApp Chat with Lake trip.txt"
    chat.write_text(
        '14/03/2023, 18:00 - Robin Vale created group "Lake trip"\n14/03/2023, 18:01 - Robin Vale added you\n'
    )
    ((_, rows, rejects, ctx),) = ingest(chat, tmp_path)  # GMT in mid-March: UTC is local time
    assert [(r["sender"], r["timestamp_ms"], r["content_type"], r["body_text"]) for r in rows] == [
        (None, utc(2023, 3, 14, 18, 0), "system", 'Robin Vale created group "Lake trip"'),
        (None, utc(2023, 3, 14, 18, 1), "system", "Robin Vale added you"),
    ]
    assert rejects == [] and rows[0]["participants"] == []
    assert any("no sender matches" in n for n in ctx.notes)


@pytest.mark.parametrize("block", [64, 200])
def test_ios_chat_in_small_blocks_gives_the_same_rows(tmp_path, block):
    """Later blocks start with any line, marked or not; their system lines are still found."""
    with patch.multiple(whatsapp, SINGLE_BLOCK_BYTES=0, BLOCK_BYTES=block):
        ((_, rows, rejects, _),) = ingest(FIXTURES / "ios_zip" / "WhatsApp Chat - Priya Shah", tmp_path)
    assert golden(rows) == IOS_GOLDEN and rejects == []


def test_ios_chat_that_starts_unmarked_and_ends_in_a_short_reply_without_a_final_newline(tmp_path):
    """The first line is a person's message (no mark before the header), a marked system line
    follows, and the last message, "ok", is shorter than a mark with nothing after it."""
    folder = tmp_path / "WhatsApp Chat - Priya Shah"
    folder.mkdir()
    (folder / "_chat.txt").write_bytes(
        "[12/03/2023, 18:30:01] Priya Shah: home?\n"
        "\u200e[12/03/2023, 18:30:05] Priya Shah: \u200eMissed voice call\n"
        "[12/03/2023, 18:30:09] Robin Vale: ok".encode()
    )
    ((_, rows, rejects, _),) = ingest(folder, tmp_path)  # GMT in mid-March: UTC is local time
    assert [(r["sender"], r["timestamp_ms"], r["content_type"], r["body_text"]) for r in rows] == [
        ("Priya Shah", utc(2023, 3, 12, 18, 30, 1), "text", "home?"),
        (None, utc(2023, 3, 12, 18, 30, 5), "system", "Missed voice call"),
        ("Robin Vale", utc(2023, 3, 12, 18, 30, 9), "text", "ok"),
    ]
    assert rejects == []


def test_repeat_out_of_time_order_in_a_later_block_gets_its_own_id(tmp_path):
    """Alex's second "ok" of 10:00 comes after a 10:01 message (sent offline, delivered later).
    Read as one block or in blocks, the two get ids of their own, the same either way."""
    chat = tmp_path / "WhatsApp Chat with Alex Morgan.txt"
    chat.write_text(
        "13/03/2023, 10:00 - Alex Morgan: ok\n13/03/2023, 10:01 - Robin Vale: ?\n"
        "13/03/2023, 10:00 - Alex Morgan: ok\n13/03/2023, 10:02 - Robin Vale: ??\n"
    )
    ((_, whole, _, _),) = ingest(chat, tmp_path)
    assert len({r["message_id"] for r in whole}) == 4
    with patch.multiple(whatsapp, SINGLE_BLOCK_BYTES=0, BLOCK_BYTES=64):
        ((_, pieces, _, _),) = ingest(chat, tmp_path)
    assert [r["message_id"] for r in pieces] == [r["message_id"] for r in whole]


ANDROID_LINE = "12/03/2023, 14:06 - Alex Morgan: hi"
IOS_LINE = "[12/03/2023, 14:05:00] Alex Morgan: hi"


def test_the_most_common_header_shape_decides_the_variant():
    """A quoted line of another variant at the top does not decide; the majority does."""
    sample = "\n".join([IOS_LINE, ANDROID_LINE, ANDROID_LINE, IOS_LINE, ANDROID_LINE])
    assert detect_variant(sample).style == "Android"
    assert detect_variant("\n".join([ANDROID_LINE, IOS_LINE, IOS_LINE])).style == "iOS"
    assert detect_variant("no header here\nnor here") is None


def test_only_the_first_sample_lines_vote_for_the_variant():
    sample = "\n".join([IOS_LINE] * SAMPLE_LINES + [ANDROID_LINE] * (SAMPLE_LINES + 500))
    assert detect_variant(sample).style == "iOS"


def test_an_empty_block_has_no_lines_and_no_headers():
    variant = detect_variant(ANDROID_LINE)
    scan = scan_block(bytearray(), 0, variant, variant.regex())
    assert scan.line_starts.tolist() == [0, 0]
    assert scan.rows.tolist() == [] and scan.text_start.tolist() == [] and scan.system.tolist() == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I <3 you <This message was edited>", ("text", "I <3 you", True)),  # the last "<" starts the marker
        ("Going to SpaceX <This message was edited>", ("text", "Going to SpaceX", True)),  # only spaces go
        ("<This message was edited>", ("text", "", True)),  # the marker alone: edited down to nothing
        # iOS GIFs are mp4 files: the file name's word tells the kind before the extension does
        ("\u200e<attached: 00000006-GIF-2023-03-12-18-31-20.mp4>", ("gif", None, False)),
        ("Screenshot_20230313-101500.png (file attached)", ("photo", None, False)),  # no kind word: the extension
        ("Boarding pass.PDF (file attached)", ("file", None, False)),  # neither: any other file
        ("Plan.HEIC (file attached)\nthe map", ("photo", "the map", False)),  # extensions in any case
    ],
)
def test_classify_markers(text, expected):
    assert classify(text) == expected


@pytest.mark.parametrize(
    "text, system",
    [
        ("\u200eRobin Vale added Sam Lee", True),  # marked and no known marker: a system line
        ("\u200eMissed voice call", True),
        ("\u200eimage omitted", False),  # a marked media marker is someone's message
        ("Robin Vale added Sam Lee", False),  # unmarked: someone typed it
        ("Missed voice call", False),
    ],
)
def test_ios_system_lines_are_the_marked_lines_that_are_no_markers(text, system):
    assert is_ios_system_line(text) is system


EVIDENCE = {  # dates that can only be read one way: a day above 12 first or second, or the year first
    "dmy": ["13/03/2023", "14/03/2023", "25/12/2023"],
    "mdy": ["3/13/23", "3/14/23", "12/25/23"],
    "ymd": ["2023-03-13", "2023-03-14", "2023-12-25"],
}


@pytest.mark.parametrize("majority, minority", list(itertools.permutations(EVIDENCE, 2)))
def test_date_order_goes_to_the_majority_of_the_evidence(majority, minority):
    """Three dates that can only be read one way outvote two (corrupt ones) that can only be read another."""
    dates = EVIDENCE[majority] + EVIDENCE[minority][:2]
    assert infer_date_order(dates, None, twelve_hour=minority == "mdy") == (majority, "inferred from the dates")


@pytest.mark.parametrize(
    "dates, twelve_hour, expected",
    [
        (["12/05/2023", "01/06/2023"], True, ("mdy", "dates ambiguous, assumed from the clock style")),  # 12 fits both
        (["05/12/2023", "01/06/2023"], False, ("dmy", "dates ambiguous, assumed from the clock style")),
        (["03/13/2023", "01/06/2023"], False, ("mdy", "inferred from the dates")),  # no 13th month
        (["13/03/2023", "01/06/2023"], True, ("dmy", "inferred from the dates")),
    ],
)
def test_date_order_from_the_first_field_or_second_field_above_twelve(dates, twelve_hour, expected):
    assert infer_date_order(dates, None, twelve_hour) == expected


def test_epoch_days_of_real_and_impossible_dates():
    dates = ["01/01/1970", "13/03/2023", "13/03/23", "29/02/2024", "29/02/2023", "13/03/100", "31/12/2100"]
    expected = [0, (dt.date(2023, 3, 13) - dt.date(1970, 1, 1)).days, (dt.date(2023, 3, 13) - dt.date(1970, 1, 1)).days]
    expected += [
        (dt.date(2024, 2, 29) - dt.date(1970, 1, 1)).days,
        -1,
        -1,
        (dt.date(2100, 12, 31) - dt.date(1970, 1, 1)).days,
    ]
    assert epoch_days(dates, "dmy").tolist() == expected  # 2023 had no 29 February; a 3-digit year is no year


def test_seconds_of_day_of_real_and_impossible_times():
    real = ["14:05", "2:05:09 PM", "12:30 AM", "12:00 PM", "9.00", "23:59:59"]
    seconds = [14 * 3600 + 5 * 60, (2 + 12) * 3600 + 5 * 60 + 9, 30 * 60, 12 * 3600, 9 * 3600, 86400 - 1]
    impossible = ["24:00", "14:60", "14:05:60", "13:05 PM", "0:05 AM", "", "noon"]
    result = seconds_of_day(pa.array(real + impossible, pa.string()))
    assert result.tolist() == seconds + [-1] * len(impossible)
    assert result.dtype == np.int64


@pytest.mark.parametrize("zone", ["utc", "gmt", "Z", "z", "Utc"])
def test_utc_spelled_any_way_is_a_zero_offset(zone):
    local = np.array([utc(2023, 7, 1, 12, 0) // 1000])
    assert LocalClock(zone).to_utc(local).tolist() == local.tolist()


def test_no_zone_means_utc_and_says_so(tmp_path):
    assert LocalClock(None).name == "UTC"
    _, _, _, ctx = one(FIXTURES / "android_gb", tmp_path, tz=None)
    assert any("times read in UTC" in n for n in ctx.notes)


def local(y, mo, d, h, mi, s=0) -> int:
    """Naive local epoch seconds of a wall-clock reading."""
    return calendar.timegm((y, mo, d, h, mi, s))


@pytest.mark.parametrize(
    "zone, readings, expected",
    [
        (  # Cuba: at 01:00 CDT (UTC-4) on 5 Nov 2023 the clocks went back to 00:00 CST (UTC-5): midnight repeats
            "America/Havana",
            [(2023, 11, 5, 0, 40), (2023, 11, 5, 0, 10), (2023, 11, 5, 9, 0)],
            [(2023, 11, 5, 0 + 4, 40), (2023, 11, 5, 0 + 5, 10), (2023, 11, 5, 9 + 5, 0)],
        ),
        (  # Azerbaijan, 25 Oct 2015: 05:00 (UTC+5) went back to 04:00 (UTC+4); a late-morning repeated hour
            "Asia/Baku",
            [(2015, 10, 25, 4, 20), (2015, 10, 25, 4, 5), (2015, 10, 25, 4, 45)],
            [(2015, 10, 25, 4 - 5, 20), (2015, 10, 25, 4 - 4, 5), (2015, 10, 25, 4 - 4, 45)],
        ),
        (  # two autumns: going back on 29 Oct 2023 says nothing about the first 01:xx of 27 Oct 2024
            "Europe/London",
            [(2023, 10, 29, 1, 30), (2023, 10, 29, 1, 10), (2024, 10, 27, 1, 20), (2024, 10, 27, 1, 5)],
            [(2023, 10, 29, 1 - 1, 30), (2023, 10, 29, 1, 10), (2024, 10, 27, 1 - 1, 20), (2024, 10, 27, 1, 5)],
        ),
    ],
)
def test_repeated_hour_is_the_first_until_the_time_goes_back_that_day(zone, readings, expected):
    result = LocalClock(zone).to_utc(np.array([local(*r) for r in readings]))
    assert result.dtype == np.int64
    assert result.tolist() == [utc(*e) // 1000 for e in expected]


def test_ios_system_lines_without_a_mark_are_still_found_by_their_quoted_colon(tmp_path):
    """An iOS line whose "name" holds a quoted subject is a system line even without the
    LEFT-TO-RIGHT MARK iOS usually puts before one (the two rules add up)."""
    chat = tmp_path / "WhatsApp Chat - Lake trip" / "_chat.txt"
    chat.parent.mkdir()
    chat.write_text(
        "[14/03/2023, 18:00:00] Robin Vale: hi\n"
        '[14/03/2023, 18:01:00] Robin Vale changed the subject to "Lake: June trip"\n'
        "[14/03/2023, 18:02:00] Lake trip: \u200eRobin Vale added Alex Morgan\n"
        "[14/03/2023, 18:03:00] Alex Morgan: hello\n",
        encoding="utf-8",
    )
    _, rows, _, _ = one(chat.parent, tmp_path)
    assert [(r["sender"], r["content_type"], r["body_text"]) for r in rows] == [
        ("Robin Vale", "text", "hi"),
        (None, "system", 'Robin Vale changed the subject to "Lake: June trip"'),
        (None, "system", "Robin Vale added Alex Morgan"),
        ("Alex Morgan", "text", "hello"),
    ]
