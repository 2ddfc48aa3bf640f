"""The Dagster code location: `dagster dev` in the repo root loads `defs` from here.

Ingest assets (raw/<platform>, keys equal to the dbt source keys) feed the dbt models, whose
training_examples feed the LoRA adapter, the memory index and the style evaluation; the dbt data tests and the
raw-file checks are asset checks. The new_exports sensor lands changed exports and rebuilds the
models downstream. Every asset, check and the sensor take the user's config as the `user_config`
resource (dagster_defs/resources.py): $AI_ME_CONFIG, else ./ai_me.toml; the warehouse from it or
$AI_ME_WAREHOUSE.
"""

from dagster import Definitions

from dagster_defs.dbt_assets import dbt_models, dbt_resource
from dagster_defs.ingest_assets import INGEST_ASSETS, RAW_SCHEMA_CHECKS
from dagster_defs.resources import UserConfig, duckdb_resource
from dagster_defs.sensors import new_exports
from dagster_defs.training_assets import lora_adapter, memory_index, style_evaluation


def pipeline_resources() -> dict:
    """What the assets, checks and sensor take, for the user's config as the environment names it now."""
    user_config = UserConfig()
    return {"dbt": dbt_resource(), "duckdb": duckdb_resource(user_config), "user_config": user_config}


defs = Definitions(
    assets=[*INGEST_ASSETS, dbt_models, memory_index, lora_adapter, style_evaluation],
    asset_checks=RAW_SCHEMA_CHECKS,
    sensors=[new_exports],
    resources=pipeline_resources(),
)
