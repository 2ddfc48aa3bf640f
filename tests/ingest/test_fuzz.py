"""Nothing crashes: every ingester, driven through the real entry point (ingest.runner.ingest_platform)
on generated and then damaged exports, ends in landed records, rejects with reasons, or one error line
naming the file, never in another exception. Damage: truncation, random bytes, other encodings
(UTF-16, latin-1, cp1252, invalid UTF-8), zips with corrupt data, lying sizes, unsafe member paths
and member names flagged as UTF-8 that are not, 5 MB lines, JSON nested 100,000 levels deep, zip
bombs, mbox files with binary junk. (tests/ingest/test_zip_limits.py: the caps on exports, ratios, messages.)

Hypothesis draws new examples on every run and keeps a failing one only in a local database: a bug
found here gets an @example of its own (below) and a regression test, so every run tries it again.

Examples per test: a few dozen by default (the file stays well under a minute);
`make fuzz` (HYPOTHESIS_PROFILE=fuzz, registered in conftest.py) runs thousands.
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.core.config import Config
from ingest.core.lock import LOCK_FILE
from ingest.core.schema import RAW_SCHEMA, REJECT_SCHEMA
from ingest.core.warehouse import Warehouse
from ingest.runner import IngestReport, ingest_platform
from ingest.sources.meta import files as meta_files
from ingest.sources.whatsapp import files as whatsapp_source
from ingest.sources.zips import text_too_long
from tests.support.fuzzing import examples, utf8_flagged

SECRET = "Zq7secret"  # planted in message text: must never reach an error, note or reject reason
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # zips built with repeated names


# --- the outcome every input must end in ------------------------------------------------------------


def ingest(platform: str, paths: list[Path], where: Path) -> IngestReport:
    """Ingest into where/wh and check the outcome is an allowed one; any other exception fails the test.
    `where` holds the inputs: nothing may appear in it outside the warehouse, nor beside it."""
    before, beside = _inputs(where), set(where.parent.iterdir())
    report = ingest_platform(platform, paths, Config(), me_names=("Robin Vale",), warehouse=where / "wh")
    for error in report.errors:  # one line naming a file the user gave (or one inside it)
        assert "\n" not in error and SECRET not in error
        assert any(p.name in error for p in paths), error
    for r in report.results:
        assert r.records_in == r.landed + r.rejected
        raw = pq.read_table(r.path)
        assert raw.schema == RAW_SCHEMA and raw.num_rows == r.landed
        if r.rejected:
            rejects = pq.read_table(r.reject_path)
            assert rejects.schema == REJECT_SCHEMA and rejects.num_rows == r.rejected
            assert all(rejects["reason"].to_pylist()) and all(rejects["source_ref"].to_pylist())
        assert not any(SECRET in x for x in [*r.notes, *r.reject_reasons])
    assert report.results or report.errors
    # zips are read, never extracted: no file beside the input, none in the warehouse but its Parquet, the
    # lock and the fingerprints of what was landed (hashes only)
    assert _inputs(where) == before
    assert set(where.parent.iterdir()) == beside
    kept = (LOCK_FILE, Warehouse(where / "wh").exports_seen.name)
    assert not [f for f in (where / "wh").rglob("*") if f.is_file() and f.suffix != ".parquet" and f.name not in kept]
    return report


def _inputs(where: Path) -> set[Path]:
    return {p for p in where.rglob("*") if p.is_file() and not p.is_relative_to(where / "wh")}


# --- damage ----------------------------------------------------------------------------------------

ENCODINGS = ["utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252"]


@st.composite
def damaged(draw, text: str) -> bytes:
    """text in some encoding, then maybe cut, with random bytes inserted or bytes flipped."""
    data = text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["cut", "insert", "flip", "none"]))
        at = draw(st.integers(0, len(data)))
        if op == "cut":
            data = data[:at]
        elif op == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]
        elif op == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return data


UNSAFE_NAMES = [
    "../../evil.txt",
    "../_chat.txt",
    "/tmp/_chat.txt",
    "C:\\evil\\_chat.txt",
    "a/../../_chat.txt",
    "..\\..\\_chat.txt",
]


@st.composite
def zipped(draw, members: list[tuple[str, bytes]]) -> bytes:
    """A zip of the members, with any compression; maybe cut or with bytes flipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            method = draw(
                st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
            )
            zf.writestr(zipfile.ZipInfo(name, (2023, 1, 1, 0, 0, 0)), data, compress_type=method)
    data = bytearray(buf.getvalue())
    damage = draw(st.sampled_from(["none", "none", "cut", "flip", "lie", "utf8"]))
    if damage == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    elif damage == "lie":  # the first member declares another uncompressed size than it has
        size = struct.pack("<I", draw(st.integers(0, 2**32 - 1)))
        central = data.find(b"PK\x01\x02")
        data[22:26] = size
        if central >= 0:
            data[central + 24 : central + 28] = size
    elif damage == "utf8":  # a member's name flagged as UTF-8 (bit 0x800) in one or both headers, but not
        name = draw(st.sampled_from([n for n, _ in members]))
        return utf8_flagged(
            members,
            name,
            *draw(st.sampled_from([(True, True), (True, False), (False, True)])),
            bad=draw(st.sampled_from([b"\xff", b"\xc3(", b"\x80\x80", b"\xed\xa0\x80"])),
        )
    return bytes(data)


