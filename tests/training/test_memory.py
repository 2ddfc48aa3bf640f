"""The memory of the user's own past replies: the index `ai-me transform` builds from the demo's
sample data holds the train split only, no val or test reply can be retrieved, retrieval prefers
the same partner and platform, and the exchanges put into a prompt keep to their token budget."""

import json
import os
import shutil

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.cli import main as ai_me
from ingest.core.config import ConfigError
from training.memory.index import Exchange, MemoryIndex, build_index, top_k, words
from training.memory.prompt import with_memory
from training.prompt import system_prompt
from training.tiny import train_tokenizer


def split_rows(warehouse, split):
    return pq.read_table(warehouse / "datasets" / f"{split}.parquet").to_pylist()


@pytest.fixture(scope="module")
def index(demo_warehouse):
    return MemoryIndex.open(demo_warehouse)


def test_the_index_holds_every_train_exchange_and_nothing_else(demo_warehouse, index):
    train = {r["example_id"]: r for r in split_rows(demo_warehouse, "train")}
    held_out = {r["example_id"] for split in ("val", "test") for r in split_rows(demo_warehouse, split)}
    answered = {i for i, r in train.items() if r["messages"][-2]["role"] == "user"}
    assert index.size == len(answered) > 500 and set(index.example_ids) == answered
    assert not held_out & set(index.example_ids)
    for i, incoming, reply in zip(index.example_ids[:50], index.incoming, index.replies):
        assert (incoming, reply) == (train[i]["messages"][-2]["content"], train[i]["messages"][-1]["content"])
    with duckdb.connect(str(demo_warehouse / "ai_me.duckdb"), read_only=True) as con:
        [(rows, splits)] = con.execute("select count(*), list(distinct split) from memory_exchanges").fetchall()
    assert rows == index.size and splits == ["train"]


def test_no_val_or_test_reply_can_be_retrieved(demo_warehouse, index):
    held_out = [r for split in ("val", "test") for r in split_rows(demo_warehouse, split)]
    held_ids = {r["example_id"] for r in held_out}
    held_replies = {r["messages"][-1]["content"] for r in held_out}
    assert len(held_out) > 100
    for row in held_out:
        found = index.search(row["messages"][-2]["content"], row["platform"], row["partner"], k=16)
        assert len(found) == 16
        assert not {ex.example_id for ex in found} & held_ids
        assert not {ex.reply for ex in found} & held_replies


def test_an_exchange_is_found_by_its_own_message_first(demo_warehouse, index):
    probes = range(0, index.size, max(1, index.size // 200))
    hits = 0
    for i in probes:
        [best] = index.search(index.incoming[i], index.platforms[i], index.partners[i], k=1)
        hits += best.incoming == index.incoming[i]
    # BM25 may prefer a longer message repeating the same words: most, not all, find themselves.
    assert hits >= 0.9 * len(probes)


def test_the_same_partner_and_platform_come_first_and_ties_go_to_the_newest(index):
    partner = max(set(index.partners), key=index.partners.count)
    platform = index.platforms[index.partners.index(partner)]
    found = index.search("qqzx vvbnmk", platform, partner, k=4)  # no word the memory knows
    assert [ex.partner for ex in found] == [partner] * 4 and {ex.platform for ex in found} == {platform}
    newest = [i for i, p in enumerate(index.partners) if p == partner][-4:][::-1]  # ordered by time
    assert [ex.example_id for ex in found] == [index.example_ids[i] for i in newest]
    # A shared word outweighs the preference: the best match of a partner's own message is that message.
    other = next(i for i, p in enumerate(index.partners) if p != partner and len(words(index.incoming[i])) >= 4)
    [best] = index.search(index.incoming[other], platform, partner, k=1)
    assert best.incoming == index.incoming[other]


def test_k_beyond_the_memory_and_k_zero(index):
    assert index.search("see you", k=0) == []
    assert len(index.search("see you", k=index.size + 5)) == index.size


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40_000), k=st.integers(1, 16), levels=st.integers(1, 1000), seed=st.integers(0, 2**32 - 1))
def test_top_k_finds_the_k_largest_scores_largest_first(n, k, levels, seed):
    """Block maxima narrow the search on long arrays: the same scores come out as a full sort's, ties included."""
    scores = np.random.default_rng(seed).integers(0, levels, n).astype(float)
    k = min(k, n)
    top = top_k(scores, k, block=64)
    assert len(set(top)) == k and list(scores[top]) == sorted(scores, reverse=True)[:k]


@pytest.fixture(scope="module")
def tokenizer(demo_warehouse):
    return train_tokenizer(Dataset.from_list(split_rows(demo_warehouse, "train")[:300]), 600)


def _exchanges(n):
    return [
        Exchange(f"id{i}", "whatsapp", "P1", f"are we still on for the match number {i} tonight?", f"ya {i} x", 9.0 - i)
        for i in range(n)
    ]


def _length(tokenizer, messages):
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False, add_generation_prompt=True))


