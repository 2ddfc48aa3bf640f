"""`ai-me purge`: what each flag deletes, the summary it prints, refusal without --yes, links never
followed, --keep-adapter, and --rotate-key. Runs on a hand-built warehouse (no pipeline run)."""

import json
import os
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.manage.purge import human
from ingest.transform.pseudonyms import KEY_BYTES, key_path, keyed_hash, load_or_create_key

RUN = "tiny-cpu"
BASE = "base/tiny-cpu-0123abcd"


def _write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


LAYOUT = {  # path in the warehouse: size in bytes
    "raw/whatsapp/a.parquet": 100,
    "raw/gmail/b.parquet": 50,
    "rejects/gmail/b.parquet": 7,
    "ai_me.duckdb": 1000,
    "ai_me.duckdb.wal": 10,
    "enrich/text_lang/part-1.parquet": 20,
    "dbt/target/run_results.json": 30,
    "dbt/logs/dbt.log": 40,
    ".dagster/dagster.yaml": 5,
    ".dagster/history/runs.db": 60,
    "datasets/train.parquet": 200,
    "datasets/counts.json": 9,
    "memory/exchanges.parquet": 70,
    "memory/bm25/vocab.index.json": 11,
    ".cache/datasets/parquet/x.arrow": 300,
}


@pytest.fixture
def wh(tmp_path, monkeypatch):
    """A warehouse laid out as the pipeline leaves it, plus a file outside it and links to it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AI_ME_CONFIG", raising=False)
    root = tmp_path / "wh"
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(root))
    for rel, size in LAYOUT.items():
        _write(root / rel, size)
    run = root / "models" / RUN
    for name in ADAPTER_FILES:
        _write(run / name, 11)
    (run / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": f"models/{BASE}"}))
    for name in (
        "training_args.bin",
        "train_log.jsonl",
        "loss_curve.png",
        "eval/report.html",
        "eval/metrics.json",
        "checkpoints/checkpoint-3/adapter_model.safetensors",
        "checkpoints/checkpoint-3/trainer_state.json",
        "merged/model.safetensors",
    ):
        _write(run / name, 13)
    _write(root / "models" / BASE / "model.safetensors", 17)
    _write(root / "models/base/tiny-cpu-old/model.safetensors", 19)
    _write(root / "models/unfinished/train_log.jsonl", 3)  # no adapter: nothing to keep
    _write(root / "secrets/pseudonym.key", KEY_BYTES)
    _write(root / "samples/whatsapp/chat.txt", 23)
    outside = _write(tmp_path / "outside" / "keep.txt", 5)
    (root / "raw" / "linked").symlink_to(outside.parent, target_is_directory=True)
    (root / "datasets" / "extra.parquet").symlink_to(outside)
    return root


ADAPTER_FILES = (
    "adapter_model.safetensors",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "run.json",
    "config.yaml",
    "README.md",
    "metrics.json",
)
# the run's adapter files and the tiny base its adapter_config.json names
KEPT_BY_KEEP_ADAPTER = {f"models/{RUN}/{n}" for n in ADAPTER_FILES} | {f"models/{BASE}/model.safetensors"}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_raw_deletes_landed_exports_and_rejects_only(wh, capsys):
    before = _files(wh)
    assert main(["purge", "--raw", "--yes"]) == 0
    out = capsys.readouterr().out
    gone = before - _files(wh)
    assert gone == {"raw/whatsapp/a.parquet", "raw/gmail/b.parquet", "rejects/gmail/b.parquet", "raw/linked"}
    assert not (wh / "raw").exists() and not (wh / "rejects").exists()
    assert (wh.parent / "outside" / "keep.txt").read_bytes() == b"x" * 5  # the link's target is untouched
    # 3 files + the link itself; link size is the length of its target path
    link_size = len(str(wh.parent / "outside"))
    assert f"raw: 4 file(s), {human(157 + link_size)}" in out
    assert f"deleted 4 file(s), {human(157 + link_size)}" in out


def test_warehouse_deletes_database_caches_and_history_but_keeps_dagster_config(wh, capsys):
    assert main(["purge", "--warehouse", "--yes"]) == 0
    left = _files(wh)
    for gone in (
        "ai_me.duckdb",
        "ai_me.duckdb.wal",
        "enrich/text_lang/part-1.parquet",
        "dbt/logs/dbt.log",
        "dbt/target/run_results.json",
        ".dagster/history/runs.db",
    ):
        assert gone not in left, gone
    assert ".dagster/dagster.yaml" in left and "raw/whatsapp/a.parquet" in left and "datasets/train.parquet" in left
    out = capsys.readouterr().out
    assert "warehouse: 6 file(s), 1.1 KB" in out and "total: 6 file(s), 1160 bytes (1.1 KB)" in out


def test_datasets_deletes_examples_the_memory_index_and_the_training_cache(wh):
    assert main(["purge", "--datasets", "--yes"]) == 0
    assert not (wh / "datasets").exists() and not (wh / ".cache").exists() and not (wh / "memory").exists()
    assert (wh.parent / "outside" / "keep.txt").exists()
    assert (wh / "ai_me.duckdb").exists() and (wh / "models" / RUN / "train_log.jsonl").exists()


def test_models_deletes_every_run_and_base_and_nothing_else(wh):
    before = _files(wh)
    assert main(["purge", "--models", "--yes"]) == 0
    assert not (wh / "models").exists()
    assert before - _files(wh) == {f for f in before if f.startswith("models/")}


def test_models_with_keep_adapter_keeps_only_what_loads_each_adapter(wh):
    assert main(["purge", "--models", "--keep-adapter", "--yes"]) == 0
    assert {f for f in _files(wh) if f.startswith("models/")} == KEPT_BY_KEEP_ADAPTER
    assert (wh / "raw" / "whatsapp" / "a.parquet").exists() and (wh / "datasets" / "train.parquet").exists()


def test_all_leaves_only_secrets_samples_and_dagster_config(wh):
    assert main(["purge", "--all", "--yes"]) == 0
    # .lock is the warehouse lock purge held while deleting: an empty file
    assert _files(wh) == {"secrets/pseudonym.key", "samples/whatsapp/chat.txt", ".dagster/dagster.yaml", ".lock"}
    assert (wh.parent / "outside" / "keep.txt").exists()


def test_all_with_keep_adapter_keeps_what_loads_the_adapter(wh):
    assert main(["purge", "--all", "--keep-adapter", "--yes"]) == 0
    assert {f for f in _files(wh) if f.startswith("models/")} == KEPT_BY_KEEP_ADAPTER
    assert not (wh / "raw").exists() and not (wh / "datasets").exists() and not (wh / "ai_me.duckdb").exists()


def test_keep_adapter_needs_models(wh, capsys):
    assert main(["purge", "--raw", "--keep-adapter", "--yes"]) == 2
    assert "--keep-adapter goes with --models or --all" in capsys.readouterr().err
    assert (wh / "raw").exists()


def test_nothing_chosen_is_a_usage_error(wh, capsys):
    assert main(["purge", "--yes"]) == 2
    assert "say what to delete" in capsys.readouterr().err


def test_refuses_without_yes_when_stdin_is_not_a_terminal(wh, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    before = _files(wh)
    assert main(["purge", "--all"]) == 2
    captured = capsys.readouterr()
    assert "refusing to delete without --yes" in captured.err
    assert "total: " in captured.out  # it still says what would go
    assert _files(wh) == before


@pytest.mark.parametrize("answer, code", [("y", 0), ("", 2), ("no", 2)])
def test_asks_on_a_terminal(wh, monkeypatch, answer, code):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: answer)
    assert main(["purge", "--datasets"]) == code
    assert (wh / "datasets").exists() == (code != 0)


def test_missing_warehouse_and_empty_plan(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AI_ME_CONFIG", raising=False)
    assert main(["purge", "--all", "--yes", "--root", str(tmp_path / "none")]) == 2
    assert "no warehouse at" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["purge", "--all", "--yes", "--root", str(tmp_path / "empty")]) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_a_linked_warehouse_folder_is_unlinked_not_emptied(wh, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    _write(tmp_path / "elsewhere" / "train.parquet", 4)
    for p in (wh / "datasets").iterdir():
        p.unlink()
    (wh / "datasets").rmdir()
    (wh / "datasets").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert main(["purge", "--datasets", "--yes"]) == 0
    assert not os.path.lexists(wh / "datasets")
    assert (tmp_path / "elsewhere" / "train.parquet").exists()


def test_rotate_key_replaces_the_key_and_the_data_made_with_it(wh, capsys):
    old = load_or_create_key(wh)
    assert main(["purge", "--rotate-key", "--yes"]) == 0
    new = load_or_create_key(wh)
    assert len(new) == KEY_BYTES and new != old
    assert keyed_hash(new, "person:alex") != keyed_hash(old, "person:alex")
    assert oct(key_path(wh).stat().st_mode & 0o777) == "0o600"
    assert not (wh / "ai_me.duckdb").exists() and not (wh / "datasets").exists()  # pseudonyms of the old key
    assert (wh / "raw").exists() and (wh / "models").exists()
    out = capsys.readouterr().out
    assert "key rotated" in out and "ai-me transform" in out
    assert old.hex() not in out and new.hex() not in out


def test_purge_has_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["purge", "--help"])
    assert e.value.code == 0 and "usage: ai-me purge" in capsys.readouterr().out


def test_a_folder_that_is_no_warehouse_is_refused(tmp_path, capsys):
    home = tmp_path / "home"
    for rel in ("models/notes.txt", "datasets/thesis.csv", "enrich/x"):
        _write(home / rel, 5)
    assert main(["purge", "--all", "--yes", "--root", str(home)]) == 2
    assert "is not an ai-me warehouse" in capsys.readouterr().err
    assert len(list(home.rglob("*.*"))) == 2 and (home / "enrich" / "x").exists()


def test_purge_refuses_while_an_ingest_holds_the_warehouse(wh, capsys):
    from ingest.core.lock import warehouse_lock

    with warehouse_lock(wh):  # what ingest_platform holds while it lands exports
        assert main(["purge", "--raw", "--yes"]) == 1
    assert "in use by an ingest" in capsys.readouterr().err and (wh / "raw" / "whatsapp" / "a.parquet").exists()
    assert main(["purge", "--raw", "--yes"]) == 0 and not (wh / "raw").exists()


def test_an_ingest_waits_for_a_purge_to_finish(wh, tmp_path):
    import threading
    import time

    from ingest.core.lock import warehouse_lock

    chat = tmp_path / "chat.txt"
    chat.write_text("12/01/2024, 10:00 - Alex: hi\n12/01/2024, 10:01 - Robin: hello\n")
    done = threading.Event()
    ingest = threading.Thread(
        target=lambda: done.set() if main(["ingest", "whatsapp", str(chat), "--warehouse", str(wh)]) == 0 else None
    )
    with warehouse_lock(wh, exclusive=True):  # what purge holds while it deletes
        ingest.start()
        time.sleep(1.0)
        assert not done.is_set() and not list((wh / "raw" / "whatsapp").glob("*.parquet"))[1:]
    ingest.join(60)
    assert done.is_set()
