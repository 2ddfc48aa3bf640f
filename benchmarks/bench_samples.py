"""Benchmark: generating the sample exports (all platforms)."""

import time
from pathlib import Path

from ingest.samples import generate


def bench_samples(workdir: Path, n: int) -> dict:
    start = time.perf_counter()
    summary = generate(workdir / "samples", messages=n, seed=7)
    return {"messages": sum(summary.counts.values()), "seconds": round(time.perf_counter() - start, 3)}