text_line = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=30)
secret_text = text_line.map(lambda t: f"{t} {SECRET}")

# --- WhatsApp -----------------------------------------------------------------------------------------

WA_HEADERS = [
    "12/03/2023, 14:05 - ",
    "[12/03/2023, 14:05:09] ",
    "3/12/23, 2:05 PM - ",
    "2023-03-12 14:05 - ",
    "31/02/2023, 25:61 - ",
    "12.03.23, 14:05 - ",
]
wa_line = st.one_of(
    st.builds(
        lambda h, who, t: f"{h}{who}: {t}",
        st.sampled_from(WA_HEADERS),
        st.sampled_from(["Alex", "Robin Vale", "\u200eSam", "\u202eevil", "+44 7700 900123"]),
        secret_text,
    ),
    st.builds(
        lambda h, t: h + t,
        st.sampled_from(WA_HEADERS),
        st.sampled_from(
            ["Messages and calls are end-to-end encrypted.", "Alex joined", "<Media omitted>", "\u200eimage omitted"]
        ),
    ),
    text_line,
    st.just(""),
)
wa_chat = st.lists(wa_line, min_size=1, max_size=30).map("\n".join)


@st.composite
def whatsapp_export(draw) -> tuple[str, bytes]:
    data = draw(damaged(draw(wa_chat)))
    if draw(st.booleans()):
        return "WhatsApp Chat with Alex.txt", data
    name = draw(st.sampled_from(["_chat.txt", "WhatsApp Chat with Alex.txt", "notes.txt", *UNSAFE_NAMES]))
    extra = draw(
        st.lists(
            st.sampled_from([("IMG-1.jpg", b"\xff\xd8"), ("other.txt", b"x"), (UNSAFE_NAMES[0], b"evil")]), max_size=2
        )
    )
    return "WhatsApp Chat - Alex.zip", draw(zipped([(name, data), *extra]))


CHAT = b"12/03/2023, 14:05 - Alex: hi " + SECRET.encode() + b"\n"
META_FILE = b'{"messages": [{"sender_name": "Sam", "timestamp_ms": 1, "content": "hi"}]}'
# issue #26: names flagged as UTF-8 that are not made zipfile raise UnicodeDecodeError
BAD_LOCAL_NAME_CHAT = utf8_flagged([("_chat.txt", CHAT)], "_chat.txt", central=False)
BAD_NAMES_MEDIA = utf8_flagged([("_chat.txt", CHAT), ("IMG-1.jpg", b"\xff\xd8")], "IMG-1.jpg")
BAD_LOCAL_NAME_META = utf8_flagged([("inbox/sam_1/message_1.json", META_FILE)], "inbox/sam_1", central=False)


