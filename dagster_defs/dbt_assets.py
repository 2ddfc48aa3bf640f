"""The dbt models as Dagster assets (dagster-dbt); their data tests show as asset checks.

The asset runs ingest/transform/build.py's `build`, the sequence `ai-me transform` runs: the
language step, `dbt build` with the config's vars, then warehouse/datasets/ once training_examples
is built and every test passed. Only the way dbt is invoked differs (DagsterDbt below), so the UI
sees each model and test. Each table model's materialization carries its row count;
training_examples also the split sizes.

The manifest is parsed on load when missing (a fresh clone) or older than a project file, so edits
to models_sql/ show when `dagster dev` reloads.
"""

import os
import sys
import time
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, Failure, MetadataValue, Output
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource
from packaging import version

from dagster_defs.resources import UserConfig
from ingest.core.config import Config
from ingest.core.warehouse import Warehouse
from ingest.transform.build import build
from ingest.transform.datasets import SPLITS
from ingest.transform.dbt_runner import DBT_PROJECT_DIR, DbtRun, dbt_args, dbt_env, ensure_manifest

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Not DbtProject.prepare_if_dev: it parses on every load under `dagster dev` (seconds, in each
# process dagster dev starts, writing in place where another process may read), and never elsewhere,
# so `dagster asset materialize` after an edit of models_sql/ would run a stale manifest (a KeyError
# on the first new test). ensure_manifest stats the project's files (milliseconds) and parses only
# when one is newer than the manifest, into a private folder, then renames.
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


class DagsterDbt:
    """build()'s dbt invoker inside the asset: dbt through dagster-dbt, its events kept for the asset
    to yield. Outputs wait until dbt exits: it holds the DuckDB file's write lock until then, and
    their row counts are read from that file."""

    def __init__(self, dbt: DbtCliResource, context: AssetExecutionContext):
        self.dbt, self.context, self.events = dbt, context, []

    def __call__(self, args: list[str], cfg: Config, warehouse: Path) -> DbtRun:
        target = Warehouse(warehouse).dbt / "dagster"
        start = time.perf_counter()
        with _environ(dbt_env(warehouse, cfg)):  # DbtCliResource hands dbt a copy of os.environ
            invocation = self.dbt.cli(
                dbt_args(args, cfg), context=self.context, target_path=target, raise_on_error=False
            )
            self.events = list(invocation.stream())
        ok = invocation.is_successful()
        results = invocation.get_artifact("run_results.json") if (target / "run_results.json").exists() else None
        return DbtRun.of(
            args, ok, results, time.perf_counter() - start, "see the run's dbt log", target.parent / "logs" / "dbt.log"
        )


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource, user_config: UserConfig):
    dagster_dbt = DagsterDbt(dbt, context)
    # The memory index is an asset of its own (training_assets.memory_index), downstream of this one.
    report = build(user_config.load(), user_config.warehouse(), invoke=dagster_dbt, memory=False)
    context.log.info(report.line)
    outputs = [e for e in dagster_dbt.events if isinstance(e, Output)]
    yield from (e for e in dagster_dbt.events if not isinstance(e, Output))  # check results
    keys = {event.output_name: context.asset_key_for_output(event.output_name) for event in outputs}
    counts = _table_rows(duckdb, {key.path[-1] for key in keys.values()}) if report.ok else {}
    extra = {DATASET_ASSET: _split_metadata(report.datasets)} if report.datasets else {}
    for event in outputs:  # what dbt did build is recorded even when the build failed
        key = keys[event.output_name]
        rows = {"dagster/row_count": counts[key.path[-1]]} if key.path[-1] in counts else {}
        yield event.with_metadata({**event.metadata, **rows, **extra.get(key, {})})
    if not report.ok:
        raise Failure(report.line)


def _table_rows(duckdb: DuckDBResource, names: set[str]) -> dict[str, int]:
    """Rows of those of `names` that are tables (views are left out: counting one reruns its query)."""
    with duckdb.get_connection() as con:
        tables = [
            t
            for (t,) in con.execute("select table_name from duckdb_tables() where not temporary").fetchall()
            if t in names
        ]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}


def _split_metadata(report) -> dict:
    """Examples per split and platform: counts only, never text."""
    return {
        **{f"{split}_examples": report.counts.get(split, 0) for split in SPLITS},
        "examples_by_platform": MetadataValue.json(report.by_platform),
        "datasets_dir": MetadataValue.path(str(report.folder)),
    }


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
