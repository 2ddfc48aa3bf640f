"""Benchmark: land a generated Takeout mbox of n messages. `make bench` measures peak RSS around it.

python -m benchmarks.bench_gmail [n] [workdir]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from ingest.core.identity import Me
from ingest.landing import land
from ingest.samples import export_path, generate
from ingest.samples.persona import ME_EMAILS
from ingest.sources.base import ParseContext
from ingest.sources.gmail.ingester import INGESTER


def bench_gmail(workdir: Path, n: int) -> dict:
    workdir = Path(workdir)
    generate(workdir / "exports", messages=n, seed=7, platforms=["gmail"])
    mbox = export_path(workdir / "exports", "gmail")
    [export] = INGESTER.discover([mbox])
    ctx = ParseContext(platform="gmail", me=Me(emails=ME_EMAILS))
    pa.array([0])  # pyarrow imports pandas on its first conversion: an import, untimed like the others
    start = time.perf_counter()
    result = land(INGESTER, export, workdir / "warehouse", ctx)
    seconds = time.perf_counter() - start
    return {
        "stage": "ingest_gmail",
        "messages": result.landed,
        "rejected": result.rejected,
        "mbox_mb": round(mbox.stat().st_size / 1e6, 1),
        "seconds": round(seconds, 3),
        "messages_per_s": round(result.landed / seconds) if seconds else None,
    }


if __name__ == "__main__":
    import resource

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        print(bench_gmail(Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tmp), count))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (generation included)")
