"""The Dagster code location: it loads, its lineage connects ingest to dbt, and a run lands and builds.

The ingest assets are driven by a tiny line-based fixture ingester (patched into the runner), so
these tests exercise the wiring, not any one platform's parser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, Failure, build_asset_context, materialize
from dagster_dbt import DagsterDbtTranslator

from dagster_defs.resources import UserConfig
from ingest import runner
from ingest.core.platforms import PLATFORMS
from ingest.core.schema import RAW_SCHEMA
from ingest.sources.base import ExportError, ExportInput, Ingester, Reject, single_files
from ingest.transform.dbt_runner import write_manifest
from tests.support.paths import REPO

SECRET = "words-nobody-may-see"

# dagster-dbt itself still calls APIs that its own dagster deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:dagster_dbt")


def discover_lines(paths: list[Path]) -> list[ExportInput]:
    return [ExportInput(f.name, (f,), f) for f in single_files(paths, (".chat",))]


def parse_lines(export: ExportInput, ctx):
    """`conversation|message_id|epoch_ms|sender|text` per line; anything else is a reject."""
    path = export.files[0]
    rows = {
        k: []
        for k in (
            "conversation_id",
            "message_id",
            "timestamp_ms",
            "sender",
            "direction",
            "participants",
            "body_raw",
            "body_text",
            "content_type",
            "source_ref",
        )
    }
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        ctx.records_in += 1
        parts = line.split("|")
        if len(parts) != 5:
            yield Reject(f"{path.name}:{n}", "expected 5 fields", line)
            continue
        conv, mid, ts, sender, text = parts
        for key, value in (
            ("conversation_id", conv),
            ("message_id", mid),
            ("timestamp_ms", int(ts)),
            ("sender", sender),
            ("direction", "outbound" if sender == "Robin" else "inbound"),
            ("participants", ["Robin", "Sam"]),
            ("body_raw", text),
            ("body_text", text),
            ("content_type", "text"),
            ("source_ref", f"{path.name}:{n}"),
        ):
            rows[key].append(value)
    ctx.note("fixture format")
    yield rows


def lines_ingester(platform: str) -> Ingester:
    return Ingester(platform, discover_lines, parse_lines)


def write_chat(path: Path, good: int, bad: int) -> Path:
    lines = [f"c1|m{i}|{1_700_000_000_000 + i}|{'Robin' if i % 2 else 'Sam'}|{SECRET}" for i in range(good)]
    lines += [f"broken line {SECRET}"] * bad
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A config naming one fixture export for whatsapp only; every platform parses the line format."""
    chat = write_chat(tmp_path / "exports" / "sam.chat", good=3, bad=1)
    config = tmp_path / "ai_me.toml"
    config.write_text(f'[me]\nnames = ["Robin"]\n[exports]\nwhatsapp = ["{chat}"]\n', encoding="utf-8")
    warehouse = tmp_path / "warehouse"
    monkeypatch.setenv("AI_ME_CONFIG", str(config))
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(runner, "get_ingester", lines_ingester)
    return tmp_path, warehouse


@pytest.fixture(scope="module")
def defs():
    from dagster_defs.definitions import defs

    return defs


def test_definitions_load_with_every_asset(defs):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {f"raw/{p}" for p in PLATFORMS} | {f"stg_{p}__messages" for p in PLATFORMS} <= keys


def test_dagster_cli_validates_the_definitions(tmp_path):
    """What `dagster dev` and `make demo` load, checked by Dagster's own CLI in a fresh process."""
    dagster = Path(sys.executable).with_name("dagster")
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path)  # telemetry off
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "dagster_defs.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def test_ingest_assets_feed_the_staging_models(defs):
    graph = defs.resolve_asset_graph()
    for p in PLATFORMS:
        assert graph.get(AssetKey(f"stg_{p}__messages")).parent_keys == {AssetKey(["raw", p])}
        assert graph.get(AssetKey(["raw", p])).is_materializable  # ours, not a dbt source stub


def test_ingest_asset_keys_are_the_dbt_source_keys():
    from dagster_defs.dbt_assets import DBT_PROJECT

    manifest = json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))
    translator = DagsterDbtTranslator()
    source_keys = {translator.get_asset_key(s) for s in manifest["sources"].values()}
    # the language cache is the other source: the dbt asset fills it before it runs dbt
    assert source_keys == {AssetKey(["raw", p]) for p in PLATFORMS} | {AssetKey(["enrich", "text_lang"])}


def test_dbt_tests_are_asset_checks(defs):
    from dagster_defs.dbt_assets import DBT_PROJECT

    manifest = json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))
    dbt_tests = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    checks = {c.name for c in defs.resolve_asset_graph().asset_check_keys}
    assert dbt_tests and dbt_tests <= checks
    assert {"all_records_accounted", "raw_schema_matches"} <= checks


@pytest.mark.slow
def test_write_manifest_parses_the_project(tmp_path):
    manifest_path = tmp_path / "target" / "manifest.json"
    write_manifest(manifest_path)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert sorted(n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model") == sorted(
        f.stem for f in (REPO / "models_sql").rglob("*.sql")
    )
    assert sorted(s["name"] for s in manifest["sources"].values()) == sorted([*PLATFORMS, "text_lang"])
    assert [p.name for p in manifest_path.parent.iterdir()] == ["manifest.json"]  # the parse folder is gone


