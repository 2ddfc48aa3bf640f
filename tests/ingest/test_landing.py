"""The raw landing: batching, atomic rename, idempotent re-ingest, rejects and reconciliation."""

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest import landing
from ingest.core.identity import Me
from ingest.core.schema import RAW_SCHEMA, REJECT_SCHEMA
from ingest.sources.base import ExportError, ExportInput, Ingester, ParseContext, Reject
from tests.support.row_buffer import RowBuffer


def parse_lines(export: ExportInput, ctx: ParseContext):
    """A toy format, one `sender|text` per line, enough to drive the landing."""
    buf = RowBuffer(size=3)
    for i, line in enumerate(export.files[0].read_text().splitlines(), 1):
        ctx.records_in += 1
        if line == "CRASH":
            raise ExportError(export.files[0], i, "cannot continue")
        sender, sep, text = line.partition("|")
        if not sep:
            yield Reject(f"{export.files[0].name}:{i}", "no separator" if line else "empty line", line)
            continue
        batch = buf.add(
            dict(
                conversation_id="c1",
                message_id=f"m{i}",
                timestamp_ms=i * 1000,
                sender=sender,
                direction="outbound" if ctx.me.is_me(sender) else "inbound",
                participants=["a", "b"],
                body_raw=text,
                body_text=text,
                content_type="text",
                source_ref=f"{export.files[0].name}:{i}",
            )
        )
        if batch:
            yield batch
    if batch := buf.flush():
        yield batch


TOY = Ingester("whatsapp", lambda paths: [ExportInput(p.name, (p,), p) for p in paths], parse_lines)


def run(tmp_path: Path, text: str, name="chat.txt"):
    src = tmp_path / name
    src.write_text(text)
    wh = tmp_path / "wh"
    ctx = ParseContext("whatsapp", Me(names=("Robin",)))
    return landing.land(TOY, TOY.discover([src])[0], wh, ctx), wh


def test_lands_all_rows_in_schema_with_audit_columns(tmp_path):
    result, wh = run(tmp_path, "Robin|hi\nAlex|yo\nRobin|x\nAlex|y\nAlex|z\n")
    table = pq.read_table(result.path)
    assert table.schema == RAW_SCHEMA
    assert result.landed == 5 and result.rejected == 0 and result.records_in == 5
    assert result.path == wh / "raw" / "whatsapp" / f"{result.export_id}.parquet"
    assert table["direction"].to_pylist() == ["outbound", "inbound", "outbound", "inbound", "inbound"]
    assert set(table["export_id"].to_pylist()) == {result.export_id}
    assert set(table["platform"].to_pylist()) == {"whatsapp"}
    assert table["is_edited"].to_pylist() == [False] * 5


def test_batches_are_grouped_into_bounded_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "ROW_GROUP_ROWS", 4)
    result, _ = run(tmp_path, "".join(f"A|{i}\n" for i in range(10)))
    meta = pq.ParquetFile(result.path).metadata
    assert meta.num_rows == 10
    assert meta.num_row_groups == 2  # batches of 3 flush once 4 rows wait: 3+3, then 3+1


def test_wide_batches_flush_by_size_too(tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "ROW_GROUP_BYTES", 1)
    result, _ = run(tmp_path, "".join(f"A|{i}\n" for i in range(10)))
    assert pq.ParquetFile(result.path).metadata.num_row_groups == 4  # every batch of 3 (and the last 1)


def test_rejects_land_beside_with_reason_and_position(tmp_path):
    result, wh = run(tmp_path, "A|ok\nbroken line\nB|ok\n")
    assert (result.landed, result.rejected) == (2, 1)
    rejects = pq.read_table(result.reject_path)
    assert rejects.schema == REJECT_SCHEMA
    assert rejects.to_pylist() == [
        {
            "platform": "whatsapp",
            "export_id": result.export_id,
            "source_ref": "chat.txt:2",
            "reason": "no separator",
            "raw": "broken line",
        }
    ]
    assert result.reject_reasons == {"no separator": 1}


