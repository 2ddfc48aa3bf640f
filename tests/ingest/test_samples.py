"""The sample-export generator: determinism, real export layouts, counts, config."""

from __future__ import annotations

import email.header
import json
import mailbox
import re
import tomllib
import zipfile
from pathlib import Path

import pytest

from ingest.samples import PLATFORMS, generate, gmail, zip_export
from ingest.samples.persona import ME_NAMES

N = 1500
ANDROID = re.compile(r"^(\d{1,2}[/.]\d{1,2}[/.]\d{2,4}), (\d{1,2}:\d{2}(?:\u202f[AP]M)?) - (.*)$")
IOS = re.compile(r"^\u200e?\[(\d{1,2}/\d{1,2}/\d{2,4}), (\d{1,2}:\d{2}:\d{2}(?:\u202f[AP]M)?)\] ([^:]+): (.*)$")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    ticks: list[int] = []
    summary = generate(out, messages=N, seed=7, progress=ticks.append)
    return out, summary, ticks


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _without_config(tree: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in tree.items() if k != "ai_me.toml"}  # it holds the absolute out path


def test_same_inputs_give_identical_bytes(tmp_path):
    a = generate(tmp_path / "a", messages=700, seed=3)
    b = generate(tmp_path / "b", messages=700, seed=3)
    assert a.counts == b.counts
    ta, tb = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert _without_config(ta) == _without_config(tb)
    assert ta["ai_me.toml"].replace(b"/a/", b"/b/") == tb["ai_me.toml"]
    c = generate(tmp_path / "c", messages=700, seed=4)
    assert _without_config(_tree(tmp_path / "c")) != _without_config(ta)
    assert c.counts == a.counts


def test_rerun_with_fewer_messages_leaves_no_stale_thread_files(tmp_path):
    generate(tmp_path / "x", messages=900, platforms=["messenger"])
    generate(tmp_path / "x", messages=300, platforms=["messenger"])
    generate(tmp_path / "y", messages=300, platforms=["messenger"])
    assert _tree(tmp_path / "x" / "messenger") == _tree(tmp_path / "y" / "messenger")


def test_parallel_and_blocked_output_equals_sequential(tmp_path, monkeypatch):
    monkeypatch.setattr(gmail, "BLOCK", 120)  # several mbox blocks, merged from part files
    generate(tmp_path / "seq", messages=1200, workers=1)
    generate(tmp_path / "par", messages=1200, workers=2)
    seq, par = _tree(tmp_path / "seq"), _tree(tmp_path / "par")
    assert not [k for k in seq if ".part-" in k]
    assert _without_config(seq) == _without_config(par)


def test_counts_progress_and_files(sample):
    out, summary, ticks = sample
    assert summary.total == N == sum(ticks)
    assert list(summary.counts) == list(PLATFORMS)
    assert summary.counts == {"whatsapp": 675, "instagram": 225, "messenger": 225, "gmail": 375}
    assert all(p.is_file() and out in p.parents for p in summary.files)
    # every record is really there
    assert _whatsapp_records(out) == summary.counts["whatsapp"]
    for platform in ("instagram", "messenger"):
        assert (
            sum(len(json.loads(p.read_text())["messages"]) for p in (out / platform).rglob("message_*.json"))
            == summary.counts[platform]
        )
    assert len(mailbox.mbox(out / "gmail" / gmail.MBOX_NAME)) == summary.counts["gmail"]


@pytest.mark.parametrize("n", [1, 13, 77])
def test_tiny_samples_hold_exactly_n_records(tmp_path, n):
    s = generate(tmp_path, messages=n)
    got = {
        "whatsapp": _whatsapp_records(tmp_path) if (tmp_path / "whatsapp").exists() else 0,
        "gmail": len(mailbox.mbox(tmp_path / "gmail" / gmail.MBOX_NAME)),
    }
    for platform in ("instagram", "messenger"):
        files = (tmp_path / platform).rglob("message_*.json")
        got[platform] = sum(len(json.loads(p.read_text())["messages"]) for p in files)
    assert got == s.counts and s.total == n


