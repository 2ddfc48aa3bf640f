"""The resources every asset, check and the sensor take: the user's config, the warehouse's DuckDB
file and the dbt CLI (dbt_assets.dbt_resource).

The config is read when a step asks for it (`UserConfig.load`), from `path`, else $AI_ME_CONFIG,
else ./ai_me.toml, as everywhere else; $AI_ME_WAREHOUSE overrides its warehouse root.
"""

from pathlib import Path

from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from ingest.core.config import Config, load_config
from ingest.core.warehouse import Warehouse


class UserConfig(ConfigurableResource):
    """The user's ai_me.toml."""

    path: str = ""  # empty: $AI_ME_CONFIG, else ./ai_me.toml

    def load(self) -> Config:
        return load_config(self.path or None)

    def warehouse(self) -> Path:
        return self.load().warehouse_root


def duckdb_resource(config: UserConfig) -> DuckDBResource:
    """The warehouse's ai_me.duckdb, read-only: only dbt writes it. Assets query it for row counts."""
    return DuckDBResource(
        database=str(Warehouse(config.warehouse()).duckdb),
        # Nothing leaves the machine: no extension is fetched behind the user's back.
        connection_config={"access_mode": "READ_ONLY", "autoinstall_known_extensions": False},
    )