def test_reject_reasons_are_counted_each(tmp_path):
    result, _ = run(tmp_path, "A|ok\nbroken\n\nbent\nB|ok\n")
    assert result.reject_reasons == {"no separator": 2, "empty line": 1} and result.rejected == 3


def test_rejects_are_buffered_in_bounded_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "ROW_GROUP_ROWS", 1)  # each batch the reject buffer flushes is a row group
    result, _ = run(tmp_path, "broken\n" * 10_001)  # 10,000 rejects to a batch
    assert [g.num_rows for g in _row_groups(result.reject_path)] == [10_000, 1]
    monkeypatch.setattr(landing, "ROW_GROUP_BYTES", 12)  # or 12 bytes of raw text: two 6-byte rejects
    result, _ = run(tmp_path, "broken\n" * 5, name="other.txt")
    assert [g.num_rows for g in _row_groups(result.reject_path)] == [2, 2, 1]


def _row_groups(path):
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i) for i in range(meta.num_row_groups)]


def test_reingest_replaces_same_export_and_clears_stale_rejects(tmp_path):
    first, wh = run(tmp_path, "A|1\nB|2\n")
    second, _ = run(tmp_path, "A|1\nB|2\n")
    assert first.export_id == second.export_id
    assert len(list((wh / "raw" / "whatsapp").iterdir())) == 1
    changed, _ = run(tmp_path, "A|1\nB|2\nC|3\n")
    assert changed.export_id != first.export_id
    assert len(list((wh / "raw" / "whatsapp").glob("*.parquet"))) == 2


def test_failed_export_leaves_no_partial_file(tmp_path):
    with pytest.raises(ExportError, match="chat.txt:3: cannot continue"):
        run(tmp_path, "A|1\nB|2\nCRASH\nC|3\n")
    assert [p for p in (tmp_path / "wh").rglob("*") if p.is_file()] == []  # no raw, reject or temp file


ROW = {
    "conversation_id": ["c"],
    "message_id": ["m"],
    "timestamp_ms": [1],
    "direction": ["inbound"],
    "participants": [[]],
    "content_type": ["text"],
    "source_ref": ["x"],
}
TWO_ROWS = {
    "conversation_id": ["c", "c"],
    "message_id": ["m1", "m2"],
    "timestamp_ms": [1, 2],
    "direction": ["inbound"] * 2,
    "participants": [[], []],
    "content_type": ["text"] * 2,
    "source_ref": ["x:1", "x:2"],
}


@pytest.mark.parametrize(
    "counted, items, error",
    [
        (3, [ROW], "found 3 records but landed 1"),  # a parser that loses records
        (
            1,
            [TWO_ROWS, Reject("x:3", "no separator", "raw")],
            "found 1 records but landed 2 and rejected 1",
        ),  # or invents
    ],
)
def test_records_in_must_equal_landed_plus_rejected(tmp_path, counted, items, error):
    def miscounting(export, ctx):
        ctx.records_in = counted
        yield from items

    bad = Ingester("whatsapp", TOY.discover, miscounting)
    src = tmp_path / "x.txt"
    src.write_text("x")
    with pytest.raises(landing.LandingError, match=error):
        landing.land(bad, bad.discover([src])[0], tmp_path / "wh", ParseContext("whatsapp", Me()))
    assert not list((tmp_path / "wh" / "raw" / "whatsapp").iterdir())
    assert not list((tmp_path / "wh" / "rejects").rglob("*.parquet"))


def test_contract_violations_are_caught(tmp_path):
    with pytest.raises(landing.LandingError, match="unknown direction"):
        landing.to_raw_table({**ROW, "direction": ["sideways"]}, "whatsapp", "e1")
    with pytest.raises(landing.LandingError, match="required column message_id"):
        landing.to_raw_table({**ROW, "message_id": [None]}, "whatsapp", "e1")