@examples(100)
@given(whatsapp_export())
@example(("WhatsApp Chat - Alex.zip", BAD_LOCAL_NAME_CHAT))
@example(("WhatsApp Chat - Alex.zip", BAD_NAMES_MEDIA))
def test_whatsapp_never_crashes(export):
    name, data = export
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in" / name
        path.parent.mkdir()
        path.write_bytes(data)
        ingest("whatsapp", [path], Path(tmp) / "in")


# --- Instagram and Messenger ------------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), text_line, secret_text
)
json_keys = st.sampled_from(["uri", "link", "name", "actor", "reaction", "x"]) | text_line
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_keys, inner, max_size=3), max_leaves=12
)
timestamps = st.one_of(st.integers(0, 2**41), st.integers(-(2**63), 2**63 - 1), json_value)
legacy_message = st.fixed_dictionaries(
    {"sender_name": st.sampled_from(["Sam", "Robin Vale"]) | json_value, "timestamp_ms": timestamps},
    optional={
        "content": secret_text | json_value,
        "photos": json_value,
        "share": json_value,
        "reactions": json_value,
        "is_unsent": json_value,
        "type": st.sampled_from(["Generic", "Call", "Share", "Subscribe"]) | json_value,
        "call_duration": json_value,
        "missed": json_value,
        "sticker": json_value,
    },
)
e2ee_message = st.fixed_dictionaries(
    {"senderName": st.sampled_from(["Sam", "Robin Vale"]) | json_value, "timestamp": timestamps},
    optional={
        "text": secret_text | json_value,
        "media": json_value,
        "reactions": json_value,
        "isUnsent": json_value,
        "type": st.sampled_from(["text", "call"]) | json_value,
    },
)
meta_document = st.one_of(
    st.fixed_dictionaries(
        {"messages": st.lists(legacy_message | json_value, max_size=8)},
        optional={"participants": json_value, "title": json_value},
    ),
    st.fixed_dictionaries(
        {"messages": st.lists(e2ee_message, max_size=8), "threadName": json_value},
        optional={"participants": json_value},
    ),
    json_value,
)


@st.composite
def meta_export(draw) -> list[tuple[str, bytes]]:
    """(path inside the export, bytes) of a few message files."""
    files = []
    for n in range(draw(st.integers(1, 3))):
        text = json.dumps(draw(meta_document), ensure_ascii=draw(st.booleans()))
        thread = draw(st.sampled_from(["inbox/sam_1", "inbox/alex_2", "message_requests/x_3"]))
        files.append((f"your_instagram_activity/messages/{thread}/message_{n + 1}.json", draw(damaged(text))))
    return files


@examples(80)
@given(meta_export(), st.sampled_from(["instagram", "messenger"]), st.booleans())
def test_meta_never_crashes(files, platform, as_zip):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        if as_zip:
            path = root / "export.zip"
            unsafe = [
                ("../../inbox/evil_1/message_1.json", b'{"messages": []}'),
                ("/abs/inbox/evil_2/message_1.json", b'{"messages": []}'),
            ]
            path.write_bytes(plain_zip(files + unsafe))
        else:
            path = root / "export"
            for name, data in files:
                (path / name).parent.mkdir(parents=True, exist_ok=True)
                (path / name).write_bytes(data)
        report = ingest(platform, [path], root)
        if as_zip:  # unsafe member paths are refused, each as a reject of its own
            assert report.results[0].reject_reasons.get("refused zip member with an absolute or parent (..) path") == 2


def plain_zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


