"""The dbt models as Dagster assets (dagster-dbt); their data tests show as asset checks.

The manifest is parsed on load when missing (a fresh clone) or older than the project's files,
so edits to models_sql/ show up when `dagster dev` reloads, without every step process of a
run parsing again. dbt runs with the warehouse the user's config names and the same steps and
vars as `ai-me transform` (ingest/transform.py): the language cache is brought up to date first,
and warehouse/datasets/ is exported once training_examples is built and every test passed.
"""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from ingest.config import load_config
from ingest.landing import private_dir
from ingest.dataset_export import export_datasets
from ingest.language import enrich_languages
from ingest.transform import DBT_PROJECT_DIR, dbt_args, dbt_artifacts_dir, dbt_env, ensure_manifest

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_manifest(DBT_PROJECT.manifest_path)


def dbt_resource() -> DbtCliResource:
    # The dbt beside this interpreter: the venv's bin folder need not be on PATH.
    beside = Path(sys.executable).with_name("dbt")
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=str(beside) if beside.exists() else "dbt")


DATASET_ASSET = AssetKey("training_examples")


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    cfg = load_config()
    warehouse = private_dir(cfg.warehouse_root)
    context.log.info(enrich_languages(warehouse).summary())
    # DbtCliResource hands dbt a copy of os.environ taken when the run starts.
    with _environ(dbt_env(warehouse)):
        invocation = dbt.cli(dbt_args(["build"], cfg), context=context,
                             target_path=dbt_artifacts_dir(warehouse) / "dagster")
    yield from invocation.stream()  # raises when a model or test failed: nothing is exported then
    if DATASET_ASSET in context.selected_asset_keys:
        context.log.info(export_datasets(warehouse).summary())


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
