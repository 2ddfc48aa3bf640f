"""A sensor that lands new or changed exports and rebuilds the dbt models on them.

It watches the paths in the config's [exports]. A platform's fingerprint is a hash of (path, size,
mtime_ns) of every file under its paths: cheap to take every tick, and no message is read. The
cursor keeps the last fingerprint per platform as JSON. Training stays manual: lora_adapter and
style_evaluation are never requested.
"""
import hashlib
import json
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

from ingest.config import load_config
from ingest.schema import PLATFORMS

from .dbt_assets import dbt_models
from .ingest_assets import INGEST_ASSETS, raw_asset_key


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
    cfg = load_config()
    seen = json.loads(context.cursor) if context.cursor else {}
    now = {p: fp for p in PLATFORMS if (fp := export_fingerprint(cfg.export_paths(p)))}
    if not now:
        return SkipReason("no file under the config's [exports] yet")
    changed = [p for p in PLATFORMS if p in now and now[p] != seen.get(p)]
    if not changed:
        return SkipReason("no export is new or changed since the last run request")
    context.log.info(f"new or changed exports: {', '.join(changed)}")
    # One run for every changed platform (and dagster_home/dagster.yaml queues this sensor's runs one
    # at a time): two dbt builds at once would contend for the DuckDB file.
    return SensorResult(
        run_requests=[RunRequest(asset_selection=selection_for(changed),
                                 tags={"ai_me/platforms": ",".join(changed)})],
        cursor=json.dumps(seen | now, sort_keys=True),
    )
