"""The new_exports sensor: it requests ingest + downstream dbt for new or changed exports, and only then."""

import json
import os

import pytest
from dagster import AssetKey, DagsterInstance, RunRequest, SkipReason, build_sensor_context, materialize

from ingest import runner
from tests.dagster.test_dagster_defs import lines_ingester, write_chat

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:dagster_dbt")
TRAINING = {AssetKey("lora_adapter"), AssetKey("style_evaluation")}


@pytest.fixture
def exports(tmp_path, monkeypatch):
    """A config naming a WhatsApp export file and an Instagram export folder (empty for now)."""
    chat = write_chat(tmp_path / "exports" / "sam.chat", good=3, bad=0)
    folder = tmp_path / "exports" / "instagram"
    folder.mkdir()
    config = tmp_path / "ai_me.toml"
    config.write_text(
        f'[me]\nnames = ["Robin"]\n[exports]\nwhatsapp = ["{chat}"]\ninstagram = ["{folder}"]\n', encoding="utf-8"
    )
    monkeypatch.setenv("AI_ME_CONFIG", str(config))
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return chat, folder


def tick(cursor=None):
    """Evaluate the sensor once; (run requests, new cursor) or (SkipReason, old cursor)."""
    from dagster_defs.resources import UserConfig
    from dagster_defs.sensors import new_exports

    result = new_exports(build_sensor_context(cursor=cursor, resources={"user_config": UserConfig()}))
    if isinstance(result, SkipReason):
        return result, cursor
    return result.run_requests, result.cursor


def keys(request: RunRequest) -> set[str]:
    return {k.to_user_string() for k in request.asset_selection}


def test_new_export_requests_its_ingest_and_the_dbt_models(exports):
    from dagster_defs.dbt_assets import dbt_models

    [request], cursor = tick()
    selected = set(request.asset_selection)
    # No other ingest, no training; the memory index follows the datasets.
    assert selected == {AssetKey(["raw", "whatsapp"]), *dbt_models.keys, AssetKey("memory_index")}
    assert AssetKey("training_examples") in selected and not TRAINING & selected
    assert set(json.loads(cursor)) == {"whatsapp"}  # the empty Instagram folder has nothing to land yet


def test_unchanged_exports_skip(exports):
    _, cursor = tick()
    skipped, same = tick(cursor)
    assert isinstance(skipped, SkipReason) and same == cursor


def test_changed_file_fires_again(exports):
    chat, _ = exports
    _, cursor = tick()
    write_chat(chat, good=5, bad=0)  # new content: new size and mtime
    [request], new_cursor = tick(cursor)
    assert "raw/whatsapp" in keys(request) and new_cursor != cursor
    # a touch alone (same size, new mtime) counts too: the sensor never reads the content
    st = chat.stat()
    os.utime(chat, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    [_], _ = tick(new_cursor)


def test_new_file_in_an_export_folder_fires_for_that_platform_only(exports):
    _, folder = exports
    _, cursor = tick()
    write_chat(folder / "inbox" / "a.chat", good=2, bad=0)
    [request], cursor = tick(cursor)
    selected = keys(request)
    assert "raw/instagram" in selected and "raw/whatsapp" not in selected
    assert request.tags["ai_me/platforms"] == "instagram"
    assert set(json.loads(cursor)) == {"whatsapp", "instagram"}
    assert isinstance(tick(cursor)[0], SkipReason)


def test_no_configured_export_skips(tmp_path, monkeypatch):
    config = tmp_path / "ai_me.toml"
    config.write_text('[exports]\nwhatsapp = ["nowhere.zip"]\n', encoding="utf-8")
    monkeypatch.setenv("AI_ME_CONFIG", str(config))
    skipped, cursor = tick()
    assert isinstance(skipped, SkipReason) and "no file" in skipped.skip_message and cursor is None


@pytest.mark.slow
def test_requested_selection_runs_in_a_fresh_warehouse(exports, monkeypatch):
    """What the sensor asks for builds on its own, though other platforms were never ingested."""
    from dagster_defs.definitions import defs, pipeline_resources

    monkeypatch.setattr(runner, "get_ingester", lines_ingester)
    [request], _ = tick()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            list(defs.assets), selection=request.asset_selection, instance=instance, resources=pipeline_resources()
        )
    assert result.success
    built = {e.asset_key for e in result.get_asset_materialization_events()}
    assert built == set(request.asset_selection)


