"""A sensor that lands new or changed exports and rebuilds the dbt models and the memory index on them.

It watches the paths in the config's [exports] by fingerprint (ingest/core/seen_exports.py: paths,
sizes and mtimes, no content). An export is new when its fingerprint is neither the one the sensor
last asked to land (its cursor) nor the one the warehouse last landed (exports_seen.json, which
every landing updates, whether `ai-me ingest`, `make demo` or a run of this sensor). The cursor
lives in Dagster's run history, which `ai-me purge --warehouse` deletes; the file stays, so a purge
is not undone on the next `make dev`. Training stays manual: lora_adapter and style_evaluation are
never requested.
"""

import json

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

from dagster_defs.dbt_assets import dbt_models
from dagster_defs.ingest_assets import INGEST_ASSETS, raw_asset_key
from dagster_defs.resources import UserConfig
from dagster_defs.training_assets import memory_index
from ingest.core.platforms import PLATFORMS
from ingest.core.seen_exports import fingerprint, read_seen, remember
from ingest.core.warehouse import Warehouse


def selection_for(platforms: list[str]) -> list[AssetKey]:
    """The platforms' ingest assets, every dbt model and the memory index (nothing of training).

    Every model, not only those downstream: int_messages__unioned reads each platform's staging
    view, so a fresh warehouse needs them all, and they are views (free to rebuild)."""
    models = sorted(dbt_models.keys, key=lambda k: k.to_user_string())
    return [*(raw_asset_key(p) for p in platforms), *models, memory_index.key]


@sensor(
    name="new_exports",
    target=AssetSelection.assets(*INGEST_ASSETS, dbt_models, memory_index),
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,  # "watches" should mean watching from the start
    description="Lands the exports in [exports] when a file under them is new or changed (by path, size "
    "and mtime) and rebuilds the dbt models and the memory index; training stays manual.",
)
def new_exports(context: SensorEvaluationContext, user_config: UserConfig):
    cfg, root = user_config.load(), user_config.warehouse()
    now = {p: fp for p in PLATFORMS if (fp := fingerprint(cfg.export_paths(p)))}
    if not now:
        return SkipReason("no file under the config's [exports] yet")
    landed = read_seen(root)
    requested = json.loads(context.cursor) if context.cursor else {}
    changed = [p for p in PLATFORMS if p in now and now[p] not in (requested.get(p), landed.get(p))]
    if not changed:
        return SkipReason(
            f"no export is new or changed since it was last landed (as recorded in {Warehouse(root).exports_seen})"
        )
    context.log.info(f"new or changed exports: {', '.join(changed)}")
    requested = requested | now
    remember(root, {p: now[p] for p in changed})
    # One run for every changed platform (and dagster_home/dagster.yaml queues this sensor's runs one
    # at a time): two dbt builds at once would contend for the DuckDB file.
    return SensorResult(
        run_requests=[RunRequest(asset_selection=selection_for(changed), tags={"ai_me/platforms": ",".join(changed)})],
        cursor=json.dumps(requested, sort_keys=True),
    )
