"""Instagram and Messenger ingestion (ingest/sources/meta/ingester.py) through the real landing, on fixture exports
laid out as Meta ships them (tests/fixtures/meta): golden rows, ids, zips, bad input."""

from __future__ import annotations

import json
import shutil
import struct
import threading
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import xxhash

from ingest.core.identity import Me
from ingest.core.platforms import get_ingester
from ingest.landing import land
from ingest.samples import generate
from ingest.sources.base import ExportError, ParseContext
from ingest.sources.meta import files as meta_files
from ingest.sources.meta import ingester as meta
from ingest.sources.meta.ingester import INSTAGRAM, MESSENGER
from ingest.sources.meta.messages import text_kind
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "meta"
ME = Me(names=("Robin Vale", "robin.vale_"))
IG_INBOX = "your_instagram_activity/messages/inbox"
ZOE = f"{IG_INBOX}/zoeadams_1234567890"
GROUP = f"{IG_INBOX}/weekendplans_9876543210"
MS = "your_facebook_activity/messages"


def ingest(ingester, paths, warehouse: Path, me: Me = ME):
    """Land every export discovered in `paths`; (results, rows, rejects, progress in bytes)."""
    results, rows, rejects, progress = [], [], [], []
    for export in ingester.discover([Path(p) for p in paths]):
        ctx = ParseContext(ingester.platform, me, advance=progress.append)
        result = land(ingester, export, warehouse, ctx)
        assert result.records_in == result.landed + result.rejected
        results.append(result)
        rows += pq.read_table(result.path).to_pylist()
        if result.reject_path:
            rejects += pq.read_table(result.reject_path).to_pylist()
    return results, rows, rejects, sum(progress)


def copy_fixture(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def write_json(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="ascii")
    return path


def moji(s: str) -> str:
    """What Meta writes for s."""
    return s.encode("utf-8").decode("latin-1")


def summary(row: dict) -> tuple:
    return (
        row["source_ref"],
        row["sender"],
        row["direction"],
        row["content_type"],
        row["body_raw"],
        row["body_text"],
        row["reactions"],
        row["flags"],
    )


INSTAGRAM_GOLDEN = [
    (
        f"{GROUP}/message_1.json#messages[0]",
        "ნინო ბერიძე",
        "inbound",
        "video",
        None,
        None,
        [{"actor": "Zoë Adams", "reaction": "🔥"}, {"actor": "robin.vale_", "reaction": "😮"}],
        None,
    ),
    (f"{GROUP}/message_1.json#messages[1]", "Zoë Adams", "inbound", "audio", None, None, None, None),
    (f"{GROUP}/message_1.json#messages[2]", "robin.vale_", "outbound", "gif", None, None, None, None),
    (f"{GROUP}/message_1.json#messages[3]", "ნინო ბერიძე", "inbound", "sticker", None, None, None, None),
    (f"{GROUP}/message_1.json#messages[4]", "Zoë Adams", "inbound", "file", None, None, None, None),
    (f"{GROUP}/message_1.json#messages[5]", "robin.vale_", "outbound", "system", None, None, None, ["no_content"]),
    (
        f"{GROUP}/message_1.json#messages[6]",
        "ნინო ბერიძე",
        "inbound",
        "system",
        "ნინო ბერიძე changed the theme to Lavender.",
        None,
        None,
        None,
    ),
    (
        f"{GROUP}/message_1.json#messages[7]",
        "robin.vale_",
        "outbound",
        "system",
        "robin.vale_ added ნინო ბერიძე to the group.",
        None,
        None,
        None,
    ),
    (
        f"{GROUP}/message_1.json#messages[8]",
        "robin.vale_",
        "outbound",
        "system",
        "robin.vale_ named the group Weekend plans ✨.",
        None,
        None,
        None,
    ),
    (
        f"{ZOE}/message_1.json#messages[0]",
        "Zoë Adams",
        "inbound",
        "text",
        "See you at 7 👩‍👩‍👧",
        "See you at 7 👩‍👩‍👧",
        [{"actor": "robin.vale_", "reaction": "❤"}],
        None,
    ),
    (f"{ZOE}/message_1.json#messages[1]", "robin.vale_", "outbound", "reaction", "Liked a message", None, None, None),
    (
        f"{ZOE}/message_1.json#messages[2]",
        "Zoë Adams",
        "inbound",
        "link",
        "zoe.adams sent an attachment.\nhttps://www.instagram.com/p/AbC123xyz/\nSonnenuntergang 🌅",
        "https://www.instagram.com/p/AbC123xyz/",
        None,
        None,
    ),
    (f"{ZOE}/message_1.json#messages[3]", "robin.vale_", "outbound", "photo", None, None, None, None),
    (
        f"{ZOE}/message_1.json#messages[4]",
        "Zoë Adams",
        "inbound",
        "reaction",
        "Reacted 😂 to your message",
        None,
        None,
        None,
    ),
    (f"{ZOE}/message_1.json#messages[5]", "robin.vale_", "outbound", "deleted", None, None, None, None),
    (
        f"{ZOE}/message_2.json#messages[0]",
        "robin.vale_",
        "outbound",
        "text",
        "Привет! Как дела?",
        "Привет! Как дела?",
        None,
        None,
    ),
    (
        f"{ZOE}/message_2.json#messages[1]",
        "Zoë Adams",
        "inbound",
        "text",
        "გამარჯობა, მეგობარო",
        "გამარჯობა, მეგობარო",
        None,
        None,
    ),
    (
        f"{ZOE}/message_2.json#messages[2]",
        "robin.vale_",
        "outbound",
        "text",
        "مرحبا بالعالم",
        "مرحبا بالعالم",
        None,
        None,
    ),
    (
        f"{ZOE}/message_2.json#messages[3]",
        "Zoë Adams",
        "inbound",
        "text",
        "你好，世界 🏳️‍🌈 👍🏽",
        "你好，世界 🏳️‍🌈 👍🏽",
        None,
        None,
    ),
    (
        f"{ZOE}/message_2.json#messages[4]",
        "robin.vale_",
        "outbound",
        "system",
        "You sent an attachment.",
        None,
        None,
        None,
    ),
]


def test_instagram_export_lands_golden_rows(tmp_path):
    (result,), rows, rejects, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path)
    assert [summary(r) for r in rows] == INSTAGRAM_GOLDEN
    assert rejects == [] and result.records_in == 20
    assert result.notes == ["2 threads in 3 message files (3 legacy JSON, 0 end-to-end-encrypted JSON)"]
    assert {r["platform"] for r in rows} == {"instagram"}