@examples(30)
@given(meta_export(), st.data())
def test_meta_zips_damaged_anywhere_never_crash(files, data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        (root / "export.zip").write_bytes(data.draw(zipped(files)))
        ingest("instagram", [root / "export.zip"], root)


# --- Gmail ---------------------------------------------------------------------------------------------

FROM = "From 1754093338441234567@xxx Mon Jan 02 10:11:12 +0000 2023"
mail_header = st.one_of(
    st.sampled_from(
        [
            "Date: Mon, 2 Jan 2023 10:11:12 +0000",
            "Date: yesterday",
            "Date: Mon, 99 Jan 99999 99:99:99 +9999",
            "From: Sam <sam@example.com>",
            "From: =?utf-8?q?=ff?= <a@b>",
            "To: robin@example.org",
            "Subject: =?utf-8?B?!!!?= hi",
            "Subject: =?x-unknown?Q?=FF?=",
            "Message-ID: <m1@x>",
            "Message-ID: <m1@x>",
            "Content-Type: text/html; charset=utf-8",
            "Content-Type: text/plain; charset=utf-16",
            "Content-Type: text/plain; charset=rot13",
            "Content-Type: multipart/alternative; boundary=b1",
            'Content-Type: multipart/mixed; boundary="b1"',
            "Content-Type: multipart/mixed",
            "Content-Transfer-Encoding: base64",
            "Content-Transfer-Encoding: quoted-printable",
            'X-Gmail-Labels: Sent,"Category Updates"',
            "X-GM-THRID: 123",
            "References: <m1@x> <m2@x>",
            "In-Reply-To: <m1@x>",
            "Content-Disposition: attachment",
        ]
    ),
    st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(["Date", "From", "Subject", "Content-Type"]), text_line),
)
mail_body = st.one_of(
    secret_text,
    st.just("--b1\nContent-Type: text/plain\n\nhello " + SECRET + "\n--b1--\n"),
    st.just("<html><script>alert(1)</script><p onclick=x>hi</p><img src=x width=1 height=1></html>"),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.lists(
        st.sampled_from(
            [
                "<div>",
                "</div>",
                "<style>",
                "<!--",
                "<a href='",
                "--b1\n",
                "=\n",
                ">From x\n",
                "On Mon, 2 Jan 2023 Sam wrote:\n",
                "> quoted\n",
                "-- \n",
            ]
        )
        | text_line,
        max_size=20,
    ).map("".join),
)
mail = st.builds(lambda hs, body: "\n".join([FROM, *hs, "", body]), st.lists(mail_header, max_size=8), mail_body)


@examples(100)
@given(st.lists(mail, min_size=1, max_size=5).map("\n".join).flatmap(damaged))
def test_gmail_never_crashes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in" / "Inbox.mbox"
        path.parent.mkdir()
        path.write_bytes(data)
        ingest("gmail", [path], path.parent)


@examples(60)
@given(st.binary(max_size=2000), st.sampled_from(["whatsapp", "instagram", "gmail"]))
@example(BAD_LOCAL_NAME_META[4:], "instagram")  # issue #26
def test_random_bytes_never_crash(data, platform):
    name = {"whatsapp": "WhatsApp Chat with Alex.txt", "instagram": "export.zip", "gmail": "Inbox.mbox"}[platform]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in" / name
        path.parent.mkdir()
        path.write_bytes(b"PK\x03\x04" + data if platform == "instagram" else data)
        ingest(platform, [path], path.parent)


# --- the big and the deep, one example each ------------------------------------------------------

HUGE = 5 << 20


def test_huge_single_lines_are_rejected_by_the_text_cap(tmp_path):
    """A 5 MB line: a WhatsApp message, a Meta text, an email body line (each over the 1 MiB cap on
    one message's text: one reject, the rest lands), and a WhatsApp file of no line break."""
    root = tmp_path / "in"
    root.mkdir()
    chat = root / "WhatsApp Chat with Alex.txt"
    chat.write_bytes(
        b"12/03/2023, 14:05 - Alex: hi\n12/03/2023, 14:06 - Alex: " + b"x" * HUGE + b"\n12/03/2023, 14:07 - Alex: bye\n"
    )
    report = ingest("whatsapp", [chat], root)
    assert (report.landed, report.rejected) == (2, 1)
    assert report.results[0].reject_reasons == {text_too_long(HUGE): 1}
    chat.write_bytes(b"y" * HUGE)
    assert ingest("whatsapp", [chat], root).errors  # no header anywhere: not a chat

    thread = root / "ig/inbox/sam_1"
    thread.mkdir(parents=True)
    (thread / "message_1.json").write_text(
        json.dumps(
            {
                "messages": [
                    {"sender_name": "Sam", "timestamp_ms": 1, "content": "z" * HUGE},
                    {"sender_name": "Sam", "timestamp_ms": 2, "content": "fine"},
                ]
            }
        )
    )
    report = ingest("instagram", [root / "ig"], root)
    assert (report.landed, report.rejected) == (1, 1)

    mbox = root / "Inbox.mbox"
    mbox.write_bytes(f"{FROM}\nDate: Mon, 2 Jan 2023 10:11:12 +0000\n\n".encode() + b"w" * HUGE + b"\n")
    report = ingest("gmail", [mbox], root)
    assert (report.landed, report.rejected) == (0, 1)