def test_platform_subset_is_split_proportionally(tmp_path):
    s = generate(tmp_path, messages=1000, platforms=["whatsapp", "gmail"])
    assert s.counts == {"whatsapp": 643, "gmail": 357}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ai_me.toml", "gmail", "whatsapp"]
    cfg = tomllib.loads(s.config_path.read_text())
    assert set(cfg["exports"]) == {"whatsapp", "gmail"}
    with pytest.raises(ValueError):
        generate(tmp_path, messages=10, platforms=["telegram"])


# --- WhatsApp ----------------------------------------------------------------------------------


def _chat_texts(out: Path) -> dict[str, str]:
    texts = {}
    for p in sorted((out / "whatsapp").rglob("*")):
        if p.suffix == ".txt":
            texts[p.relative_to(out / "whatsapp").as_posix()] = p.read_text(encoding="utf-8")
        elif p.suffix == ".zip":
            with zipfile.ZipFile(p) as zf:
                texts[p.name] = zf.read("_chat.txt").decode("utf-8")
    return texts


def _whatsapp_records(out: Path) -> int:
    return sum(
        1 for t in _chat_texts(out).values() for line in t.splitlines() if ANDROID.match(line) or IOS.match(line)
    )


def test_whatsapp_layouts(sample):
    out = sample[0]
    texts = _chat_texts(out)
    assert "WhatsApp Chat with Sam Okafor.txt" in texts
    assert "WhatsApp Chat - Дмитрий Волков/_chat.txt" in texts  # an unzipped iOS export
    with zipfile.ZipFile(out / "whatsapp" / "WhatsApp Chat - Priya Shah.zip") as zf:
        names = zf.namelist()
    assert names[0] == "_chat.txt" and re.fullmatch(r"\d{8}-PHOTO-\d{4}(-\d\d){5}\.jpg", names[1])
    assert f"<attached: {names[1]}>" in texts["WhatsApp Chat - Priya Shah.zip"]

    styles = set()
    for name, text in texts.items():
        lines = text.splitlines()
        first = lines[0]
        assert "end-to-end encrypted" in first or "Ende-zu-Ende" in first
        headers = [ln for ln in lines if ANDROID.match(ln) or IOS.match(ln)]
        assert len(headers) < len(lines), f"{name}: no multi-line message"
        assert ANDROID.match(lines[0]) or IOS.match(lines[0])
        m = ANDROID.match(first) or IOS.match(first)
        date, clock = m.group(1), m.group(2)
        year_digits = len(re.split(r"[/.]", date)[-1])
        styles.add(("ios" if IOS.match(first) else "android", "." in date, "\u202f" in clock, year_digits))
    assert ("android", False, False, 4) in styles  # en-GB 02/01/2023, 10:11
    assert ("android", True, False, 2) in styles  # de-DE 02.01.23, 10:11
    assert ("android", False, True, 2) in styles  # en-US 1/2/23, 3:13 PM (U+202F)
    assert ("ios", False, False, 4) in styles  # iOS en-GB [02/01/2023, 10:11:12]
    assert ("ios", False, True, 2) in styles  # iOS en-US [1/2/23, 3:13:12 PM]

    everything = "\n".join(texts.values())
    for marker in (
        "<Media omitted>",
        "\u200eimage omitted",
        "This message was deleted",
        "You deleted this message",
        "<This message was edited>",
        "<Medien ausgeschlossen>",
        'Robin Vale created group "Weekend Crew"',
        "Robin Vale added Sam Okafor",
        "+44 7700 900781 left",
        " - Robin Vale: ",
        " - Robin: ",
        "4111 1111 1111 1111",
        "GB82 WEST 1234 5698 7654 32",
        "+1 415 555 0134",
    ):
        assert marker in everything, marker


def test_whatsapp_bulk_is_one_big_chat(tmp_path):
    s = generate(tmp_path, messages=4000, platforms=["whatsapp"])
    sam = (tmp_path / "whatsapp" / "WhatsApp Chat with Sam Okafor.txt").read_text(encoding="utf-8")
    assert sum(1 for ln in sam.splitlines() if ANDROID.match(ln)) > 0.65 * s.counts["whatsapp"]


# --- Instagram / Messenger ---------------------------------------------------------------------


def _threads(out: Path, platform: str) -> dict[Path, list[Path]]:
    threads: dict[Path, list[Path]] = {}
    for p in (out / platform).rglob("message_*.json"):
        threads.setdefault(p.parent, []).append(p)
    return {k: sorted(v, key=lambda p: int(p.stem.split("_")[1])) for k, v in threads.items()}