def test_instagram_threads_titles_and_participants(tmp_path):
    _, rows, _, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path)
    by_thread = {r["conversation_id"]: r for r in rows}
    assert set(by_thread) == {"instagram:zoeadams_1234567890", "instagram:weekendplans_9876543210"}
    group = by_thread["instagram:weekendplans_9876543210"]
    assert group["conversation_title"] == "Weekend plans ✨"
    assert group["participants"] == ["Zoë Adams", "ნინო ბერიძე", "robin.vale_"]
    one_to_one = by_thread["instagram:zoeadams_1234567890"]
    assert one_to_one["conversation_title"] == "Zoë Adams"
    assert one_to_one["participants"] == ["Zoë Adams", "robin.vale_"]


def test_multi_file_thread_is_one_conversation_in_time_order(tmp_path):
    _, rows, _, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path)
    thread = [r for r in rows if r["conversation_id"] == "instagram:zoeadams_1234567890"]
    assert len(thread) == 11
    assert {r["source_ref"].split("#")[0].rsplit("/", 1)[1] for r in thread} == {"message_1.json", "message_2.json"}
    stamps = [r["timestamp_ms"] for r in thread]
    assert stamps == sorted(stamps, reverse=True)  # message_1 is the newest, each file newest first
    assert len({r["message_id"] for r in rows}) == len(rows)