def test_files_are_owner_only(tmp_path):
    result, wh = run(tmp_path, "A|1\nbad\n")
    assert result.path.stat().st_mode & 0o777 == 0o600
    assert result.reject_path.stat().st_mode & 0o777 == 0o600
    assert (wh / "raw" / "whatsapp").stat().st_mode & 0o777 == 0o700


def test_times_no_timestamp_type_holds_are_a_contract_violation():
    with pytest.raises(landing.LandingError, match="outside the years 1 to 9999"):
        landing.to_raw_table({**ROW, "timestamp_ms": [2**62]}, "whatsapp", "e1")


def test_temp_files_of_a_killed_ingest_are_removed_by_the_next_one(tmp_path):
    """A killed ingest leaves .<export_id>.parquet.<pid>.tmp (never matched by *.parquet globs); the
    next landing of that export removes it unless its process still runs."""
    result, wh = run(tmp_path, "A|1\n")
    folder = result.path.parent
    dead = folder / f".{result.path.name}.{2**22 + 12345}.tmp"  # above the kernel's pid_max: no such process
    alive = folder / f".{result.path.name}.{os.getppid()}.tmp"  # a running process: maybe still writing
    other = folder / ".someone-else.parquet.1.tmp"
    for f in (dead, alive, other):
        f.write_bytes(b"PAR1 half written")
    assert sorted(folder.glob("*.parquet")) == [result.path]
    run(tmp_path, "A|1\n")
    assert not dead.exists() and alive.exists() and other.exists()


def test_temp_files_of_killed_ingests_go_and_those_of_live_ones_stay_untouched(tmp_path):
    import subprocess
    import sys

    final = tmp_path / "raw" / "x.parquet"
    final.parent.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # it exits on any signal it may get, whatever the test runner lets children inherit
    on_signal = "import signal, sys, time\nfor s in (1, 2, 10, 12, 15): signal.signal(s, lambda *a: sys.exit(3))\n"
    live = subprocess.Popen(
        [sys.executable, "-c", on_signal + "print(flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE
    )
    try:
        live.stdout.readline()  # its handlers are set
        for pid in (gone.pid, live.pid, os.getpid()):
            (final.parent / f".{final.name}.{pid}.tmp").write_bytes(b"")
        landing._remove_stale_temp_files(final)
        left = sorted(p.name for p in final.parent.iterdir())
        assert left == sorted(f".{final.name}.{pid}.tmp" for pid in (live.pid, os.getpid()))
        with pytest.raises(subprocess.TimeoutExpired):  # only asked whether it exists: no signal reached it
            live.wait(timeout=0.5)
    finally:
        live.kill()
        live.wait()


def test_a_temp_file_of_another_users_live_process_stays(tmp_path, monkeypatch):
    final = tmp_path / "x.parquet"
    (tmp_path / f".{final.name}.4242.tmp").write_bytes(b"")

    def not_permitted(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(landing.os, "kill", not_permitted)
    landing._remove_stale_temp_files(final)
    assert (tmp_path / f".{final.name}.4242.tmp").exists()


def test_the_result_describes_the_run(tmp_path):
    result, _ = run(tmp_path, "Robin|hi\nbroken\n")
    assert (result.platform, result.label, result.landed, result.rejected, result.records_in) == (
        "whatsapp",
        "chat.txt",
        1,
        1,
        2,
    )
    assert 0 <= result.seconds < 60 and result.notes == []


def test_export_id_hashes_the_paths_below_the_root_and_the_bytes(tmp_path):
    import hashlib

    root = tmp_path / "export"
    (root / "inbox").mkdir(parents=True)
    a, b = root / "inbox" / "a.json", root / "b.json"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(b"three")

    def expected(*named):  # blake2b-80 over each (name, NUL, blake2b of the bytes), in path order
        h = hashlib.blake2b(digest_size=10)
        for name, data in named:
            h.update(name.encode() + b"\0" + hashlib.blake2b(data).digest())
        return h.hexdigest()

    assert landing.export_id_of((b, a), root) == expected(("b.json", b"two"), ("inbox/a.json", b"one"))
    assert landing.export_id_of((a,), a) == expected(("a.json", b"one"))  # a file as the root: its folder
    assert landing.export_id_of((outside,), root) == expected(("elsewhere.json", b"three"))  # outside: its name
    assert len(landing.export_id_of((a,), root)) == 20


def test_the_parquet_file_is_owner_only_zstd_and_stores_no_arrow_schema(tmp_path):
    old = os.umask(0o022)
    try:
        result, _ = run(tmp_path, "Robin|hi\nAlex|yo\n")
    finally:
        os.umask(old)
    assert oct(result.path.stat().st_mode & 0o777) == "0o600"
    meta = pq.ParquetFile(result.path).metadata
    assert b"ARROW:schema" not in (meta.metadata or {})
    columns = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(meta.num_columns)}
    assert {c.compression for c in columns.values()} == {"ZSTD"}
    # statistics only where readers prune by them; dictionaries only for the few-valued columns
    assert [name for name, c in columns.items() if c.is_stats_set] == ["timestamp_ms"]
    assert "RLE_DICTIONARY" in columns["sender"].encodings and "RLE_DICTIONARY" in columns["direction"].encodings
    assert "RLE_DICTIONARY" not in columns["body_text"].encodings


def test_row_groups_close_at_exactly_the_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "ROW_GROUP_ROWS", 6)
    result, _ = run(tmp_path, "".join(f"A|{i}\n" for i in range(10)))
    assert [g.num_rows for g in _row_groups(result.path)] == [6, 4]  # batches of 3: 3+3 reach 6


