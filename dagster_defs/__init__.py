"""Dagster wiring for ai-me: assets that call into ingest/, dbt and training/."""