MESSENGER_GOLDEN = [
    (
        f"{MS}/archived_threads/bookclub_5550002223/message_1.json#messages[0]",
        "Lukas Bäcker",
        "inbound",
        "photo",
        None,
        None,
        None,
        None,
    ),
    (
        f"{MS}/archived_threads/bookclub_5550002223/message_1.json#messages[1]",
        "Priya Shah",
        "inbound",
        "text",
        "Läuft! Привет 📚",
        "Läuft! Привет 📚",
        None,
        None,
    ),
    (
        f"{MS}/archived_threads/bookclub_5550002223/message_1.json#messages[2]",
        "Lukas Bäcker",
        "inbound",
        "system",
        "Lukas Bäcker left the group.",
        None,
        None,
        None,
    ),
    (
        f"{MS}/archived_threads/bookclub_5550002223/message_1.json#messages[3]",
        "Robin Vale",
        "outbound",
        "system",
        "Robin Vale added Priya Shah to the group.",
        None,
        None,
        None,
    ),
    (
        f"{MS}/e2ee_cupcake/priyashah_5550003334/message_1.json#messages[0]",
        "Priya Shah",
        "inbound",
        "text",
        "Hi Robin! “Quotes” ＡＢＣ ﬁne 😊\r\nsecond line &amp; more",
        "Hi Robin! “Quotes” ＡＢＣ ﬁne 😊\r\nsecond line &amp; more",
        None,
        None,
    ),
    (
        f"{MS}/e2ee_cupcake/priyashah_5550003334/message_1.json#messages[1]",
        "Robin Vale",
        "outbound",
        "photo",
        None,
        None,
        None,
        None,
    ),
    (
        f"{MS}/e2ee_cupcake/priyashah_5550003334/message_1.json#messages[2]",
        "Robin Vale",
        "outbound",
        "deleted",
        None,
        None,
        None,
        None,
    ),
    (
        f"{MS}/e2ee_cupcake/priyashah_5550003334/message_1.json#messages[3]",
        "Priya Shah",
        "inbound",
        "text",
        "café ok",
        "café ok",
        [{"actor": "Robin Vale", "reaction": "❤️"}],
        None,
    ),
    (
        f"{MS}/e2ee_cupcake/priyashah_5550003334/message_1.json#messages[4]",
        "Priya Shah",
        "inbound",
        "audio",
        None,
        None,
        None,
        None,
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[0]",
        "Alex Morgan",
        "inbound",
        "call",
        "You missed a call from Alex Morgan.",
        None,
        None,
        ["missed_call"],
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[1]",
        "Robin Vale",
        "outbound",
        "call",
        "Robin Vale called you.",
        None,
        None,
        None,
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[2]",
        "Alex Morgan",
        "inbound",
        "link",
        "https://example.org/article",
        "https://example.org/article",
        None,
        None,
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[3]",
        "Robin Vale",
        "outbound",
        "link",
        "look at this\nhttps://example.org/x\nEin Artikel über Käse 🧀",
        "look at this\nhttps://example.org/x",
        None,
        None,
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[4]",
        "Alex Morgan",
        "inbound",
        "text",
        "Dmitri said “hi” – naïve café ½",
        "Dmitri said “hi” – naïve café ½",
        None,
        None,
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[5]",
        "Robin Vale",
        "outbound",
        "system",
        "You are now connected on Messenger",
        None,
        None,
        None,
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[6]",
        "Alex Morgan",
        "inbound",
        "deleted",
        None,
        None,
        None,
        None,
    ),
    (
        f"{MS}/inbox/alexmorgan_5550001112/message_1.json#messages[7]",
        "Alex Morgan",
        "inbound",
        "system",
        "Alex started a video chat.",
        None,
        None,
        None,
    ),
]


def test_messenger_export_lands_legacy_and_e2ee_threads(tmp_path):
    (result,), rows, rejects, _ = ingest(MESSENGER, [FIXTURES / "messenger"], tmp_path)
    assert [summary(r) for r in rows] == MESSENGER_GOLDEN
    assert rejects == []
    assert result.notes == ["3 threads in 3 message files (2 legacy JSON, 1 end-to-end-encrypted JSON)"]
    e2ee = next(r for r in rows if r["conversation_id"] == "messenger:priyashah_5550003334")
    assert e2ee["conversation_title"] == "Priya Shah" and e2ee["participants"] == ["Robin Vale", "Priya Shah"]
    group = next(r for r in rows if r["conversation_id"] == "messenger:bookclub_5550002223")
    assert group["conversation_title"] == "Book club 📚"
    assert group["participants"] == ["Robin Vale", "Priya Shah", "Lukas Bäcker"]


def test_registry_finds_both_ingesters():
    assert get_ingester("instagram") is INSTAGRAM and INSTAGRAM.platform == "instagram"
    assert get_ingester("messenger") is MESSENGER and MESSENGER.platform == "messenger"


