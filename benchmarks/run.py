"""`make bench`: time each pipeline stage on generated sample data; report messages/s and peak RSS.

Each stage runs in its own process so its peak RSS is its own. Results go to
benchmarks/results/latest.json (and a dated copy). Stages are `bench_<name>(workdir, n) -> dict`
functions in benchmarks/bench_<module>.py returning at least {"messages", "seconds"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# name → (module:function, default number of messages)
STAGES = {
    "sample_data": ("bench_samples:bench_samples", 200_000),
    "ingest_whatsapp": ("bench_whatsapp:bench_whatsapp", 200_000),
    "ingest_meta": ("bench_meta:bench_meta", 200_000),
    "ingest_gmail": ("bench_gmail:bench_gmail", 50_000),
    "dbt_build": ("bench_dbt:bench_dbt", 100_000),
    "memory": ("bench_memory:bench_memory", 100_000),  # exchanges; retrieval per reply
    "train_tiny": ("bench_train:bench_train", 2_000),
    "train_smollm2": ("bench_lora:bench_lora", 30),  # optimizer steps of 8 x 256 tokens
}


def run_stage(name: str, n: int, workdir: Path) -> dict:
    """Child side: run one stage and add its own peak RSS (children included, e.g. dbt)."""
    sys.path.insert(0, str(HERE))
    module, func = STAGES[name][0].split(":")
    result = getattr(importlib.import_module(module), func)(workdir, n)
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result.setdefault("stage", name)
    result["peak_rss_mb"] = round(max(me.ru_maxrss, children.ru_maxrss) / 1024, 1)
    # CPU seconds of the whole process tree: a fairer figure than wall time on a shared machine.
    result["process_cpu_s"] = round(sum(u.ru_utime + u.ru_stime for u in (me, children)), 2)
    if result.get("seconds") and result.get("messages"):
        result["messages_per_s"] = round(result["messages"] / result["seconds"])
    return result


def _run_child(name: str, n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"aime-bench-{name}-") as tmp:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name, "--messages", str(n), "--workdir", tmp],
            capture_output=True,
            text=True,
        )
    if proc.returncode:
        print(f"{name}: FAILED\n{proc.stderr[-2000:]}", file=sys.stderr)
        return {"stage": name, "messages": n, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, help="messages per stage (default: each stage's own)")
    ap.add_argument("--stage", action="append", choices=list(STAGES), help="only these stages")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each stage, each in a fresh process; the run of median time is reported",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_stage(args.child, args.messages, args.workdir)))
        return 0

    results = []
    for name in args.stage or list(STAGES):
        n = args.messages or STAGES[name][1]
        runs = [_run_child(name, n) for _ in range(max(1, args.repeat))]
        failed = [r for r in runs if "error" in r]
        if failed:
            results.append(failed[0])
            continue
        runs.sort(key=lambda r: r.get("seconds", 0))
        result = runs[len(runs) // 2]
        if len(runs) > 1:  # a shared machine's speed drifts: the spread says how much
            result["seconds_all_runs"] = [r.get("seconds") for r in runs]
            result["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
        results.append(result)
        spread = f"  (runs {runs[0].get('seconds', 0):.2f}-{runs[-1].get('seconds', 0):.2f} s)" if len(runs) > 1 else ""
        print(
            f"{name:>16}: {result.get('messages', 0):>9,} msgs  {result.get('seconds', 0):7.2f} s  "
            f"{result.get('messages_per_s', 0):>10,} msg/s  peak RSS {result['peak_rss_mb']:7.1f} MB{spread}"
        )

    out = HERE / "results"
    out.mkdir(exist_ok=True)
    doc = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "results": results,
    }
    text = json.dumps(doc, indent=2)
    (out / "latest.json").write_text(text)
    (out / f"{doc['when'][:19].replace(':', '')}.json").write_text(text)
    print(f"results -> {out / 'latest.json'}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
