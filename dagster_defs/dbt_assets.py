"""The dbt models as Dagster assets (dagster-dbt); their data tests show as asset checks.

The manifest is parsed on load when missing (a fresh clone) or older than the project's files,
so edits to models_sql/ show up when `dagster dev` reloads, without every step process of a
run parsing again. dbt runs with the warehouse the user's config names and the same steps and
vars as `ai-me transform` (ingest/transform/dbt_runner.py): the language cache is brought up to date first,
and warehouse/datasets/ is exported once training_examples is built and every test passed. Each
table model's materialization carries its row count; training_examples also the split sizes.
"""

import os
import sys
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, MetadataValue, Output
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from packaging import version
from dagster_duckdb import DuckDBResource

from ingest.core.config import load_config
from ingest.landing import private_dir
from ingest.transform.datasets import SPLITS, export_datasets
from ingest.transform.language import enrich_languages
from ingest.transform.dbt_runner import DBT_PROJECT_DIR, dbt_args, dbt_artifacts_dir, dbt_env, ensure_manifest

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_manifest(DBT_PROJECT.manifest_path)


class LocalDbtCliResource(DbtCliResource):
    """DbtCliResource without its `dbt --version` subprocess: dbt-core answers that by asking
    pypi.org for its latest release, and nothing may leave the machine (tests/system/test_offline.py)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        from dbt.version import __version__

        return version.parse(__version__)


def dbt_resource() -> DbtCliResource:
    # The dbt beside this interpreter: the venv's bin folder need not be on PATH.
    beside = Path(sys.executable).with_name("dbt")
    return LocalDbtCliResource(project_dir=DBT_PROJECT, dbt_executable=str(beside) if beside.exists() else "dbt")


DATASET_ASSET = AssetKey("training_examples")


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource):
    cfg = load_config()
    warehouse = private_dir(cfg.warehouse_root)
    context.log.info(enrich_languages(warehouse).summary())
    # DbtCliResource hands dbt a copy of os.environ taken when the run starts.
    with _environ(dbt_env(warehouse, cfg)):
        invocation = dbt.cli(dbt_args(["build"], cfg), context=context,
                             target_path=dbt_artifacts_dir(warehouse) / "dagster")
    # Outputs wait until dbt exits: it holds the DuckDB file's write lock until then, and their row
    # counts are read from that file. Check results pass straight through.
    outputs = []
    try:
        for event in invocation.stream():
            if isinstance(event, Output):
                outputs.append(event)
            else:
                yield event
    except Exception:
        yield from outputs  # what dbt did build is still recorded; nothing is exported
        raise
    extra = {}
    if DATASET_ASSET in context.selected_asset_keys:
        report = export_datasets(warehouse)
        context.log.info(report.summary())
        extra[DATASET_ASSET] = _split_metadata(report)
    keys = {event.output_name: context.asset_key_for_output(event.output_name) for event in outputs}
    counts = _table_rows(duckdb, {key.path[-1] for key in keys.values()})
    for event in outputs:
        key = keys[event.output_name]
        rows = {"dagster/row_count": counts[key.path[-1]]} if key.path[-1] in counts else {}
        yield event.with_metadata({**event.metadata, **rows, **extra.get(key, {})})


def _table_rows(duckdb: DuckDBResource, names: set[str]) -> dict[str, int]:
    """Rows of those of `names` that are tables (views are left out: counting one reruns its query)."""
    with duckdb.get_connection() as con:
        tables = [t for (t,) in con.execute("select table_name from duckdb_tables() where not temporary").fetchall()
                  if t in names]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}


def _split_metadata(report) -> dict:
    """Examples per split and platform: counts only, never text."""
    return {**{f"{split}_examples": report.counts.get(split, 0) for split in SPLITS},
            "examples_by_platform": MetadataValue.json(report.by_platform),
            "datasets_dir": MetadataValue.path(str(report.folder))}


@contextmanager
def _environ(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