def test_exchanges_go_after_the_system_prompt_best_nearest_within_the_budget(tokenizer):
    system = system_prompt("Robin", "whatsapp", "P1")
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "match tonight?"}]
    unlimited = with_memory(messages, _exchanges(4), tokenizer, budget=10_000)
    assert unlimited[0] == messages[0] and unlimited[-1] == messages[-1]  # the training system prompt, unchanged
    assert [m["role"] for m in unlimited[1:-1]] == ["user", "assistant"] * 4
    assert [m["content"] for m in unlimited[1:-1:2]][::-1] == [ex.incoming for ex in _exchanges(4)]  # best last
    one = _length(tokenizer, unlimited) - _length(tokenizer, messages)
    for budget in (0, one // 4, one // 2, one - 1, one):
        fitted = with_memory(messages, _exchanges(4), tokenizer, budget=budget)
        added = _length(tokenizer, fitted) - _length(tokenizer, messages)
        assert added <= budget and (len(fitted) - 2) // 2 == sum(
            _length(tokenizer, with_memory(messages, _exchanges(n), tokenizer, 10_000)) - _length(tokenizer, messages)
            <= budget
            for n in range(1, 5)
        )
        if len(fitted) > 2:  # the worst matches went first: the best one is always kept
            assert fitted[-2]["content"] == _exchanges(1)[0].reply
    limit = _length(tokenizer, messages) + one // 2
    assert _length(tokenizer, with_memory(messages, _exchanges(4), tokenizer, 10_000, limit=limit)) <= limit
    reply_last = [*messages, {"role": "assistant", "content": "ya"}]
    scored = with_memory(reply_last, _exchanges(2), tokenizer, 10_000, prompt=False)
    assert scored[-2:] == reply_last[-2:] and len(scored) == 7


def test_the_index_is_rebuilt_when_the_train_split_changes(demo_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    for part in ("ai_me.duckdb", "datasets", "memory"):
        copy = shutil.copytree if (demo_warehouse / part).is_dir() else shutil.copy2
        copy(demo_warehouse / part, warehouse / part)
    manifest = warehouse / "memory" / "manifest.json"
    before = json.loads(manifest.read_text())
    MemoryIndex.open(warehouse)
    assert json.loads(manifest.read_text()) == before  # unchanged: not rebuilt
    train = warehouse / "datasets" / "train.parquet"
    os.utime(train, ns=(train.stat().st_atime_ns, train.stat().st_mtime_ns + 10**9))
    assert MemoryIndex.open(warehouse).size == before["exchanges"]
    assert json.loads(manifest.read_text())["train_parquet"]["mtime_ns"] == train.stat().st_mtime_ns


def test_a_memory_older_than_the_train_split_is_refused(demo_warehouse, tmp_path):
    """A train split rebuilt without the mart (dbt on a selection): exchanges no longer in it may be
    held-out examples now, so the index is not built from it."""
    warehouse = tmp_path / "warehouse"
    (warehouse / "datasets").mkdir(parents=True)
    shutil.copy2(demo_warehouse / "ai_me.duckdb", warehouse / "ai_me.duckdb")
    train = pq.read_table(demo_warehouse / "datasets" / "train.parquet")
    pq.write_table(train.slice(10), warehouse / "datasets" / "train.parquet")
    with pytest.raises(
        ConfigError, match=r"memory_exchanges holds \d+ exchanges that are not in .*run ai-me transform"
    ):
        build_index(warehouse)


def test_a_warehouse_without_the_mart_or_the_datasets_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="ai-me transform"):
        build_index(tmp_path)
    (tmp_path / "datasets").mkdir()
    pq.write_table(_empty_train(), tmp_path / "datasets" / "train.parquet")
    duckdb.connect(str(tmp_path / "ai_me.duckdb")).close()
    with pytest.raises(ConfigError, match="no memory_exchanges table: run ai-me transform"):
        build_index(tmp_path)


def _empty_train():
    import pyarrow as pa

    return pa.table({"example_id": pa.array([], pa.string())})


def test_generate_with_memory_out_of_range_is_refused(demo_warehouse, monkeypatch, capsys):
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(demo_warehouse))
    assert ai_me(["generate", "hi", "--memory", "17"]) == 2
    assert "--memory must be between 0 and 16, got 17" in capsys.readouterr().err


def test_status_counts_the_memory(demo_warehouse, index, monkeypatch, capsys):
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(demo_warehouse))
    assert ai_me(["status"]) == 0
    assert f"memory/: {index.size} past exchanges of yours (train split)" in capsys.readouterr().out


@pytest.mark.slow
def test_the_memory_data_test_fails_on_a_held_out_exchange(demo_warehouse, tmp_path):
    """The dbt test guarding the memory can fail: a test example planted in memory_exchanges (by id,
    then only by its reply text) makes it fail, and its report names the test, never the text."""
    from ingest.core.config import load_config
    from ingest.transform.dbt_runner import invoke_dbt

    cfg = load_config(demo_warehouse.parent / "samples" / "ai_me.toml")
    select = ["test", "--select", "assert_memory_holds_train_replies_only"]
    clean = tmp_path / "clean"
    shutil.copytree(demo_warehouse, clean, ignore=shutil.ignore_patterns("dbt", "datasets", "memory", "models"))
    assert invoke_dbt(select, cfg, clean).ok
    columns = "platform, conversation_id, partner, group_size, target_ms, 'train'"
    planted = {
        "by id": f"insert into memory_exchanges select example_id, {columns}, messages[-2].content, 'something else' "
        "from training_examples where split = 'test' limit 1",
        "by reply": f"insert into memory_exchanges select 'not-an-id', {columns}, 'hello', messages[-1].content "
        "from training_examples where split = 'val' limit 1",
    }
    for how, sql in planted.items():
        tampered = tmp_path / how.replace(" ", "-")
        shutil.copytree(clean, tampered, ignore=shutil.ignore_patterns("dbt"))
        with duckdb.connect(str(tampered / "ai_me.duckdb")) as con:
            con.execute(sql)
        run = invoke_dbt(select, cfg, tampered)
        assert not run.ok and "assert_memory_holds_train_replies_only" in run.line, how
