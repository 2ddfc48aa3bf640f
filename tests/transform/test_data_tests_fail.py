"""Negative tests of the dbt data tests: each runs against a copy of a good warehouse seeded to
violate it, and must fail, so that a test that can never fail does not go unnoticed.

The singular tests (dbt_project/tests/) each get a violation written for them. The generic tests
on tables (unique, not_null, accepted_values, relationships, unique_within) get one derived from
the test's own arguments in the manifest, all seeded into one copy, each on a row of its own.
(assert_memory_holds_train_replies_only has its own in tests/training/test_memory.py; the
staging views are checked against bad raw rows in tests/transform/test_dbt_project.py.)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from ingest.core.config import load_config
from ingest.transform.dbt_runner import invoke_dbt

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ONE_TRAIN_EXAMPLE = "(select min(example_id) from training_examples where split = 'train')"
# A session with two or more examples: one of them moved to another split.
TWO_EXAMPLE_SESSION = "(select session_id from training_examples group by session_id having count(*) > 1 limit 1)"

SINGULAR_VIOLATIONS = {
    "assert_every_message_accounted_for": [
        "update filter_counts set n = n + 1"
        " where rowid = (select min(rowid) from filter_counts where stage = 'quality')"
    ],
    "assert_examples_well_formed": [
        f"update training_examples set token_est = 100000 where example_id = {ONE_TRAIN_EXAMPLE}",
    ],
    "assert_examples_well_formed:ends_with_user": [
        "update training_examples set messages = list_append(messages, messages[2])"
        f" where example_id = {ONE_TRAIN_EXAMPLE}",
    ],
    "assert_examples_well_formed:empty_message": [
        "update training_examples set messages = list_transform(messages, lambda m, i: case when i = 2"
        f" then {{'role': m.role, 'content': ''}} else m end) where example_id = {ONE_TRAIN_EXAMPLE}",
    ],
    "assert_examples_well_formed:no_system_prompt": [
        f"update training_examples set messages = messages[2:] where example_id = {ONE_TRAIN_EXAMPLE}",
    ],
    "assert_no_identifiers_in_training_data": [
        "update int_messages__redacted set body_text = body_text || ' write to robin.vale@example.com'"
        " where rowid = (select min(rowid) from int_messages__redacted)"
    ],
    "assert_no_identifiers_in_training_data:phone": [
        "update training_examples set messages = list_transform(messages, lambda m, i: case when i = 2"
        f" then {{'role': m.role, 'content': m.content || ' ring +44 7700 900123'}} else m end)"
        f" where example_id = {ONE_TRAIN_EXAMPLE}",
    ],
    "assert_no_identifiers_in_training_data:name": [
        # the full name of a partner (not me) whose words are no common words, back in a reply
        "update int_messages__redacted set body_raw = 'ask ' || (select name from int_people where not is_me"
        " and name not like '%@%' and name like '% %' limit 1)"
        " where rowid = (select min(rowid) from int_messages__redacted)"
    ],
    "assert_reply_texts_in_one_split": [
        "update training_examples set messages = list_append(messages[:-1], {'role': 'assistant', 'content':"
        " (select messages[-1].content from training_examples where split = 'test' limit 1)})"
        f" where example_id = {ONE_TRAIN_EXAMPLE}",
    ],
    "assert_sessions_in_one_split": [
        "update training_examples set split = case split when 'train' then 'val' else 'train' end"
        f" where example_id = (select min(example_id) from training_examples where session_id = {TWO_EXAMPLE_SESSION})",
    ],
}


@pytest.fixture(scope="module")
def good(demo_warehouse):
    cfg = load_config(demo_warehouse.parent / "samples" / "ai_me.toml")
    return demo_warehouse, cfg


def seeded_copy(source: Path, dest: Path, statements: list[str]) -> Path:
    shutil.copytree(source, dest, symlinks=True)
    with duckdb.connect(str(dest / "ai_me.duckdb")) as con:
        for sql in statements:
            con.execute(sql)
    return dest


def failed(run) -> set[str]:
    return {r["unique_id"].split(".")[2] for r in run.results["results"] if r["status"] in ("fail", "error")}


def test_the_good_warehouse_passes_every_test_seeded_here(good, tmp_path):
    warehouse, cfg = good
    names = sorted({name.split(":")[0] for name in SINGULAR_VIOLATIONS})
    run = invoke_dbt(["test", "--select", *names], cfg, seeded_copy(warehouse, tmp_path / "wh", []))
    assert run.ok and failed(run) == set(), run.line


@pytest.mark.parametrize("case", sorted(SINGULAR_VIOLATIONS))
def test_a_singular_test_fails_on_rows_that_violate_it(good, tmp_path, case):
    warehouse, cfg = good
    name = case.split(":")[0]
    copy = seeded_copy(warehouse, tmp_path / "wh", SINGULAR_VIOLATIONS[case])
    run = invoke_dbt(["test", "--select", name], cfg, copy)
    assert not run.ok and failed(run) == {name}, run.line


def test_too_few_training_replies_warn(good, tmp_path):
    warehouse, cfg = good
    strict = dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, min_train_examples=10**6))
    run = invoke_dbt(
        ["test", "--select", "warn_few_training_replies"], strict, seeded_copy(warehouse, tmp_path / "wh", [])
    )
    assert run.ok and [r["status"] for r in run.results["results"]] == ["warn"]


def generic_violations(manifest: dict) -> dict[str, str]:
    """test name -> the statement that violates it, for the generic tests on tables."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    out, row = {}, {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        model = models.get(node.get("attached_node") or "")
        if node["resource_type"] != "test" or not meta or not model or model["config"]["materialized"] != "table":
            continue
        table, kwargs = model["name"], meta["kwargs"]
        column = kwargs.get("column_name")
        n = row[table] = row.get(table, -1) + 1  # each violation on a row of its own
        where = f"rowid = (select rowid from {table} order by rowid limit 1 offset {n})"
        statement = {
            "not_null": f"update {table} set {column} = null where {where}",
            "unique": f"insert into {table} select * from {table} where {where}",
            "unique_within": f"insert into {table} select * from {table} where {where}",
            "accepted_values": f"update {table} set {column} = 'not-an-accepted-value' where {where}",
            "relationships": f"update {table} set {column} = 'no-such-key' where {where}",
        }.get(meta["name"])
        if statement:
            out[node["name"]] = statement
    return out


def test_every_generic_test_on_a_table_fails_on_rows_that_violate_it(good, tmp_path):
    warehouse, cfg = good
    manifest = json.loads((warehouse / "dbt" / "target" / "manifest.json").read_text(encoding="utf-8"))
    violations = generic_violations(manifest)
    assert len(violations) >= 30  # the project's schema tests on intermediate and mart tables
    # inserts last, so a duplicated row is never one another statement changed
    statements = sorted(violations.values(), key=lambda s: s.startswith("insert"))
    copy = seeded_copy(warehouse, tmp_path / "wh", statements)
    run = invoke_dbt(["test", "--select", *violations], cfg, copy)
    assert failed(run) == set(violations), sorted(set(violations) - failed(run))
