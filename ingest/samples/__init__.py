"""Deterministic sample exports for a fictional user, Robin Vale (see persona.py).

generate() writes WhatsApp, Instagram, Messenger and Gmail exports in their real layouts plus an
ai_me.toml pointing at them. Same (messages, seed, platforms) -> byte-identical files: all
randomness comes from random.Random seeded per platform/conversation with strings, times start
at a fixed date, and everything is streamed to disk so memory stays flat for a million messages.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from ingest.core.platforms import PLATFORMS
from ingest.samples import gmail, meta, whatsapp
from ingest.samples.meta import zip_export
from ingest.samples.persona import ME_EMAILS, ME_NAMES, ME_PHONE, split

__all__ = ["PLATFORMS", "SampleSummary", "generate", "zip_export"]

SHARES = {"whatsapp": 45, "instagram": 15, "messenger": 15, "gmail": 25}
COST = {"whatsapp": 1.0, "instagram": 1.3, "messenger": 1.2, "gmail": 6.5}  # CPU per message, relative
assert list(SHARES) == list(COST) == list(PLATFORMS), "every platform of the table has a sample export"
CONFIG_NAME = "ai_me.toml"
PARALLEL_FROM = 50_000  # below this a process pool costs more than it saves


@dataclass
class SampleSummary:
    counts: dict[str, int]  # records written per platform (system lines included)
    files: list[Path] = field(default_factory=list)
    config_path: Path | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def export_path(out_dir: Path, platform: str) -> Path:
    """What the config lists for a platform: the export folder, or the mbox file for Gmail."""
    if platform == "gmail":
        return out_dir / "gmail" / gmail.MBOX_NAME
    return out_dir / platform


def _plan(platform: str, root: Path, n: int, seed: int):
    if platform == "whatsapp":
        return whatsapp.plan(root, n, seed)
    if platform == "gmail":
        return gmail.plan(root, n, seed)
    return meta.plan(platform, root, n, seed)


def generate(
    out_dir: Path,
    messages: int = 5000,
    seed: int = 7,
    platforms: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    workers: int | None = None,
    preset: str | None = None,
) -> SampleSummary:
    """Write `messages` records in total, split whatsapp 45 / instagram 15 / messenger 15 / gmail 25
    (renormalised over `platforms`). `progress(k)` receives increments that sum to `messages`.
    `preset` goes into the config's [training] section (none: the default preset).

    The work is a list of jobs (a chat, a Meta thread, a block of the mbox), each seeded on its
    own, so the bytes never depend on `workers` (default: the CPU count for large samples).
    """
    chosen = [p for p in PLATFORMS if platforms is None or p in platforms]
    unknown = set(platforms or ()) - set(PLATFORMS)
    if unknown or not chosen:
        raise ValueError(f"platforms must be a non-empty subset of {PLATFORMS}, got {platforms!r}")
    if messages < 0:
        raise ValueError("messages must be >= 0")
    out_dir = Path(out_dir).expanduser().resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    tick = progress or (lambda k: None)
    counts, jobs, plans = {}, [], []
    for platform, n in zip(chosen, split(messages, [SHARES[p] for p in chosen])):
        counts[platform] = n
        platform_jobs, finish = _plan(platform, out_dir / platform, n, seed)
        plans.append((range(len(jobs), len(jobs) + len(platform_jobs)), finish))
        jobs += [(count * COST[platform], count, fn, args) for count, fn, args in platform_jobs]
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if messages >= PARALLEL_FROM else 1
    results = _run(jobs, tick, workers)
    files: list[Path] = []
    for span, finish in plans:  # each platform's finishing step gets its jobs' files
        written = [p for i in span for p in results[i]]
        files += finish(written) if finish else written
    return SampleSummary(counts=counts, files=files, config_path=write_config(out_dir, chosen, preset))


def _run(jobs: list[tuple], tick: Callable[[int], None], workers: int) -> list[list[Path]]:
    """Run jobs (cost, count, fn, args) -> fn(*args, progress); return the results in job order.

    In parallel, workers are forked (no re-import of the caller's __main__, which spawn would
    need guarded) and progress arrives per finished job. Where fork is unsafe or unavailable
    (macOS, Windows) or a pool breaks, the jobs run here, in order; as every job rewrites its
    own files, re-running after a failed pool gives the same bytes.
    """
    reported = 0
    if workers > 1 and len(jobs) > 1 and sys.platform.startswith("linux"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads alive
                ctx = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
                    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0])  # costliest first
                    futures = {pool.submit(jobs[i][2], *jobs[i][3], None): i for i in order}
                    results: list = [None] * len(jobs)
                    for fut in as_completed(futures):
                        i = futures[fut]
                        results[i] = fut.result()
                        tick(jobs[i][1])
                        reported += jobs[i][1]
                    return results
        except (OSError, AssertionError, BrokenProcessPool):  # e.g. inside a daemonic process
            pass

    def resumed(k: int) -> None:  # after a broken pool, skip what was already reported
        nonlocal reported
        skip = min(k, reported)
        reported -= skip
        if k > skip:
            tick(k - skip)

    return [fn(*args, resumed) for _, _, fn, args in jobs]


def _toml_str(s: str) -> str:
    # JSON string syntax is TOML basic-string syntax once astral characters stay literal
    # (ensure_ascii=False) and DEL, which TOML forbids raw, is escaped.
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007F")


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_str(x) for x in items) + "]"


def write_config(out_dir: Path, platforms: Sequence[str], preset: str | None = None) -> Path:
    lines = [
        "# Written by `ai-me sample-data` for the fictional user Robin Vale.",
        "",
        "[me]",
        f"names = {_toml_list(ME_NAMES)}",
        f"emails = {_toml_list(ME_EMAILS)}",
        f"phones = {_toml_list([ME_PHONE])}",
        "",
        "[exports]",
    ]
    lines += [f"{p} = {_toml_list([export_path(out_dir, p).as_posix()])}" for p in platforms]
    lines += ["", "[ingest]", 'timezone = "Europe/London"', ""]
    if preset:
        lines += ["[training]", f"preset = {_toml_str(preset)}", ""]
    path = out_dir / CONFIG_NAME
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
