"""Benchmark of the transform: sample exports of n messages, ingested, then the language step and
`dbt build` timed on their own (the dataset export too). Run by `make bench` (benchmarks/run.py)."""

from __future__ import annotations

import time
from pathlib import Path

from ingest.core.config import load_config
from ingest.core.platforms import PLATFORMS
from ingest.runner import ingest_platform
from ingest.samples import generate
from ingest.transform.datasets import write_datasets
from ingest.transform.dbt_runner import DATASET_NODE, invoke_dbt
from ingest.transform.language import enrich_languages


def bench_dbt(workdir: Path, n: int) -> dict:
    workdir = Path(workdir)
    summary = generate(workdir / "samples", messages=n, seed=7)
    cfg = load_config(summary.config_path)
    warehouse = workdir / "warehouse"
    start = time.perf_counter()
    landed = sum(ingest_platform(p, cfg.export_paths(p), cfg, warehouse=warehouse).landed for p in PLATFORMS)
    ingest_seconds = time.perf_counter() - start

    languages = enrich_languages(warehouse)
    run = invoke_dbt(["build"], cfg, warehouse)
    if not run.ok:
        raise RuntimeError(run.line)
    start = time.perf_counter()
    exported = write_datasets(warehouse) if run.built(DATASET_NODE) else None
    return {
        "stage": "dbt_build",
        "messages": landed,
        "seconds": round(run.seconds, 2),
        "ingest_seconds": round(ingest_seconds, 2),
        "language_seconds": round(languages.seconds, 2),
        "distinct_texts": languages.texts,
        "export_seconds": round(time.perf_counter() - start, 2),
        "examples": exported.counts if exported else {},
    }
