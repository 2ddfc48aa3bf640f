"""The caps of ingest/sources/zips.py on whole exports, compression ratios and single messages (issue #25,
finding 6), and zips whose member names are flagged as UTF-8 but are not (issue #26).

Every export goes through the real entry point (ingest.runner.ingest_platform, or the CLI) and
through test_fuzz.ingest, which checks the outcome is an allowed one: landed records, rejects with
reasons, or one error line naming the file; records in = landed + rejected.
"""

from __future__ import annotations

import json
import random
import time
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest.cli import main
from ingest.sources import zips
from tests.ingest.test_fuzz import FROM, ingest
from tests.support.fuzzing import utf8_flagged
from tests.support.paths import REPO

CHAT = b"12/03/2023, 14:05 - Alex: hi\n12/03/2023, 14:06 - Robin Vale: hello\n"


# --- issue #26: names flagged as UTF-8 that are not ----------------------------------------------------


def _meta_message(text: str, ts: int = 1_700_000_000_000) -> bytes:
    return json.dumps({"messages": [{"sender_name": "Sam", "timestamp_ms": ts, "content": text}]}).encode()


META_MEMBERS = [
    ("inbox/sam_1/message_1.json", _meta_message("from sam")),
    ("inbox/kim_2/message_1.json", _meta_message("from kim")),
]


def _write(where: Path, name: str, data: bytes) -> Path:
    where.mkdir(exist_ok=True)
    (where / name).write_bytes(data)
    return where / name


def test_whatsapp_zip_with_a_media_name_flagged_utf8_but_not_still_lands_the_chat(tmp_path):
    path = _write(
        tmp_path / "in",
        "WhatsApp Chat - Alex.zip",
        utf8_flagged([("_chat.txt", CHAT), ("IMG-0001.jpg", b"\xff\xd8")], "IMG-0001.jpg"),
    )
    report = ingest("whatsapp", [path], path.parent)
    assert (report.errors, report.landed, report.rejected) == ([], 2, 0)


@pytest.mark.parametrize("local, central", [(True, False), (True, True), (False, True)])
def test_whatsapp_chat_name_flagged_utf8_but_not_is_one_error_naming_the_zip(tmp_path, local, central):
    """The chat member itself: found by its name read as cp437 or not at all, never a traceback."""
    path = _write(
        tmp_path / "in",
        "WhatsApp Chat - Alex.zip",
        utf8_flagged([("_chat.txt", CHAT), ("notes.txt", b"x")], "_chat.txt", local, central),
    )
    report = ingest("whatsapp", [path], path.parent)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{path}:")
    if (local, central) == (True, False):  # the local header alone: named as the directory names it
        assert report.errors[0] == (
            f"{path}:_chat.txt: corrupt zip member (member name flagged as UTF-8 is not valid UTF-8 (byte 0))"
        )