def test_batch_bytes_add_up_towards_the_size_limit(tmp_path, monkeypatch):
    sizes = []
    write = landing.AtomicParquetWriter.write
    monkeypatch.setattr(landing.AtomicParquetWriter, "write", lambda self, t: sizes.append(t.nbytes) or write(self, t))
    run(tmp_path, "".join(f"A|{i}\n" for i in range(9)))  # the same export, to measure its batches
    monkeypatch.setattr(landing, "ROW_GROUP_BYTES", sizes[0] + sizes[1])  # two batches fill a group
    result, _ = run(tmp_path, "".join(f"A|{i}\n" for i in range(9)))
    assert [g.num_rows for g in _row_groups(result.path)] == [6, 3]


def test_an_empty_batch_completes_to_no_rows():
    assert landing.to_raw_table({}, "whatsapp", "e1").num_rows == 0


@pytest.mark.parametrize("edge", [0, 1])
def test_timestamps_at_the_ends_of_the_range_are_accepted(edge):
    from ingest.core.schema import TIMESTAMP_MS_RANGE

    batch = {
        "conversation_id": ["c"],
        "message_id": ["m"],
        "timestamp_ms": [TIMESTAMP_MS_RANGE[edge]],
        "direction": ["inbound"],
        "participants": [["a"]],
        "content_type": ["text"],
        "source_ref": ["x:1"],
    }
    assert landing.to_raw_table(batch, "whatsapp", "e1")["timestamp_ms"].to_pylist() == [TIMESTAMP_MS_RANGE[edge]]
    batch["timestamp_ms"] = [TIMESTAMP_MS_RANGE[edge] + (1 if edge else -1)]
    with pytest.raises(landing.LandingError):
        landing.to_raw_table(batch, "whatsapp", "e1")


def test_an_export_with_no_records_lands_an_empty_file(tmp_path):
    result, _ = run(tmp_path, "")
    assert (result.landed, result.rejected, result.records_in) == (0, 0, 0)
    assert pq.read_table(result.path).num_rows == 0 and result.reject_path is None
