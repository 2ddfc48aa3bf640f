"""Properties of the Meta ingester: Meta's escaping is undone exactly for any text, the column-wise
repair equals the per-string one, ids do not depend on file splits, nothing is lost on bad input."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import orjson
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.core.identity import Me
from ingest.landing import land
from ingest.sources.base import ParseContext
from ingest.sources.meta.ingester import INSTAGRAM
from ingest.sources.meta.text import Repairer
from tests.support.fuzzing import examples
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "meta"
# Any Unicode text except lone surrogates (category Cs): those are not characters, UTF-8 cannot
# encode them, so no export can contain them. NUL and other controls are included.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)))
# No deadlines: the machine is shared and pyarrow's first call alone takes a good part of a second.
FAST = settings(deadline=None)
SLOW = examples(40)


def meta_escaped(s: str) -> str:
    """What Meta writes into the JSON file for s: its UTF-8 bytes as latin-1 code points, \\u-escaped."""
    return json.dumps(s.encode("utf-8").decode("latin-1"), ensure_ascii=True)


@FAST
@given(TEXT)
def test_any_text_survives_meta_escaping_and_repair(s):
    parsed = orjson.loads(meta_escaped(s))
    assert Repairer().repair(parsed) == s
    assert Repairer().repair_column([parsed, None, parsed]).to_pylist() == [s or None, None, s or None]


@FAST
@given(st.lists(st.one_of(st.none(), TEXT, TEXT.map(lambda s: s.encode("utf-8").decode("latin-1")))))
def test_column_repair_equals_string_repair(strings):
    expected = [Repairer().repair(s) if s else None for s in strings]
    assert Repairer().repair_column(strings).to_pylist() == expected


def _thread(messages: list[dict]) -> dict:
    return {
        "participants": [{"name": "Sam"}, {"name": "Robin Vale"}],
        "messages": messages,
        "title": "Sam",
        "thread_path": "inbox/sam_42",
    }


def _land(root: Path) -> tuple[list[dict], list[dict]]:
    (export,) = INSTAGRAM.discover([root])
    result = land(INSTAGRAM, export, root.parent / "warehouse", ParseContext("instagram", Me(names=("Robin Vale",))))
    rejects = pq.read_table(result.reject_path).to_pylist() if result.reject_path else []
    return pq.read_table(result.path).to_pylist(), rejects


@SLOW
@given(text=TEXT, name=TEXT)
def test_any_text_and_name_come_out_of_an_export_unchanged(text, name):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export/messages/inbox/sam_42/message_1.json"
        path.parent.mkdir(parents=True)
        path.write_text(
            f'{{"participants": [], "messages": [{{"sender_name": {meta_escaped(name)}, "timestamp_ms": 1, '
            f'"content": {meta_escaped(text)}}}]}}',
            encoding="ascii",
        )
        (row,), rejects = _land(path.parents[3])
    assert rejects == []
    assert row["body_raw"] == (text or None)
    assert row["sender"] == (name or None)


MESSAGE = st.builds(
    lambda ts, who, text: {"sender_name": who, "timestamp_ms": ts, "content": text},
    st.integers(1, 4),
    st.sampled_from(["Sam", "Robin Vale"]),
    st.sampled_from(["hi", "ok", "ok 👍"]),
)


@SLOW
@given(st.lists(MESSAGE, min_size=1, max_size=30), st.data())
def test_ids_do_not_depend_on_how_the_thread_is_split_into_files(messages, data):
    messages.sort(key=lambda m: -m["timestamp_ms"])  # Meta writes a thread newest first
    cuts = sorted(data.draw(st.sets(st.integers(1, len(messages) - 1), max_size=3)) if len(messages) > 1 else [])
    ids = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, bounds in (("whole", []), ("split", cuts)):
            folder = Path(tmp) / name / "messages/inbox/sam_42"
            folder.mkdir(parents=True)
            for n, (a, b) in enumerate(zip([0, *bounds], [*bounds, len(messages)]), 1):
                (folder / f"message_{n}.json").write_text(json.dumps(_thread(messages[a:b])))
            rows, _ = _land(Path(tmp) / name)
            ids.append([r["message_id"] for r in rows])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == len(messages)


@SLOW
@given(st.data())
def test_a_file_cut_anywhere_is_one_reject_and_everything_else_lands(data):
    source = FIXTURES / "instagram/your_instagram_activity/messages/inbox/zoeadams_1234567890/message_1.json"
    text = source.read_text()
    cut = data.draw(st.integers(0, len(text) - 2))  # the file ends "}\n": any shorter prefix is not JSON
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "export"
        (root / "zoe_1").mkdir(parents=True)
        (root / "zoe_1/message_1.json").write_text(text[:cut])
        (root / "sam_42").mkdir()
        (root / "sam_42/message_1.json").write_text(
            json.dumps(_thread([{"sender_name": "Sam", "timestamp_ms": 5, "content": "still here"}]))
        )
        rows, rejects = _land(root)
    assert [r["body_raw"] for r in rows] == ["still here"]
    assert len(rejects) == 1 and rejects[0]["reason"].startswith("invalid JSON: ")
    assert rejects[0]["source_ref"].startswith("zoe_1/message_1.json:")
