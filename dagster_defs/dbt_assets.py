"""The dbt models as Dagster assets (dagster-dbt); their data tests show as asset checks.

The manifest is parsed on load when missing (a fresh clone) or older than the project's files,
so edits to models_sql/ show up when `dagster dev` reloads, without every step process of a
run parsing again. dbt runs with the warehouse the user's config names.
"""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from ingest.config import load_config
from ingest.landing import private_dir
from ingest.transform import DBT_PROJECT_DIR, dbt_artifacts_dir, dbt_env, ensure_manifest

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_manifest(DBT_PROJECT.manifest_path)


def dbt_resource() -> DbtCliResource:
    # The dbt beside this interpreter: the venv's bin folder need not be on PATH.
    beside = Path(sys.executable).with_name("dbt")
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=str(beside) if beside.exists() else "dbt")


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    warehouse = private_dir(load_config().warehouse_root)
    # DbtCliResource hands dbt a copy of os.environ taken when the run starts.
    with _environ(dbt_env(warehouse)):
        invocation = dbt.cli(["build"], context=context, target_path=dbt_artifacts_dir(warehouse) / "dagster")
    yield from invocation.stream()


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
