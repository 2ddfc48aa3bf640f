"""Run the dbt project (dbt_project/, models in models_sql/) on a warehouse.

dbt runs in a subprocess with the interpreter's own dbt, so a crash or a leaked connection cannot
take the caller down. Its console output can quote data (a failed cast names the value), so it is
kept in the warehouse's dbt log and the caller gets one line built from run_results.json: counts,
statuses and the names of what failed, never message text.

The user's config reaches the models as dbt vars (`dbt_vars`, shared with Dagster), except the
user's names: they travel in the environment (`dbt_env`, read by dbt_project/macros/me.sql), which
only the user can read, never on the command line, which `ps` shows to everyone. dbt renders every
string var as Jinja, so a var holding template syntax is refused (`dbt_vars`). The steps around a
build (the language step before, the datasets after) are ingest/transform/build.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ingest.core.config import Config, ConfigError
from ingest.core.files import private_dir
from ingest.core.identity import norm_name
from ingest.core.platforms import PLATFORMS, TABLE
from ingest.core.warehouse import Warehouse

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
MODELS_DIR = DBT_PROJECT_DIR.parent / "models_sql"
_GENERATED = {"target", "logs", "dbt_packages"}  # dbt's own output inside the project folder

_PASSED = {"success", "pass"}
_FAILED = {"error", "fail", "runtime error"}
_SHOW_FAILED = 5
_VAR_VERBS = {"build", "run", "test", "compile", "show"}
DATASET_NODE = "model.ai_me.training_examples"  # the mart warehouse/datasets/ is exported from
MEMORY_NODE = "model.ai_me.memory_exchanges"  # the mart the memory index is built from


ME_ENV = "AI_ME_DBT_ME"  # my names, as JSON, for dbt_project/macros/me.sql
_JINJA = re.compile(r"\{[{%#]")  # what opens template syntax for dbt's Jinja
_CONFIG_KEYS = {
    "languages": "filters.languages",
    "system_prompt": "dataset.system_prompt",
    "split_strategy": "split.strategy",
    "timezone": "ingest.timezone",
}


def me_vars(cfg: Config) -> dict:
    """Who I am, as dbt_project/macros/me.sql reads it from $AI_ME_DBT_ME."""
    names = cfg.me.names
    return {
        "me_name": names[0] if names else "me",
        "me_names": sorted({norm_name(n) for n in names if norm_name(n)} | {n.strip().lower() for n in names}),
    }


def dbt_vars(cfg: Config) -> dict:
    """The config as the dbt vars the models read (dbt_project.yml lists them with defaults).

    dbt renders a string var as Jinja when a model reads it, so one holding `{{`, `{%` or `{#`
    is a ConfigError rather than code that dbt would run.
    """
    found = {
        "languages": list(cfg.filters.languages),
        "min_chars": cfg.filters.min_chars,
        "dedup_tolerance_seconds": cfg.filters.dedup_tolerance_seconds,
        "session_gap_hours": cfg.dataset.session_gap_hours,
        "turn_gap_minutes": cfg.dataset.turn_gap_minutes,
        "context_turns": cfg.dataset.context_turns,
        "token_budget": cfg.dataset.token_budget,
        "system_prompt": cfg.dataset.system_prompt,
        "min_train_examples": cfg.dataset.min_train_examples,
        "split_strategy": cfg.split.strategy,
        "val_fraction": cfg.split.val_fraction,
        "test_fraction": cfg.split.test_fraction,
        "timezone": duckdb_timezone(cfg.ingest.timezone),
        # the platform table (ingest/core/platforms.py): no model outside staging names a platform
        "platforms": list(PLATFORMS),
        "media": {p.name: p.medium for p in TABLE},
        "chat_nouns": {p.name: p.chat_noun for p in TABLE},
    }
    for key, value in found.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and _JINJA.search(text):
                raise ConfigError(f"{_CONFIG_KEYS.get(key, key)}: " + "template syntax ({{, {% or {#) is not allowed")
    return found


def dbt_args(args: list[str], cfg: Config) -> list[str]:
    """`args` plus the config's vars, for the dbt verbs that compile models."""
    if args and args[0] in _VAR_VERBS:
        return [*args, "--vars", json.dumps(dbt_vars(cfg), ensure_ascii=False)]
    return list(args)


def duckdb_timezone(zone: str) -> str:
    """A zone DuckDB knows: IANA names as they are, whole-hour offsets as Etc/GMT-N (POSIX sign),
    UTC for anything else (DuckDB has no fixed-offset zones)."""
    match = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?", zone)
    if not match:
        return zone
    sign, hours, minutes = match.groups()
    if int(minutes or 0) or not int(hours):
        return "UTC"
    return f"Etc/GMT{'-' if sign == '+' else '+'}{int(hours)}"


