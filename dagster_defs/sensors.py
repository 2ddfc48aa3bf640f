"""A sensor that lands new or changed exports and rebuilds the dbt models on them.

It watches the paths in the config's [exports]. A platform's fingerprint is a hash of (path, size,
mtime_ns) of every file under its paths: cheap to take every tick, and no message is read. The
cursor keeps the last fingerprint per platform as JSON. Training stays manual: lora_adapter and
style_evaluation are never requested.

The cursor lives in Dagster's run history, which `ai-me purge --warehouse` deletes; a sensor that
started over from no cursor would land every export again on the next `make dev` and undo the
purge. So the fingerprints are also kept in <warehouse>/exports_seen.json, which purge keeps (it
holds hashes, no name or text): without a cursor the sensor starts from that file, and only an
export that is new or changed since then is landed.
"""
import hashlib
import json
import os
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ingest.core.config import config_and_warehouse
from ingest.core.schema import PLATFORMS

from dagster_defs.dbt_assets import dbt_models
from dagster_defs.ingest_assets import INGEST_ASSETS, raw_asset_key


def export_fingerprint(paths: list[Path]) -> str | None:
    """Hash of (path, size, mtime_ns) of every file under `paths`; None when none exists yet."""
    h = hashlib.blake2b(digest_size=16)
    seen = False
    for f in _files(paths):
        st = f.stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        seen = True
    return h.hexdigest() if seen else None


def _files(paths: list[Path]):
    for root in paths:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from sorted(p for p in root.rglob("*") if p.is_file())


SEEN_FILE = "exports_seen.json"  # in the warehouse root; ingest/manage/purge.py keeps it


def read_seen(root: Path) -> dict[str, str]:
    """The fingerprints in <warehouse>/exports_seen.json; {} when there is none (a fresh warehouse)."""
    try:
        seen = json.loads((root / SEEN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {p: fp for p, fp in seen.items() if isinstance(fp, str)} if isinstance(seen, dict) else {}


def write_seen(root: Path, seen: dict[str, str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{SEEN_FILE}.tmp"
    tmp.write_text(json.dumps(seen, sort_keys=True), encoding="utf-8")
    os.replace(tmp, root / SEEN_FILE)


def selection_for(platforms: list[str]) -> list[AssetKey]:
    """The platforms' ingest assets and every dbt model (nothing of training).

    Every model, not only those downstream: int_messages__unioned reads each platform's staging
    view, so a fresh warehouse needs them all, and they are views (free to rebuild)."""
    return [*(raw_asset_key(p) for p in platforms), *sorted(dbt_models.keys, key=lambda k: k.to_user_string())]


@sensor(
    name="new_exports",
    target=AssetSelection.assets(*INGEST_ASSETS, dbt_models),
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,  # "watches" should mean watching from the start
    description="Lands the exports in [exports] when a file under them is new or changed (by path, size "
                "and mtime) and rebuilds the dbt models; training stays manual.",
)
def new_exports(context: SensorEvaluationContext):
    cfg, root = config_and_warehouse()
    now = {p: fp for p in PLATFORMS if (fp := export_fingerprint(cfg.export_paths(p)))}
    if not now:
        return SkipReason("no file under the config's [exports] yet")
    remembered = read_seen(root)
    seen = json.loads(context.cursor) if context.cursor else remembered
    changed = [p for p in PLATFORMS if p in now and now[p] != seen.get(p)]
    if not changed:
        if seen != remembered:  # a cursor from before exports_seen.json existed
            write_seen(root, seen)
        return SkipReason("no export is new or changed since the last run request"
                          + ("" if context.cursor else f" (as recorded in {root / SEEN_FILE})"))
    context.log.info(f"new or changed exports: {', '.join(changed)}")
    seen = seen | now
    write_seen(root, seen)
    # One run for every changed platform (and dagster_home/dagster.yaml queues this sensor's runs one
    # at a time): two dbt builds at once would contend for the DuckDB file.
    return SensorResult(
        run_requests=[RunRequest(asset_selection=selection_for(changed),
                                 tags={"ai_me/platforms": ",".join(changed)})],
        cursor=json.dumps(seen, sort_keys=True),
    )
