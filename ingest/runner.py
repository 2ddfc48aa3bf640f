"""Ingest a platform's exports into the warehouse: the one entry point the CLI and Dagster share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ingest.core.config import Config
from ingest.core.lock import warehouse_lock
from ingest.core.platforms import get_ingester
from ingest.core.seen_exports import fingerprint, remember
from ingest.landing import LandingResult, land
from ingest.sources.base import ExportError, ParseContext


@dataclass
class IngestReport:
    platform: str
    results: list[LandingResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per export that could not be read
    seconds: float = 0.0

    @property
    def landed(self) -> int:
        return sum(r.landed for r in self.results)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.results)

    @property
    def records_in(self) -> int:
        return sum(r.records_in for r in self.results)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        line = (
            f"{self.platform}: {len(self.results)} export(s), {self.landed} landed, "
            f"{self.rejected} rejected in {self.seconds:.1f}s"
        )
        return line + (f", {len(self.errors)} failed" if self.errors else "")


def ingest_platform(
    platform: str,
    paths: list[Path],
    cfg: Config,
    *,
    me_names: tuple[str, ...] = (),
    timezone: str | None = None,
    date_order: str | None = None,
    warehouse: Path | None = None,
    progress: bool = False,
) -> IngestReport:
    """Land every export found in `paths`; a broken export is reported and the others still land."""
    start = time.perf_counter()
    ingester = get_ingester(platform)
    warehouse = warehouse or cfg.warehouse_root
    report = IngestReport(platform)
    try:
        exports = ingester.discover([Path(p) for p in paths])
    except ExportError as e:
        report.errors.append(str(e))
        exports = []
    except OSError as e:
        report.errors.append(_unreadable(e, paths[0] if paths else "."))
        exports = []
    order = date_order or cfg.ingest.date_order
    landing = fingerprint([Path(p) for p in paths])  # before reading: a file that changes meanwhile lands again
    with (
        warehouse_lock(warehouse),
        _Progress(
            total=sum(f.stat().st_size for e in exports for f in e.files if f.exists()),
            unit="B",
            unit_scale=True,
            desc=f"ingest {platform}",
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        for export in exports:
            ctx = ParseContext(
                platform=platform,
                me=cfg.identity(me_names),
                timezone=timezone or cfg.ingest.timezone,
                date_order=None if order == "auto" else order,
                advance=bar.update,
            )
            try:
                report.results.append(land(ingester, export, warehouse, ctx))
            except ExportError as e:
                report.errors.append(str(e))
            except OSError as e:  # a file that cannot be read or written (permissions, I/O error, disk full)
                report.errors.append(_unreadable(e, export.root))
    if landing and report.results and not report.errors:
        remember(warehouse, {platform: landing})
    report.seconds = time.perf_counter() - start
    return report


class _Progress(tqdm):
    monitor_interval = 0  # no monitor thread: a Gmail ingest forks workers only while no foreign thread runs


def _unreadable(error: OSError, fallback) -> str:
    """The one-line error for an OSError: the file it names and why (never file content)."""
    return str(ExportError(error.filename or fallback, None, f"I/O error: {error.strerror or type(error).__name__}"))