def test_direction_matches_any_configured_name(tmp_path):
    _, rows, _, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path, Me(names=("Robin Vale",)))
    assert {r["direction"] for r in rows} == {"inbound"}  # the export signs Robin as the username
    _, rows, _, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path, Me(names=("Zoë Adams", "robin.vale_")))
    assert {r["sender"] for r in rows if r["direction"] == "outbound"} == {"Zoë Adams", "robin.vale_"}


def test_message_id_is_xxh3_of_thread_time_sender_text_and_ordinal(tmp_path):
    _, rows, _, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path)
    row = next(r for r in rows if r["source_ref"] == f"{ZOE}/message_2.json#messages[0]")
    key = "instagram:zoeadams_1234567890\x1f1700000000000\x1frobin.vale_\x1fПривет! Как дела?\x1f0"
    assert row["message_id"] == xxhash.xxh3_128_hexdigest(key.encode())
    photo = next(r for r in rows if r["content_type"] == "photo")
    assert photo["message_id"] == xxhash.xxh3_128_hexdigest(
        f"instagram:zoeadams_1234567890\x1f{photo['timestamp_ms']}\x1frobin.vale_\x1f\x1f0".encode()
    )


def _legacy_thread(messages: list[dict], title="Sam") -> dict:
    return {
        "participants": [{"name": "Sam"}, {"name": "Robin Vale"}],
        "messages": messages,
        "title": title,
        "thread_path": "inbox/sam_42",
    }


def _msg(ts: int, text: str, sender: str = "Sam") -> dict:
    return {"sender_name": moji(sender), "timestamp_ms": ts, "content": moji(text)}


def test_ids_survive_a_later_export_that_moves_and_resplits_the_thread(tmp_path):
    older = [_msg(5000, "five"), _msg(4000, "four"), _msg(3000, "same"), _msg(3000, "same"), _msg(2000, "two")]
    first = tmp_path / "first/messages/inbox/sam_42"
    write_json(first / "message_1.json", _legacy_thread(older[:3]))
    write_json(first / "message_2.json", _legacy_thread(older[3:]))
    later = tmp_path / "later/your_facebook_activity/messages/archived_threads/sam_42"  # newer layout, other box
    write_json(later / "message_1.json", _legacy_thread([_msg(6000, "six ✨")] + older))
    _, before, _, _ = ingest(MESSENGER, [tmp_path / "first"], tmp_path / "wh1")
    _, after, _, _ = ingest(MESSENGER, [tmp_path / "later"], tmp_path / "wh2")
    ids_before = [r["message_id"] for r in before]
    assert len(set(ids_before)) == 5  # the two identical messages differ by their ordinal
    assert [r["message_id"] for r in after][1:] == ids_before
    assert {r["conversation_id"] for r in before + after} == {"messenger:sam_42"}


def test_identical_messages_across_a_file_boundary_get_distinct_ids(tmp_path):
    folder = tmp_path / "export/messages/inbox/sam_42"
    write_json(folder / "message_1.json", _legacy_thread([_msg(9000, "hi"), _msg(7000, "ok"), _msg(7000, "ok")]))
    write_json(folder / "message_2.json", _legacy_thread([_msg(7000, "ok"), _msg(7000, "no"), _msg(6000, "ok")]))
    _, rows, _, _ = ingest(INSTAGRAM, [tmp_path / "export"], tmp_path / "wh")
    assert len({r["message_id"] for r in rows}) == 6
    ok_at_7000 = [r["message_id"] for r in rows if r["timestamp_ms"] == 7000 and r["body_raw"] == "ok"]
    expected = [xxhash.xxh3_128_hexdigest(f"instagram:sam_42\x1f7000\x1fSam\x1fok\x1f{k}".encode()) for k in range(3)]
    assert ok_at_7000 == expected


def test_zip_export_lands_the_same_rows_as_the_folder(tmp_path):
    archive = meta_zip(FIXTURES / "instagram", tmp_path / "instagram-robin.vale_-2024-01-01.zip")
    (zipped,), zip_rows, _, progress = ingest(INSTAGRAM, [archive], tmp_path / "wh")
    _, folder_rows, _, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path / "wh")
    strip = lambda r: {k: v for k, v in r.items() if k not in ("source_ref", "export_id")}  # noqa: E731
    assert [strip(r) for r in zip_rows] == [strip(r) for r in folder_rows]
    assert zip_rows[0]["source_ref"] == f"{archive.name}!{GROUP}/message_1.json#messages[0]"
    assert progress == archive.stat().st_size  # media and other members count as read too
    assert zipped.label == archive.name