def _unmojibake(s: str) -> str:
    return s.encode("latin-1").decode("utf-8")


def test_meta_layouts_and_order(sample):
    out = sample[0]
    ig, fb = _threads(out, "instagram"), _threads(out, "messenger")
    assert all(p.parts[-4:-1] == ("your_instagram_activity", "messages", "inbox") for p in ig)
    boxes = {p.parent.name for p in fb}
    assert boxes == {"inbox", "archived_threads", "message_requests", "e2ee_cupcake"}
    assert all(re.fullmatch(r"[a-z]+_\d{16}", p.name) for p in list(ig) + list(fb))
    assert max(len(files) for files in ig.values()) >= 2 and max(len(files) for files in fb.values()) >= 2
    assert (out / "instagram/your_instagram_activity/messages/secret_conversations.json").is_file()
    assert (out / "messenger/personal_information/profile_information/profile_information.json").is_file()

    for folder, files in {**ig, **fb}.items():
        if folder.parent.name == "e2ee_cupcake":
            continue
        stamps = []
        for p in files:
            raw = p.read_text(encoding="utf-8")
            assert raw.isascii()  # everything \u00XX-escaped
            doc = json.loads(raw)
            assert raw == json.dumps(doc, indent=2)  # Meta's (and json's) layout
            assert list(doc)[:2] == ["participants", "messages"]
            assert doc["thread_path"] == f"{folder.parent.name}/{folder.name}"
            assert all(m["is_geoblocked_for_viewer"] is False for m in doc["messages"])
            stamps += [m["timestamp_ms"] for m in doc["messages"]]
        assert stamps == sorted(stamps, reverse=True)  # newest first, message_1 newest


def test_meta_mojibake_round_trips(sample):
    out = sample[0]
    texts, names, reactions = [], set(), []
    for platform in ("instagram", "messenger"):
        for files in _threads(out, platform).values():
            for p in files:
                doc = json.loads(p.read_text())
                if "threadName" in doc:
                    continue
                names |= {_unmojibake(x["name"]) for x in doc["participants"]}
                for m in doc["messages"]:
                    texts.append(_unmojibake(m.get("content", "")))
                    reactions += [_unmojibake(r["reaction"]) for r in m.get("reactions", [])]
    assert {"Zoë Ñúñez", "ნინო ბერიძე", "Дмитрий Волков", "robin.vale_", "Robin Vale"} <= names
    joined = "\n".join(texts)
    assert re.search("[\u10d0-\u10ff]", joined) and re.search("[\u0400-\u04ff]", joined)
    assert "Robin named the group Book club 📚." in texts
    assert {"Liked a message", "You sent an attachment."} <= set(texts)
    assert any(t.startswith("Reacted ") for t in texts) and any(t.endswith("started a video chat.") for t in texts)
    assert any("\u200d" in r for r in reactions)  # ZWJ emoji survive
    assert any("✨" in t or "😭" in t for t in texts)


def test_messenger_e2ee_shape(sample):
    out = sample[0]
    files = list((out / "messenger/your_facebook_activity/messages/e2ee_cupcake").rglob("message_1.json"))
    assert len(files) == 1
    raw = files[0].read_text(encoding="utf-8")
    assert not raw.isascii()  # plain UTF-8, no mojibake
    doc = json.loads(raw)
    assert doc["participants"] == ["Robin Vale", "Priya Shah"] and doc["threadName"] == "Priya Shah"
    m = doc["messages"][0]
    assert list(m) == ["isUnsent", "media", "reactions", "senderName", "text", "timestamp", "type"]
    assert any(ch in "".join(x["text"] for x in doc["messages"]) for ch in "😍🎉💕😂🥳❤🔥")


# --- Gmail -------------------------------------------------------------------------------------


def _parts(msg):
    return list(msg.walk()) if msg.is_multipart() else [msg]