def test_tracked_instance_config_turns_telemetry_off(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.telemetry_enabled is False
        # the sensor's runs, each ending in a dbt build, never write the DuckDB file side by side
        assert instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == [
            {"key": "dagster/sensor_name", "value": "new_exports", "limit": 1}
        ]


def test_unconfigured_platform_is_skipped(env):
    from dagster_defs.ingest_assets import build_ingest_asset

    result = build_ingest_asset("gmail")(build_asset_context(), user_config=UserConfig())
    assert result.metadata["skipped"] == "no export configured"
    assert result.check_results[0].passed
    assert not (env[1] / "raw" / "gmail").exists()


def test_unreadable_export_fails_the_asset(env, monkeypatch):
    from dagster_defs.ingest_assets import build_ingest_asset

    tmp_path, _ = env
    config = tmp_path / "missing.toml"
    config.write_text(f'[exports]\nwhatsapp = ["{tmp_path / "nowhere.chat"}"]\n', encoding="utf-8")
    monkeypatch.setenv("AI_ME_CONFIG", str(config))
    with pytest.raises(Failure, match="no export could be read"):
        build_ingest_asset("whatsapp")(build_asset_context(), user_config=UserConfig())


def test_partly_unreadable_exports_land_and_fail_the_check(env, monkeypatch):
    from dagster_defs.ingest_assets import build_ingest_asset

    tmp_path, _ = env
    monkeypatch.setattr(runner, "get_ingester", lambda platform: Ingester(platform, discover_lines, broken_second))
    a = write_chat(tmp_path / "two" / "a.chat", good=2, bad=0)
    b = write_chat(tmp_path / "two" / "b.chat", good=2, bad=0)
    config = tmp_path / "two.toml"
    config.write_text(f'[exports]\nwhatsapp = ["{a}", "{b}"]\n', encoding="utf-8")
    monkeypatch.setenv("AI_ME_CONFIG", str(config))
    result = build_ingest_asset("whatsapp")(build_asset_context(), user_config=UserConfig())
    assert result.metadata["landed"] == 2 and result.metadata["unreadable_exports"] == 1
    assert not result.check_results[0].passed


def broken_second(export: ExportInput, ctx):
    if export.label == "b.chat":
        raise ExportError(export.files[0], 1, "not a chat export")
    yield from parse_lines(export, ctx)


def test_schema_problems_name_columns_only():
    from dagster_defs.ingest_assets import schema_problems

    assert schema_problems(RAW_SCHEMA) == []
    wrong = RAW_SCHEMA.remove(RAW_SCHEMA.get_field_index("subject"))
    wrong = wrong.set(wrong.get_field_index("timestamp_ms"), pa.field("timestamp_ms", pa.string(), nullable=False))
    wrong = wrong.append(pa.field("extra", pa.int32()))
    assert schema_problems(wrong) == [
        "missing column subject",
        "unexpected column extra",
        "column timestamp_ms is string not null, expected int64 not null",
    ]
    reordered = pa.schema(list(RAW_SCHEMA)[::-1])
    assert schema_problems(reordered)[0].startswith("columns out of order")


@pytest.mark.slow
def test_materialize_lands_builds_and_checks(env):
    from dagster_defs.dbt_assets import dbt_models
    from dagster_defs.definitions import pipeline_resources
    from dagster_defs.ingest_assets import INGEST_ASSETS, RAW_SCHEMA_CHECKS

    _, warehouse = env
    result = materialize([*INGEST_ASSETS, *RAW_SCHEMA_CHECKS, dbt_models], resources=pipeline_resources())
    assert result.success

    by_key = {
        e.materialization.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    landed = by_key[AssetKey(["raw", "whatsapp"])]
    assert (landed["landed"].value, landed["rejected"].value, landed["records_in"].value) == (3, 1, 4)
    assert by_key[AssetKey(["raw", "gmail"])]["skipped"].value == "no export configured"
    assert AssetKey("stg_whatsapp__messages") in by_key
    assert SECRET not in repr(by_key)
    # tables carry their row count (views do not: counting one reruns it); the dataset its split sizes
    assert by_key[AssetKey("int_conversations")]["dagster/row_count"].value == 1
    assert "dagster/row_count" not in by_key[AssetKey("messages")]  # a view
    examples = by_key[AssetKey("training_examples")]
    assert [examples[f"{s}_examples"].value for s in ("train", "val", "test")] == [1, 0, 0]
    assert examples["dagster/row_count"].value == 1

    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    checks = {key: e.passed for key, e in evaluations.items()}
    assert checks[("raw/whatsapp", "all_records_accounted")]
    assert checks[("raw/whatsapp", "raw_schema_matches")]
    assert checks[("stg_whatsapp__messages", "not_null_stg_whatsapp__messages_message_id")]
    # dbt's severity reaches Dagster: one training reply is too few, a warning that does not fail the run
    few = evaluations.pop(("training_examples", "warn_few_training_replies"))
    assert not few.passed and few.severity == AssetCheckSeverity.WARN
    assert all(e.passed for e in evaluations.values())

    with duckdb.connect(str(warehouse / "ai_me.duckdb"), read_only=True) as con:
        counts = dict(
            con.execute(
                "select 'whatsapp', count(*) from stg_whatsapp__messages union all "
                "select 'instagram', count(*) from stg_instagram__messages"
            ).fetchall()
        )
    assert counts == {"whatsapp": 3, "instagram": 0}

    # the same steps as `ai-me transform`: languages cached before dbt, datasets exported after
    assert list((warehouse / "enrich" / "text_lang").glob("*.parquet"))
    assert json.loads((warehouse / "datasets" / "counts.json").read_text())["train"] == 1  # Robin answers Sam once
