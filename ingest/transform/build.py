"""The transform, one sequence for `ai-me transform` and the Dagster dbt asset: the language step,
`dbt build`, then warehouse/datasets/ exported when training_examples was built and every selected
test passed, and with them the memory index (in Dagster, the memory_index asset builds that).

Callers differ only in how dbt runs: the CLI in a subprocess of its own (dbt_runner.invoke_dbt),
Dagster through dagster-dbt so the UI sees every model and test (dagster_defs/dbt_assets.py).
Each passes its invoker; both return a DbtRun built from dbt's run_results.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.core.config import Config
from ingest.core.files import private_dir
from ingest.transform.datasets import DatasetReport, write_datasets
from ingest.transform.dbt_runner import DATASET_NODE, MEMORY_NODE, DbtRun, dbt_args, invoke_dbt
from ingest.transform.language import LanguageReport, enrich_languages

if TYPE_CHECKING:
    from training.memory.index import MemoryReport

DbtInvoker = Callable[[list[str], Config, Path], DbtRun]


@dataclass
class BuildReport:
    languages: LanguageReport
    dbt: DbtRun
    datasets: DatasetReport | None  # None: training_examples was not built, or a test failed
    memory: MemoryReport | None = None  # None: no datasets, or left to the caller

    @property
    def ok(self) -> bool:
        return self.dbt.ok

    @property
    def line(self) -> str:
        """One line: counts, outcomes and names of what failed; never message text."""
        parts = [self.languages.summary(), self.dbt.line]
        return "; ".join(parts + [r.summary() for r in (self.datasets, self.memory) if r])


def build(
    cfg: Config, warehouse: Path, select: str | None = None, invoke: DbtInvoker = invoke_dbt, memory: bool = True
) -> BuildReport:
    warehouse = private_dir(Path(warehouse).resolve())
    args = ["build", *(["--select", select] if select else [])]
    dbt_args(args, cfg)  # a config dbt must not see fails here, before the language step
    languages = enrich_languages(warehouse)
    run = invoke(args, cfg, warehouse)
    datasets = write_datasets(warehouse) if run.ok and run.built(DATASET_NODE) else None
    index = None
    if datasets and memory and run.built(MEMORY_NODE):
        from training.memory.index import build_index

        index = build_index(warehouse)
    return BuildReport(languages, run, datasets, index)
