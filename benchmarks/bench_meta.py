"""Benchmark: landing Instagram and Messenger sample exports (legacy files with Meta's mojibake,
10,000 messages a file, plus an e2ee thread) as Parquet. Generation is not timed."""

import time
from pathlib import Path

import pyarrow as pa

from ingest.core.identity import Me
from ingest.landing import land
from ingest.samples import generate
from ingest.samples.persona import ME_NAMES
from ingest.sources.base import ParseContext
from ingest.sources.meta.ingester import INSTAGRAM, MESSENGER


def bench_meta(workdir: Path, n: int) -> dict:
    samples = workdir / "samples"
    generate(samples, messages=n, seed=7, platforms=["instagram", "messenger"])
    pa.array([0])  # pyarrow imports pandas on its first conversion (~0.4 s): an import, untimed like the others
    landed, start, cpu = 0, time.perf_counter(), time.process_time()
    for ingester in (INSTAGRAM, MESSENGER):
        for export in ingester.discover([samples / ingester.platform]):
            ctx = ParseContext(ingester.platform, Me(names=ME_NAMES))
            landed += land(ingester, export, workdir / "warehouse", ctx).landed
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    # CPU seconds too: on a shared machine they show the cost when wall time shows the neighbours
    return {
        "stage": "ingest_meta",
        "messages": landed,
        "seconds": round(seconds, 3),
        "messages_per_s": round(landed / seconds),
        "cpu_seconds": round(cpu, 3),
        "messages_per_cpu_s": round(landed / cpu),
    }
