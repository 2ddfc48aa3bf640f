"""The dbt-duckdb plugin that profiles.yml loads: the pseudonym key's keyed hash as a SQL function.

Its own module, because importing dbt costs over half a second: nothing else of ai-me needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin

from ingest.transform.pseudonyms import SQL_FUNCTION, keyed_hash, load_or_create_key


def dbt_warehouse() -> Path:
    """The warehouse dbt works on, as profiles.yml names it."""
    return Path(os.environ.get("AI_ME_WAREHOUSE", "../warehouse")).resolve()


class Plugin(BasePlugin):
    """dbt-duckdb plugin (profiles.yml `plugins:`): the keyed hash as a SQL function."""

    def initialize(self, plugin_config: dict) -> None:
        self._key = load_or_create_key(dbt_warehouse())

    def configure_connection(self, conn) -> None:
        key = self._key
        conn.create_function(
            SQL_FUNCTION,
            lambda text: keyed_hash(key, text),
            ["VARCHAR"],
            "VARCHAR",
            null_handling="default",
            side_effects=False,
        )
