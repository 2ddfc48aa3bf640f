"""The dbt project: sources over the raw Parquet, staging models, data tests, and `run_dbt`.

Two dbt builds for the whole module (one good warehouse, one with bad rows), shared by fixtures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from ingest.core.config import Config
from ingest.core.platforms import MEDIA, PLATFORMS, TABLE
from ingest.core.schema import COLUMNS, CONTENT_TYPES, DIRECTIONS, RAW_SCHEMA
from ingest.landing import to_raw_table
from ingest.transform import dbt_runner as transform
from ingest.transform.build import build
from ingest.transform.dbt_runner import DBT_PROJECT_DIR, _first_error, _summarise
from tests.support.paths import REPO

STAGING = REPO / "models_sql" / "staging"
SECRET = "the-secret-body-text"


def messages(n: int, *, prefix: str = "m", direction: str = "outbound", content_type: str = "text") -> dict:
    return {
        "conversation_id": ["c1"] * n,
        "message_id": [f"{prefix}{i}" for i in range(n)],
        "timestamp_ms": [1_700_000_000_000 + i * 60_000 for i in range(n)],
        "sender": ["Robin"] * n,
        "direction": [direction] * n,
        "participants": [["Robin", "Sam"]] * n,
        "body_raw": [SECRET] * n,
        "body_text": [SECRET] * n,
        "content_type": [content_type] * n,
        "reactions": [[{"actor": "Sam", "reaction": "👍"}]] + [None] * (n - 1),
        "source_ref": [f"chat.txt:{i + 1}" for i in range(n)],
    }


def land_raw(warehouse: Path, platform: str, export_id: str, table: pa.Table) -> None:
    folder = warehouse / "raw" / platform
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{export_id}.parquet")


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse / "ai_me.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def good_build(tmp_path_factory):
    """WhatsApp: two exports that share message ids (a re-export); Gmail: one; Instagram: no
    folder at all; Messenger: a folder holding only a killed ingest's temp file. The warehouse's
    path holds a quote, which dbt must not take for the end of a SQL string."""
    warehouse = tmp_path_factory.mktemp("good") / "robin's warehouse"
    land_raw(warehouse, "whatsapp", "exp1", to_raw_table(messages(3), "whatsapp", "exp1"))
    land_raw(warehouse, "whatsapp", "exp2", to_raw_table(messages(2), "whatsapp", "exp2"))
    land_raw(warehouse, "gmail", "exp3", to_raw_table(messages(4, content_type="email"), "gmail", "exp3"))
    (warehouse / "raw" / "messenger").mkdir(parents=True)
    (warehouse / "raw" / "messenger" / ".exp4.parquet.123.tmp").write_bytes(b"PAR1 half written")
    report = build(Config(), warehouse)
    ok, line = report.ok, report.line
    return warehouse, ok, line


@pytest.fixture(scope="module")
def bad_build(tmp_path_factory):
    """A duplicate message id inside one export and an unknown direction: both tests must fail."""
    warehouse = tmp_path_factory.mktemp("bad") / "warehouse"
    dup = messages(3)
    dup["message_id"][2] = dup["message_id"][0]
    land_raw(warehouse, "whatsapp", "exp1", to_raw_table(dup, "whatsapp", "exp1"))
    # to_raw_table refuses an unknown direction, so write past it as a broken parser could.
    good = to_raw_table(messages(2), "gmail", "exp2")
    land_raw(
        warehouse,
        "gmail",
        "exp2",
        good.set_column(
            RAW_SCHEMA.get_field_index("direction"), RAW_SCHEMA.field("direction"), pa.array(["outbound", "sideways"])
        ),
    )
    report = build(Config(), warehouse)
    ok, line = report.ok, report.line
    return warehouse, ok, line


@pytest.mark.slow
def test_build_passes_with_some_platforms_missing(good_build):
    warehouse, ok, line = good_build
    assert ok, line
    models = len(list((REPO / "models_sql").rglob("*.sql")))
    assert line.startswith("language: ") and f"; dbt build: {models} models, " in line
    assert ", 0 fail" in line and "tests: " in line
    assert ", 1 warn " in line  # warn_few_training_replies: a tiny dataset warns, it does not fail


@pytest.mark.slow
def test_staging_has_the_landed_rows(good_build):
    warehouse, _, _ = good_build
    counts = {p: query(warehouse, f"select count(*) from stg_{p}__messages")[0][0] for p in PLATFORMS}
    assert counts == {**dict.fromkeys(PLATFORMS, 0), "whatsapp": 5, "gmail": 4}
    rows = query(
        warehouse,
        "select export_id, message_id, epoch_ms(sent_at), direction, reactions "
        "from stg_whatsapp__messages order by export_id, message_id limit 2",
    )
    assert rows == [
        ("exp1", "m0", 1_700_000_000_000, "outbound", [{"actor": "Sam", "reaction": "👍"}]),
        ("exp1", "m1", 1_700_000_060_000, "outbound", None),
    ]


@pytest.mark.slow
def test_a_quote_in_the_warehouse_path_is_escaped_in_sql(good_build):
    warehouse, ok, line = good_build
    assert "'" in str(warehouse) and ok, line
    assert list((warehouse / "enrich").rglob("*.parquet"))  # the language cache was read from there too
    for source in ("_raw__sources.yml", "_enrich__sources.yml"):
        meta = next(iter(load_yaml(next((REPO / "models_sql").rglob(source)))["sources"]))["config"]["meta"]
        assert "_sql}" in meta["external_location"] and "replace(" in next(
            v for k, v in meta.items() if k.endswith("_sql")
        )


@pytest.mark.slow
def test_empty_platform_has_the_same_columns_and_types(good_build):
    warehouse, _, _ = good_build
    described = {p: query(warehouse, f"describe stg_{p}__messages") for p in PLATFORMS}
    assert all(d == described["whatsapp"] for d in described.values())


@pytest.mark.slow
def test_data_tests_fail_on_bad_rows(bad_build):
    warehouse, ok, line = bad_build
    assert not ok
    assert " 2 fail" in line
    assert "unique_within_stg_whatsapp__messages_message_id__export_id" in line
    assert "accepted_values_stg_gmail__messages_direction" in line
    assert SECRET not in line and "sideways" not in line
    assert str(warehouse / "dbt" / "logs" / "dbt.log") in line


@pytest.mark.slow
def test_dbt_artifacts_stay_in_the_warehouse(good_build):
    warehouse, _, _ = good_build
    assert (warehouse / "dbt" / "target" / "run_results.json").exists()
    assert (warehouse / "dbt" / "logs" / "dbt.log").exists()


def test_sources_declare_the_raw_schema():
    sources = load_yaml(STAGING / "_raw__sources.yml")["sources"]
    assert [s["name"] for s in sources] == ["raw"]
    tables = sources[0]["tables"]
    assert [t["name"] for t in tables] == list(PLATFORMS)
    expected = [(name, description) for name, _, _, description in COLUMNS]
    for table in tables:
        assert [(c["name"], c["description"]) for c in table["columns"]] == expected


def test_source_types_are_what_duckdb_reads_from_raw_parquet(tmp_path):
    """The declared types shape the empty relation; they must equal what read_parquet yields."""
    path = tmp_path / "x.parquet"
    pq.write_table(RAW_SCHEMA.empty_table(), path)
    columns = load_yaml(STAGING / "_raw__sources.yml")["sources"][0]["tables"][0]["columns"]
    declared = ", ".join(f"cast(null as {c['data_type']}) as {c['name']}" for c in columns)
    with duckdb.connect() as con:
        from_parquet = con.execute(f"describe select * from read_parquet('{path}')").fetchall()
        from_yaml = con.execute(f"describe select {declared}").fetchall()
    assert [row[:2] for row in from_yaml] == [row[:2] for row in from_parquet]


def test_accepted_values_follow_the_schema():
    models = load_yaml(STAGING / "_stg__messages.yml")["models"]
    assert sorted(m["name"] for m in models) == sorted(f"stg_{p}__messages" for p in PLATFORMS)
    for model in models:
        accepted = {
            c["name"]: t["accepted_values"]["arguments"]["values"]
            for c in model["columns"]
            for t in c.get("data_tests", [])
            if isinstance(t, dict) and "accepted_values" in t
        }
        assert accepted == {"medium": list(MEDIA), "direction": list(DIRECTIONS), "content_type": list(CONTENT_TYPES)}
        tests = {c["name"]: c.get("data_tests", []) for c in model["columns"]}
        assert {"unique_within": {"arguments": {"within": "export_id"}}} in tests["message_id"]


def test_every_staging_model_has_its_sql():
    for p in PLATFORMS:
        assert f"staging_messages('{p}')" in (STAGING / f"stg_{p}__messages.sql").read_text(encoding="utf-8")


# --- platforms: named in staging only, media everywhere after ----------------------------------

QUOTED_PLATFORM = re.compile(r"""(['"])(?:""" + "|".join(map(re.escape, PLATFORMS)) + r""")\1""", re.IGNORECASE)


def test_no_sql_past_staging_names_a_platform():
    """Past staging the models branch on medium, never on a platform's name, so a new platform
    needs no edit there: no quoted platform name in any model outside staging, macro or data test."""
    files = [f for f in sorted((REPO / "models_sql").rglob("*.sql")) if STAGING not in f.parents]
    files += sorted((DBT_PROJECT_DIR / "macros").rglob("*.sql")) + sorted((DBT_PROJECT_DIR / "tests").rglob("*.sql"))
    assert len(files) > 20 and all(f.is_file() for f in files)
    named = [
        f"{f.relative_to(REPO)}:{n}: {line.strip()}"
        for f in files
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if QUOTED_PLATFORM.search(line)
    ]
    assert named == []
    assert QUOTED_PLATFORM.search("where platform = 'Gmail'") and not QUOTED_PLATFORM.search("a WhatsApp chat")


def test_project_defaults_of_the_platform_vars_are_what_dbt_runner_passes():
    """People running dbt by hand get the defaults: they must be the platform table, in its order."""
    defaults = load_yaml(DBT_PROJECT_DIR / "dbt_project.yml")["vars"]
    passed = transform.dbt_vars(Config())
    assert {k: defaults[k] for k in ("platforms", "media", "chat_nouns")} == {
        k: passed[k] for k in ("platforms", "media", "chat_nouns")
    }
    assert defaults["platforms"] == list(PLATFORMS) == list(defaults["media"]) == list(defaults["chat_nouns"])
    assert defaults["media"] == {p.name: p.medium for p in TABLE}
    assert defaults["chat_nouns"] == {p.name: p.chat_noun for p in TABLE}


def render_macro(file: str, macro: str, *args, **variables):
    """A macro of dbt_project/macros rendered with plain Jinja, dbt's var, sql_string, raw_messages
    and raise_compiler_error stood in for."""

    def raise_compiler_error(message):
        raise ValueError(message)

    stand_ins = {
        "var": variables.__getitem__,
        "sql_string": lambda value: "'" + str(value).replace("'", "''") + "'",
        "raw_messages": lambda platform: f"raw_{platform}",
        "exceptions": SimpleNamespace(raise_compiler_error=raise_compiler_error),
    }
    text = (DBT_PROJECT_DIR / "macros" / file).read_text(encoding="utf-8")
    return getattr(jinja2.Environment().from_string(text, globals=stand_ins).module, macro)(*args)


def test_staging_refuses_a_platform_without_a_medium():
    media = {p.name: p.medium for p in TABLE}
    assert "cast('email' as varchar) as medium" in render_macro(
        "staging_messages.sql", "staging_messages", "gmail", media=media
    )
    with pytest.raises(ValueError, match="platform 'telegram' has no medium in var\\('media'\\)"):
        render_macro("staging_messages.sql", "staging_messages", "telegram", media=media)
    with pytest.raises(ValueError, match="must be chat or email"):
        render_macro("staging_messages.sql", "staging_messages", "gmail", media={**media, "gmail": "fax"})


def test_chat_nouns_come_from_the_var():
    nouns = {p.name: p.chat_noun for p in TABLE}
    case = render_macro("text.sql", "chat_noun", "p", platforms=list(PLATFORMS), chat_nouns=nouns)
    with duckdb.connect() as con:
        assert {
            name: con.execute(f"select {case} from (select ? as p)", [name]).fetchone()[0] for name in PLATFORMS
        } == nouns
    with pytest.raises(ValueError, match="platform 'telegram' has no chat noun"):
        render_macro("text.sql", "chat_noun", "p", platforms=[*PLATFORMS, "telegram"], chat_nouns=nouns)


@pytest.mark.slow
def test_staging_tells_each_platforms_medium(good_build):
    """Every staging relation has medium, the platform's own, also where no export has landed (the
    view's SQL holds it), and int_messages__unioned, which reads var('platforms'), carries it on."""
    warehouse, _, _ = good_build
    media = {p.name: p.medium for p in TABLE}
    views = dict(query(warehouse, "select view_name, sql from duckdb_views() where view_name like 'stg_%'"))
    for p in PLATFORMS:
        types = {name: kind for name, kind, *_ in query(warehouse, f"describe stg_{p}__messages")}
        assert types["medium"] == "VARCHAR", p
        assert re.findall(r"(?i)cast\('(\w+)' as varchar\) as medium", views[f"stg_{p}__messages"]) == [media[p]], p
    landed = query(warehouse, "select platform, medium, count(*) from int_messages__unioned group by all order by all")
    assert landed == [("gmail", "email", 4), ("whatsapp", "chat", 5)]
    assert query(warehouse, "select distinct medium from stg_whatsapp__messages") == [("chat",)]


def test_project_turns_usage_stats_off():
    project = load_yaml(DBT_PROJECT_DIR / "dbt_project.yml")
    assert project["flags"]["send_anonymous_usage_stats"] is False
    assert project["model-paths"] == ["../models_sql"]
    assert project["models"]["ai_me"]["staging"]["+materialized"] == "view"


def test_summary_counts_by_kind_and_outcome():
    results = {
        "results": [
            {"unique_id": "model.ai_me.stg_a", "status": "success"},
            {"unique_id": "model.ai_me.stg_b", "status": "error"},
            {"unique_id": "test.ai_me.not_null_x.1a2b", "status": "pass"},
            {"unique_id": "test.ai_me.unique_y.3c4d", "status": "fail"},
            {"unique_id": "test.ai_me.z.5e6f", "status": "warn"},
            {"unique_id": "test.ai_me.w.7a8b", "status": "skipped"},
        ]
    }
    assert _summarise(results, 1.25) == (
        "2 models, 4 tests: 2 pass, 2 fail, 1 warn, 1 skip in 1.2s; failed: stg_b, unique_y"
    )


def test_summary_of_an_empty_selection():
    assert _summarise({"results": []}, 0.5) == "nothing selected in 0.5s"


def test_first_error_reads_dbt_json_logs_and_click_usage():
    stdout = (
        '{"info": {"level": "info", "msg": "Running with dbt=1.11"}}\n'
        '{"info": {"level": "error", "msg": "Encountered an error:\\nParsing Error\\n  bad yml\\n  more"}}\n'
    )
    assert _first_error(stdout, "") == "Parsing Error: bad yml"
    assert _first_error("", "Usage: dbt\n\nError: No such command 'bogus'.\n") == "No such command 'bogus'."
    assert _first_error("not json", "") == "dbt exited before running anything"


def test_manifest_is_reparsed_only_when_missing_or_stale(tmp_path, monkeypatch):
    parsed = []
    monkeypatch.setattr(transform, "write_manifest", parsed.append)
    manifest_path = tmp_path / "manifest.json"
    transform.ensure_manifest(manifest_path)
    manifest_path.write_text("{}")
    newest = transform._newest_source_mtime()
    os.utime(manifest_path, (newest + 1, newest + 1))
    transform.ensure_manifest(manifest_path)
    os.utime(manifest_path, (newest - 1, newest - 1))
    transform.ensure_manifest(manifest_path)
    assert parsed == [manifest_path, manifest_path]


@pytest.mark.slow
def test_build_passes_on_sample_data(tmp_path):
    """The real parsers on the sample exports: every platform lands and every data test holds."""
    from ingest.core.config import load_config
    from ingest.runner import ingest_platform
    from ingest.samples import generate

    summary = generate(tmp_path / "samples", messages=400, seed=7)
    cfg = load_config(summary.config_path)
    warehouse = tmp_path / "warehouse"
    for p in PLATFORMS:
        report = ingest_platform(p, cfg.export_paths(p), cfg, warehouse=warehouse)
        assert report.ok and report.landed, report.summary()
    report = build(cfg, warehouse)
    ok, line = report.ok, report.line
    assert ok, line
    counts = {p: query(warehouse, f"select count(*) from stg_{p}__messages")[0][0] for p in PLATFORMS}
    assert all(counts.values()), counts
    # dbt by hand, as the README says: `dbt build` in dbt_project/, with the project's default vars
    # and no language step (every language `und`)
    by_hand = tmp_path / "by-hand"
    for folder in ("raw", "secrets"):
        shutil.copytree(warehouse / folder, by_hand / folder)
    env = {
        **os.environ,
        "AI_ME_WAREHOUSE": str(by_hand),
        "DBT_TARGET_PATH": str(tmp_path / "dbt-target"),  # not into the repository's dbt_project/
        "DBT_LOG_PATH": str(tmp_path / "dbt-logs"),
    }
    dbt = [sys.executable, "-c", "from dbt.cli.main import cli; cli()", "build"]
    proc = subprocess.run(dbt, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert query(by_hand, "select distinct lang from messages") == [("und",)]
    assert query(by_hand, "select count(*) from training_examples")[0][0] > 0