def test_fingerprint_reads_no_content(exports):
    """Same size and mtime, other bytes: unnoticed, because the sensor only stats the files."""
    chat, _ = exports
    _, cursor = tick()
    st = chat.stat()
    chat.write_bytes(chat.read_bytes().replace(b"words", b"WORDS"))
    os.utime(chat, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert isinstance(tick(cursor)[0], SkipReason)


def test_a_purge_is_not_undone_by_the_next_tick(exports, tmp_path):
    """`ai-me purge --all` deletes Dagster's run history and with it the sensor's cursor; the next
    `make dev` starts the sensor without one. It must not land the purged exports again."""
    from ingest.core.warehouse import EXPORTS_SEEN as SEEN_FILE
    from ingest.manage import purge

    chat, folder = exports
    warehouse = tmp_path / "warehouse"
    [_], cursor = tick()  # the first `make dev`: a fresh warehouse lands what is there
    (warehouse / ".dagster" / "history").mkdir(parents=True)  # Dagster's run history, cursor included
    (warehouse / ".dagster" / "history" / "runs.db").write_bytes(b"cursor")
    (warehouse / "raw" / "whatsapp").mkdir(parents=True)
    (warehouse / "raw" / "whatsapp" / "a.parquet").write_bytes(b"landed")
    purge.execute(purge.plan(warehouse, raw=True, warehouse=True, datasets=True, models=True))
    assert not (warehouse / "raw").exists() and not (warehouse / ".dagster" / "history").exists()
    kept = (warehouse / SEEN_FILE).read_text(encoding="utf-8")
    assert json.loads(kept) == json.loads(cursor)
    assert "sam" not in kept and str(tmp_path) not in kept  # hashes only: no export's name or path

    skipped, _ = tick()  # the next `make dev`: no cursor
    assert isinstance(skipped, SkipReason) and SEEN_FILE in skipped.skip_message
    # what is new since then is landed, and only that
    write_chat(folder / "inbox" / "a.chat", good=2, bad=0)
    [request], cursor = tick()
    assert "raw/instagram" in keys(request) and "raw/whatsapp" not in keys(request)
    assert isinstance(tick()[0], SkipReason) and isinstance(tick(cursor)[0], SkipReason)


def test_exports_landed_without_the_sensor_are_not_landed_again(exports, tmp_path, monkeypatch):
    """`make dev` on a warehouse that `make demo` or `ai-me ingest` just filled: the sensor starts with no
    cursor and asks for nothing, because every landing records what it landed; a later change still fires."""
    from ingest.core.config import load_config

    monkeypatch.setattr(runner, "get_ingester", lines_ingester)
    chat, _ = exports
    cfg = load_config()
    report = runner.ingest_platform("whatsapp", cfg.export_paths("whatsapp"), cfg)
    assert report.ok and report.landed
    seen_file = tmp_path / "warehouse" / "exports_seen.json"
    assert set(json.loads(seen_file.read_text(encoding="utf-8"))) == {"whatsapp"}
    assert seen_file.stat().st_mode & 0o077 == 0  # owner-only, as everything in the warehouse
    skipped, _ = tick()
    assert isinstance(skipped, SkipReason)
    write_chat(chat, good=5, bad=0)
    [request], _ = tick()
    assert "raw/whatsapp" in keys(request)


def test_a_fresh_or_unreadable_seen_file_lands_everything(exports, tmp_path):
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "exports_seen.json").write_text("not json", encoding="utf-8")
    [request], _ = tick()
    assert "raw/whatsapp" in keys(request)
