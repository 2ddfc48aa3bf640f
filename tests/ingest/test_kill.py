"""Nothing is lost: a real `ai-me ingest` killed with SIGKILL at random points leaves no partial Parquet
where readers look, and the ingest run again lands every message exactly once; re-ingesting the same
export and ingesting a longer re-export of the chat leave the messages mart's shared part unchanged.

The dedup rules themselves are unit-tested in dbt (models_sql/intermediate/_int__unit_tests.yml,
dedup_by_id_and_by_content_within_tolerance) and on hand-made raw files in tests/transform/test_dbt_project.py;
here they run on what the real parser lands from two real exports.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from ingest.core.config import Config
from ingest.transform.build import build

pytestmark = pytest.mark.slow

WORDS = "dinner tomorrow sounds great see you at the station bring the umbrella maybe later".split()
TITLE = "WhatsApp Chat with Sam.txt"


def write_chat(path: Path, n: int) -> None:
    """n messages, one every 30 s, both directions, distinct texts of 4 to 12 words."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            day, slot = divmod(i, 2880)
            t = slot * 30
            who = "Robin Vale" if i % 3 else "Sam"
            text = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(3 + i % 9))
            f.write(
                f"{1 + day % 28:02d}/{1 + day // 28 % 12:02d}/{2015 + day // 336}, "
                f"{t // 3600:02d}:{t // 60 % 60:02d} - {who}: {text} {i}\n"
            )


def ai_me(chat: Path, warehouse: Path) -> subprocess.Popen:
    """`ai-me ingest whatsapp` as a user runs it: the console script, no config file (cwd holds only
    the export, AI_ME_CONFIG unset), me named on the command line."""
    env = {k: v for k, v in os.environ.items() if k not in ("AI_ME_CONFIG", "AI_ME_WAREHOUSE")}
    script = Path(sys.executable).with_name("ai-me")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "ingest.cli"]
    args = ["ingest", "whatsapp", str(chat), "--me", "Robin Vale", "--warehouse", str(warehouse)]
    return subprocess.Popen(
        [*cmd, *args], cwd=chat.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def visible_rows(raw: Path) -> list[int]:
    """Row counts of what a reader finds: every *.parquet file must be complete and readable, and
    DuckDB's glob (the one dbt's source uses) must see exactly those files."""
    files = sorted(raw.glob("*.parquet"))
    counts = [pq.read_table(f).num_rows for f in files]
    if files:
        with duckdb.connect() as con:
            seen = con.execute(f"select count(*) from read_parquet('{raw}/*.parquet')").fetchone()[0]
        assert seen == sum(counts)
    return counts


def test_killed_ingest_leaves_no_partial_file_and_a_rerun_lands_everything_once(tmp_path):
    n = 300_000  # one to two seconds of landing on this machine, after a few seconds of start-up
    chat = tmp_path / "in" / TITLE
    write_chat(chat, n)
    wh = tmp_path / "wh"
    raw = wh / "raw" / "whatsapp"
    rng = random.Random(11)
    killed_mid_write = 0
    for _ in range(6):  # until two kills came mid-write, the last of them the last run
        left_temp_file = False
        proc = ai_me(chat, wh)
        while proc.poll() is None and not list(raw.glob(f".*.{proc.pid}.tmp")):  # wait for its landing to start
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))
        writing = bool(list(raw.glob(f".*.{proc.pid}.tmp")))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            killed_mid_write += writing
            left_temp_file = writing
            assert visible_rows(raw) == []  # no complete file yet, and nothing partial visible
        else:  # finished before the kill: then it landed everything
            assert proc.returncode == 0 and visible_rows(raw) == [n]
        if killed_mid_write >= 2 and left_temp_file:
            break
    assert killed_mid_write >= 2 and left_temp_file, f"only {killed_mid_write} kills came while the file was written"
    leftovers = list(raw.glob(".*.tmp"))  # the last killed run's
    assert leftovers and all(not f.name.endswith(".parquet") for f in leftovers)

    proc = ai_me(chat, wh)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert f"{n} landed, 0 rejected" in out
    assert visible_rows(raw) == [n]
    ids = pq.read_table(next(raw.glob("*.parquet")), columns=["message_id"])["message_id"]
    assert len(set(ids.to_pylist())) == n
    assert not list(raw.glob(".*.tmp"))  # the killed runs' temp files are cleaned up


def messages_mart(wh: Path) -> list[tuple]:
    cols = "message_id, timestamp_ms, sender, direction, body_text, content_type, conversation_id"
    with duckdb.connect(str(wh / "ai_me.duckdb"), read_only=True) as con:
        return con.execute(f"select {cols} from messages order by message_id").fetchall()


def ingest(wh: Path, chat: Path) -> None:
    proc = ai_me(chat, wh)
    out, err = proc.communicate()
    assert proc.returncode == 0, err


def test_reingest_and_a_longer_reexport_leave_the_messages_mart_unchanged(tmp_path):
    first, longer = tmp_path / "jan" / TITLE, tmp_path / "mar" / TITLE  # the chat exported twice
    write_chat(first, 300)
    write_chat(longer, 500)  # the same 300 messages, then 200 more
    assert longer.read_text().startswith(first.read_text())
    wh = tmp_path / "wh"
    ingest(wh, first)
    report = build(Config(), wh)
    ok, line = report.ok, report.line
    assert ok, line
    before = messages_mart(wh)
    assert len(before) == 300 and len({r[0] for r in before}) == 300

    raw = wh / "raw" / "whatsapp"
    landed = pq.read_table(next(raw.glob("*.parquet")))
    ingest(wh, first)  # the same export again: replaces its own file with the same rows
    (again,) = raw.glob("*.parquet")
    assert pq.read_table(again).equals(landed)
    ingest(wh, longer)  # the longer re-export lands beside it, sharing 300 message ids
    assert sorted(visible_rows(raw)) == [300, 500]
    report = build(Config(), wh)
    ok, line = report.ok, report.line
    assert ok, line
    after = messages_mart(wh)
    assert len(after) == 500 and len({r[0] for r in after}) == 500  # nothing twice
    shared = {r[0] for r in before}
    assert [r for r in after if r[0] in shared] == before  # the shared part unchanged
