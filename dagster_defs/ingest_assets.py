"""One asset per platform that lands the user's configured exports as raw Parquet.

Each asset's key is the dbt source key (raw/<platform>), so the staging models hang off it in the
graph. It calls the same ingest.runner.ingest_platform as `ai-me ingest`; its metadata holds
counts and timings only, never message text.
"""

from pathlib import Path

import pyarrow.parquet as pq
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from dagster_defs.resources import UserConfig
from ingest.core.platforms import PLATFORMS
from ingest.core.schema import RAW_SCHEMA
from ingest.core.warehouse import Warehouse
from ingest.runner import IngestReport, ingest_platform

INGEST_GROUP = "ingest"
RECORDS_CHECK = "all_records_accounted"
SCHEMA_CHECK = "raw_schema_matches"


def raw_asset_key(platform: str) -> AssetKey:
    return AssetKey(["raw", platform])


def build_ingest_asset(platform: str) -> AssetsDefinition:
    key = raw_asset_key(platform)

    @asset(
        key=key,
        group_name=INGEST_GROUP,
        kinds={"python", "parquet"},
        description=f"{platform} exports named in the config's [exports], landed as "
        f"warehouse/raw/{platform}/<export_id>.parquet (bad records in rejects/{platform}/).",
        check_specs=[
            AssetCheckSpec(
                RECORDS_CHECK,
                asset=key,
                description="Every export could be read, and every record found is in the landed or the "
                "rejects Parquet on disk: records in = landed + rejected.",
            )
        ],
    )
    def ingest(context: AssetExecutionContext, user_config: UserConfig) -> MaterializeResult:
        cfg = user_config.load()
        paths = cfg.export_paths(platform)
        if not paths:
            context.log.info(f"{platform}: skipped, no export configured in [exports]")
            return MaterializeResult(
                metadata={"skipped": "no export configured", "landed": 0, "rejected": 0, "exports": 0},
                check_results=[AssetCheckResult(passed=True, metadata={"skipped": "no export configured"})],
            )
        report = ingest_platform(platform, paths, cfg, warehouse=user_config.warehouse())
        context.log.info(report.summary())
        if report.errors and not report.results:
            raise Failure(f"{platform}: no export could be read", metadata={"errors": _lines(report.errors)})
        return MaterializeResult(
            metadata=_report_metadata(report, user_config.warehouse()), check_results=[_records_check(report)]
        )

    return ingest


def _report_metadata(report: IngestReport, warehouse: Path) -> dict:
    reasons: dict[str, int] = {}
    for r in report.results:
        for reason, n in r.reject_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    metadata = {
        "landed": report.landed,
        "rejected": report.rejected,
        "records_in": report.records_in,
        "exports": len(report.results),
        "unreadable_exports": len(report.errors),
        "seconds": round(report.seconds, 2),
        "raw_dir": MetadataValue.path(str(Warehouse(warehouse).raw(report.platform))),
    }
    if reasons:
        metadata["reject_reasons"] = MetadataValue.json(reasons)
    notes = [f"{r.label}: {note}" for r in report.results for note in r.notes]
    if notes:
        metadata["notes"] = _lines(notes)
    if report.errors:
        metadata["errors"] = _lines(report.errors)
    return metadata


def _records_check(report: IngestReport) -> AssetCheckResult:
    """Recount from the files on disk, so the check proves what landed rather than what was meant to."""
    on_disk_landed = sum(pq.ParquetFile(r.path).metadata.num_rows for r in report.results)
    on_disk_rejected = sum(pq.ParquetFile(r.reject_path).metadata.num_rows for r in report.results if r.reject_path)
    return AssetCheckResult(
        passed=not report.errors and report.records_in == on_disk_landed + on_disk_rejected,
        metadata={
            "records_in": report.records_in,
            "landed_on_disk": on_disk_landed,
            "rejected_on_disk": on_disk_rejected,
            "unreadable_exports": len(report.errors),
        },
    )


def build_raw_schema_check(platform: str):
    @asset_check(
        asset=raw_asset_key(platform),
        name=SCHEMA_CHECK,
        blocking=True,
        description=f"Every Parquet file in warehouse/raw/{platform}/ has exactly the raw schema "
        "(ingest/core/schema.py RAW_SCHEMA): the dbt sources read them by these names and types.",
    )
    def raw_schema_matches(context: AssetCheckExecutionContext, user_config: UserConfig) -> AssetCheckResult:
        files = sorted(Warehouse(user_config.warehouse()).raw(platform).glob("*.parquet"))
        problems = [f"{f.name}: {problem}" for f in files for problem in schema_problems(pq.read_schema(f))]
        return AssetCheckResult(
            passed=not problems, metadata={"files": len(files), **({"problems": _lines(problems)} if problems else {})}
        )

    return raw_schema_matches


def schema_problems(schema) -> list[str]:
    """How a file's schema differs from RAW_SCHEMA, by column name and type only."""
    if schema.equals(RAW_SCHEMA, check_metadata=False):
        return []
    problems = [f"missing column {n}" for n in RAW_SCHEMA.names if n not in schema.names]
    problems += [f"unexpected column {n}" for n in schema.names if n not in RAW_SCHEMA.names]
    for expected in RAW_SCHEMA:
        if expected.name in schema.names:
            found = schema.field(expected.name)
            if not found.equals(expected):
                problems.append(
                    f"column {expected.name} is {found.type}{'' if found.nullable else ' not null'}, "
                    f"expected {expected.type}{'' if expected.nullable else ' not null'}"
                )
    if not problems:
        problems.append(f"columns out of order: {', '.join(schema.names)}")
    return problems


def _lines(items: list[str]) -> MetadataValue:
    return MetadataValue.md("\n".join(f"- {item}" for item in items))


INGEST_ASSETS = [build_ingest_asset(p) for p in PLATFORMS]
RAW_SCHEMA_CHECKS = [build_raw_schema_check(p) for p in PLATFORMS]
