"""The warehouse DuckDB file as a Dagster resource, built from the user's config when the code
location loads ($AI_ME_CONFIG and $AI_ME_WAREHOUSE override it, as everywhere else). The dbt CLI
resource sits beside the dbt assets (dbt_assets.dbt_resource)."""
from dagster_duckdb import DuckDBResource

from ingest.core.config import load_config


def duckdb_resource() -> DuckDBResource:
    """The warehouse's ai_me.duckdb, read-only: only dbt writes it. Assets query it for row counts."""
    return DuckDBResource(
        database=str(load_config().warehouse_root / "ai_me.duckdb"),
        # Nothing leaves the machine: no extension is fetched behind the user's back.
        connection_config={"access_mode": "READ_ONLY", "autoinstall_known_extensions": False},
    )
