"""Benchmark: landing one n-message Android WhatsApp chat (the sample generator's biggest chat) as
Parquet. Generation is not timed, nor is pyarrow's one-time import of pandas on its first array."""

import time
from pathlib import Path

import pyarrow as pa

from ingest.core.identity import Me
from ingest.landing import land
from ingest.samples import generate
from ingest.samples.persona import ME_NAMES
from ingest.sources.base import ParseContext
from ingest.sources.whatsapp.ingester import INGESTER

BIG_CHAT_SHARE = 0.70  # the generator gives its Android "Sam Okafor" chat 70% of the WhatsApp messages


def bench_whatsapp(workdir: Path, n: int) -> dict:
    samples = workdir / "samples"
    generate(samples, messages=round(n / BIG_CHAT_SHARE), seed=7, platforms=["whatsapp"])
    chat = max((samples / "whatsapp").glob("*.txt"), key=lambda p: p.stat().st_size)
    pa.array([0])  # start-up cost, paid once per process
    ctx = ParseContext("whatsapp", Me(names=ME_NAMES), timezone="Europe/London")
    start, cpu = time.perf_counter(), time.process_time()
    result = land(INGESTER, INGESTER.discover([chat])[0], workdir / "warehouse", ctx)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    # CPU seconds too: on a shared machine they show the cost when wall time shows the neighbours
    return {
        "stage": "ingest_whatsapp",
        "messages": result.landed,
        "rejected": result.rejected,
        "input_mb": round(chat.stat().st_size / 1e6, 1),
        "seconds": round(seconds, 3),
        "messages_per_s": round(result.landed / seconds),
        "cpu_seconds": round(cpu, 3),
        "messages_per_cpu_s": round(result.landed / cpu),
    }