def meta_zip(folder: Path, path: Path, only=None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            rel = f.relative_to(folder).as_posix()
            if f.is_file() and (only is None or only(rel)):
                zf.write(f, rel)
    return path


def test_split_zips_are_one_export_even_with_a_thread_across_them(tmp_path):
    source = FIXTURES / "instagram"
    part1 = meta_zip(source, tmp_path / "export-1.zip", lambda rel: not rel.endswith("message_2.json"))
    part2 = meta_zip(source, tmp_path / "export-2.zip", lambda rel: rel.endswith("message_2.json"))
    exports = INSTAGRAM.discover([part2, part1])
    assert len(exports) == 1 and exports[0].files == (part1, part2)
    assert exports[0].label == "export-1.zip (+1 more)"
    _, rows, rejects, _ = ingest(INSTAGRAM, [part1, part2], tmp_path / "wh")
    _, folder_rows, _, _ = ingest(INSTAGRAM, [source], tmp_path / "wh")
    assert rejects == []
    assert [r["message_id"] for r in rows] == [r["message_id"] for r in folder_rows]
    assert rows[-1]["source_ref"] == f"export-2.zip!{ZOE}/message_2.json#messages[4]"


def test_unsafe_zip_members_are_refused_and_the_rest_lands(tmp_path):
    good = json.dumps(_legacy_thread([_msg(1000, "hello")]))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("messages/inbox/sam_42/message_1.json", good)
        zf.writestr("../../outside/sam_43/message_1.json", good)
        zf.writestr("/abs/inbox/sam_44/message_1.json", good)
    _, rows, rejects, _ = ingest(INSTAGRAM, [archive], tmp_path / "wh")
    assert [r["body_raw"] for r in rows] == ["hello"]
    assert sorted(r["source_ref"] for r in rejects) == [
        "export.zip!../../outside/sam_43/message_1.json",
        "export.zip!/abs/inbox/sam_44/message_1.json",
    ]
    assert {r["reason"] for r in rejects} == {"refused zip member with an absolute or parent (..) path"}


def test_zip_member_whose_header_lies_about_its_size_is_rejected(tmp_path):
    body = json.dumps(_legacy_thread([_msg(1000, "hello " * 200)])).encode()
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("messages/inbox/sam_42/message_1.json", body)
        zf.writestr("messages/inbox/kim_7/message_1.json", json.dumps(_legacy_thread([_msg(2000, "fine")])))
    data = bytearray(archive.read_bytes())
    central = data.index(b"PK\x01\x02")  # first central directory entry: claim 100 bytes uncompressed
    struct.pack_into("<I", data, central + 24, 100)
    archive.write_bytes(bytes(data))
    _, rows, rejects, _ = ingest(INSTAGRAM, [archive], tmp_path / "wh")
    assert [r["body_raw"] for r in rows] == ["fine"]
    assert [r["source_ref"] for r in rejects] == ["export.zip!messages/inbox/sam_42/message_1.json"]
    assert rejects[0]["reason"].startswith("corrupt zip member (BadZipFile")


def test_oversized_member_is_rejected_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.setattr(meta_files, "MAX_FILE_BYTES", 300)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("messages/inbox/sam_42/message_1.json", json.dumps(_legacy_thread([_msg(1, "x" * 500)])))
        zf.writestr("messages/inbox/kim_7/message_1.json", json.dumps(_legacy_thread([_msg(2, "ok")])))
    _, rows, rejects, _ = ingest(INSTAGRAM, [archive], tmp_path / "wh")
    assert [r["body_raw"] for r in rows] == ["ok"]
    assert "larger than a message file can be" in rejects[0]["reason"]


def test_html_export_is_refused_with_advice_to_request_json(tmp_path):
    with pytest.raises(ExportError, match="HTML export.*format JSON"):
        INSTAGRAM.discover([FIXTURES / "html_export"])
    archive = meta_zip(FIXTURES / "html_export", tmp_path / "html.zip")
    with pytest.raises(ExportError, match="HTML export") as err:
        MESSENGER.discover([archive])
    assert err.value.path == str(archive)


def test_folder_without_message_files_and_other_paths_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="no message_N.json files found"):
        INSTAGRAM.discover([tmp_path / "empty"])
    with pytest.raises(ExportError, match="no such file or folder"):
        INSTAGRAM.discover([tmp_path / "missing"])
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ExportError, match="export folder or its .zip"):
        INSTAGRAM.discover([tmp_path / "notes.txt"])
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="not a readable zip file"):
        INSTAGRAM.discover([tmp_path / "fake.zip"])
    with pytest.raises(ExportError, match="only zip files: name the export's .zip file"):
        INSTAGRAM.discover([tmp_path])