def dbt_env(warehouse: Path, cfg: Config | None = None) -> dict[str, str]:
    """What every dbt run adds to the environment: the warehouse the profile points at, no usage
    stats and, given the config, my names (never on the command line)."""
    env = {"AI_ME_WAREHOUSE": str(Path(warehouse).resolve()), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if cfg is not None:
        env[ME_ENV] = json.dumps(me_vars(cfg), ensure_ascii=False)
    return env


def dbt_command(args: list[str], target_path: Path, log_path: Path) -> list[str]:
    """dbt as run by this interpreter, whether or not its bin folder is on PATH."""
    return [
        sys.executable,
        "-c",
        "from dbt.cli.main import cli; cli()",
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--log-format",
        "json",
        "--log-format-file",
        "debug",
    ]


@dataclass
class DbtRun:
    ok: bool
    line: str  # one line: counts, outcomes, failed node names; never data
    seconds: float
    results: dict | None  # run_results.json, when dbt got as far as writing it

    def built(self, unique_id: str) -> bool:
        return any(
            r["unique_id"] == unique_id and r["status"] == "success" for r in (self.results or {}).get("results", [])
        )

    @classmethod
    def of(cls, args: list[str], ok: bool, results: dict | None, seconds: float, why: str, log: Path) -> DbtRun:
        """The run as one line, from run_results.json when dbt wrote it, else from `why` it stopped."""
        line = (
            _summarise(results, seconds)
            if results is not None
            else f"{'done' if ok else 'failed: ' + why} in {seconds:.1f}s"
        )
        if not ok:
            line += f" (log: {log})"
        return cls(ok, f"dbt {args[0]}: {line}" if args else f"dbt: {line}", seconds, results)


def invoke_dbt(args: list[str], cfg: Config, warehouse: Path) -> DbtRun:
    """dbt alone, in a subprocess, with the config's vars; its output stays in the warehouse."""
    warehouse = private_dir(Path(warehouse).resolve())
    artifacts = private_dir(Warehouse(warehouse).dbt)
    results_file = artifacts / "target" / "run_results.json"
    results_file.unlink(missing_ok=True)  # a stale one would describe an earlier run
    start = time.perf_counter()
    proc = subprocess.run(
        dbt_command(dbt_args(args, cfg), artifacts / "target", artifacts / "logs"),
        env={**os.environ, **dbt_env(warehouse, cfg)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists() else None
    return DbtRun.of(
        args,
        proc.returncode == 0,
        results,
        time.perf_counter() - start,
        _first_error(proc.stdout, proc.stderr),
        artifacts / "logs" / "dbt.log",
    )


def ensure_manifest(manifest_path: Path) -> None:
    """Parse the project when its manifest is missing (a fresh clone) or older than a source file."""
    if not manifest_path.exists() or manifest_path.stat().st_mtime < _newest_source_mtime():
        write_manifest(manifest_path)


def _newest_source_mtime() -> float:
    sources = [
        f
        for f in DBT_PROJECT_DIR.rglob("*")
        if f.is_file() and not _GENERATED & set(f.relative_to(DBT_PROJECT_DIR).parts[:1])
    ]
    sources += [f for f in MODELS_DIR.rglob("*") if f.is_file()]
    return max(f.stat().st_mtime for f in sources)


def write_manifest(manifest_path: Path) -> None:
    """`dbt parse` the project and atomically put its manifest.json at manifest_path (for Dagster).

    It parses into a private folder first, so processes that load the project at the same time
    (`dagster dev` starts several) never read a half-written manifest.
    """
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=private_dir(manifest_path.parent)) as tmp:
        proc = subprocess.run(
            dbt_command(["parse"], Path(tmp), Path(tmp)),
            env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"dbt parse of {DBT_PROJECT_DIR} failed: {_first_error(proc.stdout, proc.stderr)}")
        os.replace(Path(tmp) / "manifest.json", manifest_path)


def _summarise(run_results: dict, seconds: float) -> str:
    results = run_results.get("results", [])
    kinds = Counter(r["unique_id"].split(".", 1)[0] for r in results)
    statuses = Counter(_outcome(r["status"]) for r in results)
    if not results:
        return f"nothing selected in {seconds:.1f}s"
    what = ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in sorted(kinds.items()))
    outcome = f"{statuses['pass']} pass, {statuses['fail']} fail"
    for extra in ("warn", "skip"):
        if statuses[extra]:
            outcome += f", {statuses[extra]} {extra}"
    line = f"{what}: {outcome} in {seconds:.1f}s"
    failed = [r["unique_id"].split(".")[2] for r in results if _outcome(r["status"]) == "fail"]
    if failed:
        more = f" (+{len(failed) - _SHOW_FAILED} more)" if len(failed) > _SHOW_FAILED else ""
        line += f"; failed: {', '.join(failed[:_SHOW_FAILED])}{more}"
    return line


def _outcome(status: str) -> str:
    if status in _PASSED:
        return "pass"
    if status in _FAILED:
        return "fail"
    return "warn" if status == "warn" else "skip"


def _first_error(stdout: str, stderr: str) -> str:
    """What stopped dbt before any node ran: a usage, project or profile problem, never data."""
    for raw in stdout.splitlines():
        try:
            info = json.loads(raw).get("info", {})
        except (json.JSONDecodeError, AttributeError):
            continue
        if info.get("level") == "error":
            lines = [ln.strip() for ln in info.get("msg", "").splitlines() if ln.strip()]
            lines = [ln for ln in lines if ln != "Encountered an error:"]
            return ": ".join(lines[:2]) or "error"
    usage = [ln for ln in stderr.splitlines() if ln.startswith("Error:")]
    return usage[-1].removeprefix("Error:").strip() if usage else "dbt exited before running anything"