def test_the_cli_reports_the_flagged_name_as_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AI_ME_CONFIG", raising=False)
    chat = _write(
        tmp_path / "in", "WhatsApp Chat - Alex.zip", utf8_flagged([("_chat.txt", CHAT)], "_chat.txt", central=False)
    )
    meta = _write(tmp_path / "in", "export.zip", utf8_flagged(META_MEMBERS, META_MEMBERS[0][0], central=False))
    assert main(["ingest", "whatsapp", str(chat), "--warehouse", str(tmp_path / "wh")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "_chat.txt: corrupt zip member (member name flagged as UTF-8" in err
    assert main(["ingest", "instagram", str(meta), "--warehouse", str(tmp_path / "wh")]) == 0
    assert "1 landed, 1 rejected" in capsys.readouterr().out


def test_meta_message_file_with_a_bad_local_name_is_one_reject_and_the_rest_lands(tmp_path):
    path = _write(tmp_path / "in", "export.zip", utf8_flagged(META_MEMBERS, META_MEMBERS[0][0], central=False))
    (result,) = ingest("instagram", [path], path.parent).results
    assert (result.records_in, result.landed, result.rejected) == (2, 1, 1)
    (reject,) = pq.read_table(result.reject_path).to_pylist()
    assert reject["source_ref"] == f"export.zip!{META_MEMBERS[0][0]}"
    assert reject["reason"] == "corrupt zip member (member name flagged as UTF-8 is not valid UTF-8 (byte 0))"


def test_meta_zip_whose_directory_flags_a_bad_name_is_read_with_the_name_as_cp437(tmp_path):
    """Flagged in both headers: the name is read as unflagged names are, and every file lands."""
    data = utf8_flagged(META_MEMBERS, "inbox/sam_1", bad=b"in\xe9")  # cp437 0xE9 is Θ
    for platform in ("instagram", "messenger"):
        path = _write(tmp_path / "in", "export.zip", data)
        (result,) = ingest(platform, [path], path.parent).results
        assert (result.landed, result.rejected) == (2, 0)
        rows = pq.read_table(result.path).to_pylist()
        assert {r["source_ref"] for r in rows} == {
            "export.zip!in\u0398ox/sam_1/message_1.json#messages[0]",
            "export.zip!inbox/kim_2/message_1.json#messages[0]",
        }


# --- issue #25 finding 6: caps per export, per compression ratio, per message -------------------------


def _inflating_zip(path: Path, members: dict[str, bytes | int], unit: bytes = b"\n") -> None:
    """Members given as bytes, or as a size to fill with `unit` (which deflates about 1000:1)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            if isinstance(content, bytes):
                zf.writestr(name, content)
                continue
            with zf.open(name, "w", force_zip64=True) as f:
                block = unit * ((1 << 20) // len(unit))
                for _ in range(content // len(block)):
                    f.write(block)


def test_whatsapp_zip_of_newlines_is_refused_by_the_ratio_cap_at_once(tmp_path):
    """A chat that is one header and then newlines (issue #25: a 1.5 MB zip ran for more than
    5 minutes); 64 MiB of them here, which took some 20 s to parse before the ratio cap."""
    path = tmp_path / "in" / "WhatsApp Chat - Alex.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("_chat.txt", "w", force_zip64=True) as f:
            f.write(CHAT)
            for _ in range(64):
                f.write(b"\n" * (1 << 20))
    assert path.stat().st_size < 1 << 20
    started = time.monotonic()
    report = ingest("whatsapp", [path], path.parent)
    assert time.monotonic() - started < 5
    (error,) = report.errors
    assert error.startswith(f"{path}:_chat.txt: chat text of {len(CHAT) + (64 << 20)} bytes is inflated ")
    assert error.endswith(f"above the {zips.MAX_COMPRESSION_RATIO}:1 limit of a real export (a zip bomb?)")


def test_meta_members_inflating_past_the_ratio_cap_are_rejected_unread_and_the_rest_lands(tmp_path):
    """Issue #25: 8 members of 250 MiB in a 2 MB zip took the ingest to 6.8 GB; 3 of 16 MiB here."""
    unit = b'{"sender_name": "Sam", "timestamp_ms": 1, "content": "x"},'
    path = tmp_path / "in" / "export.zip"
    path.parent.mkdir()
    _inflating_zip(
        path,
        {
            **{f"inbox/bomb_{n}/message_1.json": 16 << 20 for n in range(3)},
            "inbox/sam_1/message_1.json": _meta_message("still here"),
        },
        unit,
    )
    started = time.monotonic()
    (result,) = ingest("instagram", [path], path.parent).results
    assert time.monotonic() - started < 5
    assert (result.records_in, result.landed, result.rejected) == (4, 1, 3)
    rejects = pq.read_table(result.reject_path).to_pylist()
    assert sorted(r["source_ref"] for r in rejects) == [f"export.zip!inbox/bomb_{n}/message_1.json" for n in range(3)]
    assert all(" is inflated " in r["reason"] and "100:1 limit" in r["reason"] for r in rejects)


def test_real_looking_members_pass_the_ratio_cap(tmp_path):
    """A chat of 6 MiB of varied text deflates far below 100:1 and lands whole."""
    rng = random.Random(7)
    words = ["ok", "see you", "tomorrow", "haha", "where are you", "on my way", "🙂", "lunch?", "sure", "😂"]
    lines = [
        f"12/03/2023, {h:02d}:{m:02d} - {rng.choice(['Alex', 'Robin Vale'])}: "
        + " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        for h in range(24)
        for m in range(60)
        for _ in range(60)
    ]
    chat = ("\n".join(lines) + "\n").encode()
    assert chat.count(b"\n") == len(lines) and len(chat) > 6 << 20
    path = tmp_path / "in" / "WhatsApp Chat - Alex.zip"
    path.parent.mkdir()
    _inflating_zip(path, {"_chat.txt": chat})
    (info,) = zipfile.ZipFile(path).infolist()
    assert info.file_size / info.compress_size < zips.MAX_COMPRESSION_RATIO / 4
    report = ingest("whatsapp", [path], path.parent)
    assert (report.errors, report.landed, report.rejected) == ([], len(lines), 0)


def test_the_export_total_cap_counts_every_zip_of_the_export(tmp_path, monkeypatch):
    """Members each within their caps, but more than MAX_EXPORT_BYTES together (lowered here to
    3 MiB): one error naming the zip and member that goes over, before anything is parsed."""
    monkeypatch.setattr(zips, "MAX_EXPORT_BYTES", 3 << 20)
    rng = random.Random(1)
    big = json.dumps(
        {
            "messages": [  # about 1.3 MB, deflating about 2:1
                {
                    "sender_name": "Sam",
                    "timestamp_ms": i,
                    "content": " ".join(f"{rng.random():.6f}" for _ in range(500)),
                }
                for i in range(300)
            ]
        }
    ).encode()
    root = tmp_path / "in"
    root.mkdir()
    _inflating_zip(root / "part1.zip", {"inbox/a_1/message_1.json": big, "inbox/a_1/message_2.json": big})
    _inflating_zip(root / "part2.zip", {"inbox/b_1/message_1.json": big, "inbox/b_1/message_2.json": big})
    report = ingest("instagram", [root / "part1.zip", root / "part2.zip"], root)
    assert report.errors == [
        f"{root / 'part2.zip'}:inbox/b_1/message_1.json: the export's message files add up "
        f"to more than the {3 << 20} byte limit of one export, uncompressed"
    ]
    monkeypatch.setattr(zips, "MAX_EXPORT_BYTES", 8 << 20)
    assert ingest("instagram", [root / "part1.zip", root / "part2.zip"], root).landed == 4 * 300


def test_the_export_total_cap_applies_to_a_whatsapp_chat_member_too(tmp_path, monkeypatch):
    monkeypatch.setattr(zips, "MAX_EXPORT_BYTES", len(CHAT) - 1)
    path = tmp_path / "in" / "WhatsApp Chat - Alex.zip"
    path.parent.mkdir()
    _inflating_zip(path, {"_chat.txt": CHAT})
    assert ingest("whatsapp", [path], path.parent).errors == [
        f"{path}:_chat.txt: chat text of {len(CHAT)} bytes exceeds the {len(CHAT) - 1} byte limit"
    ]


OVER = zips.MAX_MESSAGE_TEXT_BYTES + 1


def test_whatsapp_message_over_the_text_cap_is_one_reject_naming_its_lines(tmp_path):
    long_text = b"y" * (OVER - 10) + b"\n" + b"z" * 20  # a continuation line takes it over
    chat = _write(
        tmp_path / "in",
        "WhatsApp Chat with Alex.txt",
        b"12/03/2023, 14:05 - Alex: hi\n12/03/2023, 14:06 - Alex: "
        + long_text
        + b"\n12/03/2023, 14:07 - Alex: "
        + b"w" * (zips.MAX_MESSAGE_TEXT_BYTES - 8)
        + b"\n",
    )
    (result,) = ingest("whatsapp", [chat], chat.parent).results
    assert (result.records_in, result.landed, result.rejected) == (3, 2, 1)
    (reject,) = pq.read_table(result.reject_path).to_pylist()
    assert reject["source_ref"] == "WhatsApp Chat with Alex.txt:2-3"
    assert reject["reason"] == zips.text_too_long(len(long_text))
    assert reject["raw"] == "12/03/2023, 14:06 - Alex: " + long_text.decode()  # nothing lost


def test_meta_message_over_the_text_cap_is_one_reject_and_its_file_still_lands(tmp_path):
    thread = tmp_path / "in" / "ig" / "inbox" / "sam_1"
    thread.mkdir(parents=True)
    (thread / "message_1.json").write_text(
        json.dumps(
            {
                "messages": [
                    {"sender_name": "Sam", "timestamp_ms": 1, "content": "é" * (OVER // 2 + 1)},  # 2 bytes a character
                    {"sender_name": "Sam", "timestamp_ms": 2, "content": "fine"},
                ]
            }
        )
    )
    (result,) = ingest("instagram", [tmp_path / "in" / "ig"], tmp_path / "in").results
    assert (result.records_in, result.landed, result.rejected) == (2, 1, 1)
    (reject,) = pq.read_table(result.reject_path).to_pylist()
    assert reject["source_ref"] == "inbox/sam_1/message_1.json#messages[0]"
    assert reject["reason"] == zips.text_too_long(2 * (OVER // 2 + 1))


def test_email_over_the_text_cap_is_one_reject_at_its_offset(tmp_path):
    first = f"{FROM}\nDate: Mon, 2 Jan 2023 10:11:12 +0000\nSubject: long\n\n".encode() + b"w" * OVER + b"\n"
    second = f"{FROM}\nDate: Mon, 2 Jan 2023 10:12:12 +0000\nSubject: short\n\nhello\n".encode()
    mbox = _write(tmp_path / "in", "Inbox.mbox", first + second)
    (result,) = ingest("gmail", [mbox], mbox.parent).results
    assert (result.records_in, result.landed, result.rejected) == (2, 1, 1)
    (reject,) = pq.read_table(result.reject_path).to_pylist()
    assert reject["source_ref"] == "Inbox.mbox@0" and reject["reason"].startswith("message text of ")
    assert reject["reason"].endswith(f"exceeds the {zips.MAX_MESSAGE_TEXT_BYTES} byte limit of one message")


def test_caps_are_the_values_the_readme_gives():
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert zips.MAX_CHAT_BYTES == 2 * 2**30 and "chat text is capped at 2 GiB" in readme
    assert zips.MAX_FILE_BYTES == 256 * 2**20 and "Meta message file at 256 MiB" in readme
    assert zips.MAX_EXPORT_BYTES == 4 * 2**30 and "4 GiB together" in readme
    assert zips.RATIO_FREE_BYTES == 4 * 2**20 and zips.MAX_COMPRESSION_RATIO == 100
    assert "a member over 4 MiB that would inflate more than 100:1" in readme
    assert zips.MAX_MESSAGE_TEXT_BYTES == 2**20 and "text is capped at 1 MiB" in readme