def test_truncated_json_file_is_one_reject_with_its_position_and_the_rest_lands(tmp_path):
    export = copy_fixture("instagram", tmp_path)
    bad = export / ZOE / "message_2.json"
    truncated = bad.read_text()[:700]  # inside the first message's text
    bad.write_text(truncated)
    (result,), rows, rejects, _ = ingest(INSTAGRAM, [export], tmp_path / "wh")
    assert len(rows) == 15 and result.rejected == 1 and result.records_in == 16
    (reject,) = rejects
    line, column = truncated.count("\n") + 1, len(truncated.rsplit("\n", 1)[1]) + 1
    assert reject["source_ref"] == f"{ZOE}/message_2.json:{line}:{column}"
    assert reject["reason"] == f"invalid JSON: unexpected end of data at line {line} column {column} (char 700)"
    assert reject["raw"] == truncated


def test_json_that_is_not_a_message_file_is_rejected(tmp_path):
    export = copy_fixture("instagram", tmp_path)
    write_json(export / ZOE / "message_2.json", {"participants": [], "messages": {"not": "a list"}})
    (result,), rows, rejects, _ = ingest(INSTAGRAM, [export], tmp_path / "wh")
    assert [r["reason"] for r in rejects] == ['not a Meta message file: no "messages" list']
    assert rejects[0]["source_ref"] == f"{ZOE}/message_2.json"
    assert len(rows) == 15


def test_unreadable_messages_are_rejected_one_by_one(tmp_path):
    messages = [
        _msg(9000, "fine"),
        {"sender_name": "Sam", "content": "no time"},
        "not an object",
        {"sender_name": "Sam", "timestamp_ms": 8000, "content": 42},
        {"sender_name": "Sam", "timestamp_ms": 7000.5, "content": "float time"},
        {"sender_name": "Sam", "timestamp_ms": 6000, "share": "not an object"},
        {"sender_name": "Sam", "timestamp_ms": 5000, "content": "odd reactions", "reactions": {"x": 1}},
        _msg(4000, "also fine ✨"),
    ]
    write_json(tmp_path / "export/messages/inbox/sam_42/message_1.json", _legacy_thread(messages))
    (result,), rows, rejects, _ = ingest(INSTAGRAM, [tmp_path / "export"], tmp_path / "wh")
    ref = "messages/inbox/sam_42/message_1.json#messages"
    assert [(r["source_ref"], r["body_raw"], r["flags"]) for r in rows] == [
        (f"{ref}[0]", "fine", None),
        (f"{ref}[6]", "odd reactions", ["malformed_reaction"]),
        (f"{ref}[7]", "also fine ✨", None),
    ]
    assert [(r["source_ref"], r["reason"]) for r in rejects] == [
        (f"{ref}[1]", "timestamp_ms is missing or not an integer"),
        (f"{ref}[2]", "message is not a JSON object"),
        (f"{ref}[3]", "content is not a string"),
        (f"{ref}[4]", "timestamp_ms is missing or not an integer"),
        (f"{ref}[5]", "unexpected message structure (AttributeError)"),
    ]
    assert json.loads(rejects[0]["raw"]) == messages[1]
    assert result.records_in == 8


def test_batches_stay_within_the_batch_size(tmp_path, monkeypatch):
    monkeypatch.setattr(meta, "BATCH_ROWS", 4)
    (export,) = INSTAGRAM.discover([FIXTURES / "instagram"])
    batches = list(INSTAGRAM.parse(export, ParseContext("instagram", ME)))
    assert [b.num_rows for b in batches] == [4, 4, 4, 4, 4]
    _, rows, _, _ = ingest(INSTAGRAM, [FIXTURES / "instagram"], tmp_path)
    assert [m for b in batches for m in b.column("message_id").to_pylist()] == [r["message_id"] for r in rows]