def test_gmail_mbox(sample):
    out = sample[0]
    path = out / "gmail" / gmail.MBOX_NAME
    raw = path.read_bytes()
    assert raw.startswith(b"From ") and b"\r\n" not in raw
    assert re.match(rb"From \d{19}@xxx \w{3} \w{3} \d\d \d\d:\d\d:\d\d \+0000 \d{4}\n", raw)
    assert b"\n>From all of us" in raw and b"\nFrom all" not in raw  # mboxo escaping of body lines
    box = mailbox.mbox(path)
    by_id, ctes, charsets, types, labels = {}, set(), set(), set(), set()
    for msg in box:
        assert re.fullmatch(r"\d{19}", msg["X-GM-THRID"])
        labels |= set(msg["X-Gmail-Labels"].split(","))
        by_id[msg["Message-ID"]] = msg
        for part in _parts(msg):
            ctes.add(str(part.get("Content-Transfer-Encoding", "")).lower())
            types.add(part.get_content_type())
            if part.get_content_charset():
                charsets.add(part.get_content_charset())
        if msg["X-Gmail-Labels"] == "Sent":
            assert "robin.vale@gmail.com" in msg["From"]
    assert {"base64", "quoted-printable"} <= ctes
    assert charsets & {"iso-8859-1", "windows-1252"}
    assert {"multipart/alternative", "text/calendar", "application/pdf", "text/html"} <= types
    assert any(not m.is_multipart() and m.get_content_type() == "text/html" for m in box)
    assert {"Sent", "Inbox", "Spam", "Chat", "Category Promotions", "Trash"} <= labels
    replies = [m for m in box if m["In-Reply-To"] in by_id]
    assert replies and all(m["X-GM-THRID"] == by_id[m["In-Reply-To"]]["X-GM-THRID"] for m in replies)
    assert any(m["List-Unsubscribe"] and m["Precedence"] == "bulk" for m in box)
    decoded = {str(email.header.make_header(email.header.decode_header(m["From"]))) for m in box}
    assert any("Zoë Ñúñez" in d for d in decoded) or any("Дмитрий" in d or "ნინო" in d for d in decoded)
    bodies = "\n".join(
        p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8")
        for m in box
        for p in _parts(m)
        if p.get_content_maintype() == "text"
    )
    for quote_style in (
        "wrote:",
        "-----Original Message-----",
        "schrieb",
        "\n> ",
        "Sent from my iPhone",
        "-- \nRobin Vale",
    ):
        assert quote_style in bodies, quote_style


# --- config and helpers ------------------------------------------------------------------------


def test_config_points_at_the_exports(sample):
    out, summary, _ = sample
    cfg = tomllib.loads(summary.config_path.read_text(encoding="utf-8"))
    assert set(cfg) == {"me", "exports", "ingest"}
    assert cfg["me"]["names"] == list(ME_NAMES)
    assert cfg["me"]["emails"] == ["robin.vale@gmail.com", "robin@valeworks.example"]
    assert cfg["me"]["phones"] == ["+44 7700 900456"]
    assert cfg["ingest"] == {"timezone": "Europe/London"}
    for platform in PLATFORMS:
        (path,) = cfg["exports"][platform]
        assert Path(path).is_absolute() and Path(path).exists()
    assert cfg["exports"]["gmail"][0].endswith("/gmail/All mail Including Spam and Trash.mbox")
    config = pytest.importorskip("ingest.core.config")  # the project's own strict loader
    loaded = config.load_config(summary.config_path)
    assert loaded.export_paths("whatsapp") == [out / "whatsapp"]


def test_zip_export_is_deterministic(sample, tmp_path):
    out = sample[0]
    a = zip_export(out / "instagram", tmp_path / "a" / "instagram-robin.vale_-2024-01-01.zip")
    b = zip_export(out / "instagram", tmp_path / "b" / "instagram-robin.vale_-2024-01-01.zip")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        assert any(n.startswith("your_instagram_activity/messages/inbox/") for n in zf.namelist())


def test_robin_writes_distinctively(sample):
    out = sample[0]
    robin, others = [], []
    for line in (out / "whatsapp" / "WhatsApp Chat with Sam Okafor.txt").read_text(encoding="utf-8").splitlines():
        m = ANDROID.match(line)
        if m and ": " in m.group(3):
            who, text = m.group(3).split(": ", 1)
            (robin if who == "Robin Vale" else others).append(text)
    lower = sum(t[:1].islower() or not t[:1].isalpha() for t in robin) / len(robin)
    assert lower > 0.8 and sum(t.endswith(".") for t in robin) / len(robin) < 0.05
    assert sum(t[:1].isupper() for t in others) / len(others) > 0.8