def test_json_nested_100k_levels_is_one_reject_and_no_recursion_error(tmp_path):
    root = tmp_path / "in" / "export"
    for n, data in enumerate(
        [b"[" * 100_000 + b"]" * 100_000, b'{"messages": [' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"]}"]
    ):
        (root / f"inbox/deep_{n}").mkdir(parents=True)
        (root / f"inbox/deep_{n}/message_1.json").write_bytes(data)
    # deeper than Python's recursion limit, within orjson's (1024): the message is rejected and kept
    (root / "inbox/deep_2").mkdir()
    (root / "inbox/deep_2/message_1.json").write_bytes(
        b'{"messages": [{"sender_name": "Sam", "timestamp_ms": 1, "content": ' + b"[" * 1015 + b"]" * 1015 + b"}]}"
    )
    (root / "inbox/sam_1").mkdir()
    (root / "inbox/sam_1/message_1.json").write_text(
        json.dumps({"messages": [{"sender_name": "Sam", "timestamp_ms": 1, "content": "still here"}]})
    )
    report = ingest("instagram", [root], root.parent)
    (result,) = report.results
    assert result.landed == 1 and result.rejected == 3
    reasons = pq.read_table(result.reject_path).to_pylist()
    assert sorted(r["reason"].split(" at ")[0] for r in reasons) == [
        "content is not a string",
        "invalid JSON: depth limit exceeded",
        "invalid JSON: depth limit exceeded",
    ]
    (deep,) = [r for r in reasons if r["reason"] == "content is not a string"]
    assert deep["raw"].count("[") == 1015  # the rejected message kept whole


