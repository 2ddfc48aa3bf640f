"""Negative tests of the dbt data tests: each runs against a copy of a good warehouse seeded to
violate it, and must fail, so that a test that can never fail does not go unnoticed.

The singular tests (dbt_project/tests/) each get a violation written for each clause. The generic
tests on tables (unique, not_null, accepted_values, relationships, unique_within) get one derived
from the test's own arguments in the manifest. dbt runs every test once on the good warehouse
(all pass); then each test's SQL, as dbt compiled it, runs against its own violation in a
transaction that is rolled back after.
(assert_memory_holds_train_replies_only has its own in tests/training/test_memory.py; the
staging views are checked against bad raw rows in tests/transform/test_dbt_project.py.)
"""

from __future__ import annotations

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


SINGULAR_VIOLATIONS["warn_few_training_replies"] = ["delete from training_examples where split = 'train'"]


@pytest.fixture(scope="module")
def tests_sql(demo_warehouse, tmp_path_factory):
    """(a private copy of the good warehouse's database, {test name: the SQL dbt runs for it}):
    every test checked here passes on it, run by dbt."""
    cfg = load_config(demo_warehouse.parent / "samples" / "ai_me.toml")
    copy = tmp_path_factory.mktemp("seeded") / "wh"
    shutil.copytree(demo_warehouse, copy, symlinks=True)
    manifest = json.loads((copy / "dbt" / "target" / "manifest.json").read_text(encoding="utf-8"))
    names = sorted({case.split(":")[0] for case in SINGULAR_VIOLATIONS} | set(generic_violations(manifest)))
    run = invoke_dbt(["test", "--select", *names], cfg, copy)
    assert run.ok and {r["status"] for r in run.results["results"]} == {"pass"}, run.line
    compiled = {r["unique_id"].split(".")[2]: r["compiled_code"] for r in run.results["results"]}
    return copy / "ai_me.duckdb", compiled, manifest


def failing_rows(database: Path, test_sql: str, violation: list[str]) -> int:
    """Rows the test's SQL returns (dbt fails a test on any) once `violation` is applied; the
    violation is rolled back after, so each test meets only its own."""
    with duckdb.connect(str(database)) as con:
        con.begin()
        for statement in violation:
            con.execute(statement)
        rows = con.execute(f"select count(*) from ({test_sql})").fetchone()[0]
        con.rollback()
    return rows


@pytest.mark.parametrize("case", sorted(SINGULAR_VIOLATIONS))
def test_a_singular_test_fails_on_rows_that_violate_it(tests_sql, case):
    database, compiled, _ = tests_sql
    sql = compiled[case.split(":")[0]]
    assert failing_rows(database, sql, []) == 0
    assert failing_rows(database, sql, SINGULAR_VIOLATIONS[case]) > 0


def generic_violations(manifest: dict) -> dict[str, list[str]]:
    """test name -> statements that violate it, for the generic tests on tables."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    out = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        model = models.get(node.get("attached_node") or "")
        if node["resource_type"] != "test" or not meta or not model or model["config"]["materialized"] != "table":
            continue
        table, column = model["name"], meta["kwargs"].get("column_name")
        any_row = f"rowid = (select min(rowid) from {table})"
        valued_row = f"rowid = (select min(rowid) from {table} where {column} is not null)"  # a null is no duplicate
        statement = {
            "not_null": f"update {table} set {column} = null where {any_row}",
            "unique": f"insert into {table} select * from {table} where {valued_row}",
            "unique_within": f"insert into {table} select * from {table} where {valued_row}",
            "accepted_values": f"update {table} set {column} = 'not-an-accepted-value' where {any_row}",
            "relationships": f"update {table} set {column} = 'no-such-key' where {any_row}",
        }.get(meta["name"])
        if statement:
            out[node["name"]] = [statement]
    return out


def test_every_generic_test_on_a_table_fails_on_rows_that_violate_it(tests_sql):
    database, compiled, manifest = tests_sql
    violations = generic_violations(manifest)
    assert len(violations) >= 30  # the project's schema tests on intermediate and mart tables
    passing = [name for name, violation in violations.items() if failing_rows(database, compiled[name], violation) == 0]
    assert passing == []