def test_progress_covers_every_byte_of_the_export(tmp_path):
    (result,), _, _, progress = ingest(MESSENGER, [FIXTURES / "messenger"], tmp_path)
    (export,) = MESSENGER.discover([FIXTURES / "messenger"])
    assert progress == sum(f.stat().st_size for f in export.files)


@pytest.mark.parametrize(
    "line, kind",
    [
        ("Liked a message", "reaction"),
        ("Reacted 😂 to your message", "reaction"),
        ("Alex Morgan reacted ❤ to your message", "reaction"),
        ("Alex named the group Trip to Tbilisi 🇬🇪.", "system"),
        ("Alex Morgan added Sam Lee to the group.", "system"),
        ("Sam left the group.", "system"),
        ("Alex changed the theme to Lavender.", "system"),
        ("Alex set the nickname for Sam to Sammy.", "system"),
        ("Alex set the emoji to 🔥.", "system"),
        ("Alex started a video chat.", "system"),
        ("The video chat ended.", "system"),
        ("You sent an attachment.", "system"),
        ("You are now connected on Messenger", "system"),
        ("You missed a call from Alex.", "call"),
        ("Alex missed your video call.", "call"),
        ("call me when you get home", "text"),
        ("we should name the group something fun", "text"),
        ("haha I liked your message so much", "text"),
        ("can you send an attachment of the plan?", "text"),
        ("Alex named the group " + "x" * 300, "text"),
    ],
)
def test_system_lines_are_recognised_and_ordinary_writing_is_not(line, kind):
    assert text_kind(line) == kind


def test_sample_exports_land_without_rejects(tmp_path):
    written = generate(tmp_path / "samples", messages=3000, seed=11, platforms=["instagram", "messenger"])
    me = Me(names=("Robin Vale", "Robin", "robin.vale_"))
    for ingester in (INSTAGRAM, MESSENGER):
        (result,), rows, rejects, _ = ingest(ingester, [tmp_path / "samples" / ingester.platform], tmp_path / "wh", me)
        assert rejects == []
        assert result.landed == written.counts[ingester.platform]
        kinds = {r["content_type"] for r in rows}
        assert {"text", "photo", "link", "deleted", "reaction", "video", "audio", "system"} <= kinds
        assert {r["direction"] for r in rows} == {"inbound", "outbound"}
        assert all("Ã" not in (r["body_raw"] or "") and "Ã" not in (r["sender"] or "") for r in rows)
        assert len({r["message_id"] for r in rows}) == len(rows)
    assert "1 end-to-end-encrypted JSON" in result.notes[0]


def test_file_that_is_not_utf8_is_rejected_at_the_bad_byte(tmp_path):
    export = copy_fixture("instagram", tmp_path)
    bad = export / ZOE / "message_2.json"
    data = bad.read_bytes()
    bad.write_bytes(data[:100] + b"\xff" + data[101:])
    _, rows, rejects, _ = ingest(INSTAGRAM, [export], tmp_path / "wh")
    assert [(r["source_ref"], r["reason"]) for r in rejects] == [
        (f"{ZOE}/message_2.json@100", "invalid JSON: not UTF-8 at byte 100")
    ]
    assert len(rows) == 15


def test_an_error_while_parsing_ahead_reaches_the_landing_and_nothing_lands(tmp_path):
    archive = meta_zip(FIXTURES / "instagram", tmp_path / "export.zip")
    (export,) = INSTAGRAM.discover([archive])
    archive.write_bytes(b"no longer a zip")  # e.g. replaced while the ingest was starting
    with pytest.raises(ExportError, match="not a readable zip file"):
        land(INSTAGRAM, export, tmp_path / "wh", ParseContext("instagram", ME))
    assert not list((tmp_path / "wh").rglob("*.parquet"))


def test_closing_the_parse_early_stops_its_worker(monkeypatch):
    monkeypatch.setattr(meta, "BATCH_ROWS", 2)
    (export,) = INSTAGRAM.discover([FIXTURES / "instagram"])
    items = INSTAGRAM.parse(export, ParseContext("instagram", ME))
    assert next(items).num_rows == 2
    items.close()
    assert not [t for t in threading.enumerate() if t.name == "meta-parse"]