def _zeros_zip(path: Path, member: str, size: int, declare: int | None = None) -> None:
    """A zip bomb: `size` zero bytes deflate to about size/1000; `declare` makes its headers lie."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(member, "w", force_zip64=True) as f:
            for _ in range(size >> 20):
                f.write(bytes(1 << 20))
    if declare is not None:
        data = bytearray(path.read_bytes())
        central = data.find(b"PK\x01\x02")
        for at in (22, central + 24):  # uncompressed size, local and central headers (zip64 extra: not read)
            data[at : at + 4] = struct.pack("<I", declare)
        path.write_bytes(bytes(data))


def test_zip_bombs_are_refused_by_the_size_caps_in_bounded_memory(tmp_path, monkeypatch):
    # the caps are 2 GiB (a chat text) and 256 MiB (a Meta message file): lowered so the bombs stay small
    monkeypatch.setattr(whatsapp_source, "MAX_MEMBER_BYTES", 8 << 20)
    monkeypatch.setattr(meta_files, "MAX_FILE_BYTES", 8 << 20)
    root = tmp_path / "in"
    root.mkdir()
    bomb, liar, meta = root / "WhatsApp Chat - Alex.zip", root / "WhatsApp Chat - Sam.zip", root / "export.zip"
    _zeros_zip(bomb, "_chat.txt", 64 << 20)
    # a header that claims a small size: zipfile stops there and the CRC check fails
    _zeros_zip(liar, "_chat.txt", 64 << 20, declare=1000)
    _zeros_zip(meta, "inbox/sam_1/message_1.json", 64 << 20)
    assert max(f.stat().st_size for f in (bomb, liar, meta)) < 1 << 20
    for first_time in (bomb, liar, meta):  # lazy imports and caches first, so the trace sees only the bombs
        ingest("instagram" if first_time == meta else "whatsapp", [first_time], root)
    tracemalloc.start()
    try:
        report = ingest("whatsapp", [bomb], root)
        assert report.errors == [f"{bomb}:_chat.txt: chat text of {64 << 20} bytes exceeds the {8 << 20} byte limit"]
        report = ingest("whatsapp", [liar], root)
        assert len(report.errors) == 1 and "not a readable zip file (Bad CRC-32" in report.errors[0]
        report = ingest("instagram", [meta], root)
        assert report.results[0].reject_reasons == {
            f"zip member of {64 << 20} bytes is larger than a message file can be": 1
        }
        assert tracemalloc.get_traced_memory()[1] < 8 << 20  # never inflated
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "damage, error",
    [
        ("encrypted", "the chat text is encrypted"),
        ("method", "the chat text uses zip compression method 99"),
        ("corrupt", "corrupt zip member"),
    ],
)
def test_unreadable_zip_members_are_one_clear_error(tmp_path, damage, error):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_chat.txt", "".join(f"12/03/2023, 14:{i % 60:02d} - Alex: message {i}\n" for i in range(3000)))
    data = bytearray(buf.getvalue())
    central = data.find(b"PK\x01\x02")
    if damage == "encrypted":  # general purpose flag bit 0
        data[6:8] = data[central + 8 : central + 10] = struct.pack("<H", 1)
    elif damage == "method":
        data[8:10] = data[central + 10 : central + 12] = struct.pack("<H", 99)
    else:
        start = 30 + len("_chat.txt")
        data[start + 5 : start + 40] = bytes(b ^ 0x5A for b in data[start + 5 : start + 40])
    path = tmp_path / "in" / "WhatsApp Chat - Alex.zip"
    path.parent.mkdir()
    path.write_bytes(bytes(data))
    report = ingest("whatsapp", [path], path.parent)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{path}:_chat.txt: {error}")


def test_unreadable_file_is_one_error_naming_it(tmp_path, monkeypatch):
    """A file the ingest may not read (permissions; simulated, as tests may run as root)."""
    (tmp_path / "in").mkdir()
    chat = tmp_path / "in" / "WhatsApp Chat with Alex.txt"
    chat.write_text("12/03/2023, 14:05 - Alex: hi\n")
    real_open = open

    def denied(file, *args, **kwargs):
        if Path(str(file)) == chat:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied)
    report = ingest("whatsapp", [chat], chat.parent)
    assert report.errors == [f"{chat}: I/O error: Permission denied"]


def test_out_of_range_timestamps_are_rejected_not_landed(tmp_path):
    """One time beyond the years 1 to 9999 would fail the whole dbt build (DuckDB cannot hold it)."""
    where = tmp_path / "in"
    thread = where / "ig/inbox/sam_1"
    thread.mkdir(parents=True)
    (thread / "message_1.json").write_text(
        json.dumps(
            {
                "messages": [
                    {"sender_name": "Sam", "timestamp_ms": 2**63 - 1, "content": "a"},
                    {"sender_name": "Sam", "timestamp_ms": -(2**63), "content": "b"},
                    {"sender_name": "Sam", "timestamp_ms": 1_700_000_000_000, "content": "c"},
                ]
            }
        )
    )
    (result,) = ingest("instagram", [where / "ig"], where).results
    assert (result.landed, result.reject_reasons) == (
        1,
        {"timestamp_ms is out of range (not in the years 1 to 9999)": 2},
    )
    mbox = where / "Inbox.mbox"
    mbox.write_bytes(b"From x Mon Jan 01 00:00:00 +0100 0000\nSubject: no Date header\n\nhi\n")
    (result,) = ingest("gmail", [mbox], where).results
    assert (result.landed, result.rejected) == (0, 1)


def test_a_chat_saved_as_utf16_gets_an_error_that_says_so(tmp_path):
    (tmp_path / "in").mkdir()
    chat = tmp_path / "in" / "WhatsApp Chat with Alex.txt"
    chat.write_text("12/03/2023, 14:05 - Alex: hi\n", encoding="utf-16")
    report = ingest("whatsapp", [chat], chat.parent)
    assert report.errors == [f"{chat.name}: not a WhatsApp chat export: the file is UTF-16 text, save it as UTF-8"]
