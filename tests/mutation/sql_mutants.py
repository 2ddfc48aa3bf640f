"""Mutation testing of the dbt SQL, which mutmut cannot reach: textual mutants of the split, quality
and redaction models, each killed when `ai-me transform` (dbt build with its unit and data tests)
or the Python tests of that file fail with it.

Every mutant runs in a worker's copy of the repository (the tracked files), on a copy of one
warehouse built once from `ai-me sample-data`, with only the mutated model and what is downstream
of it selected. Comments are never mutated, nor `=` in a Jinja tag (an assignment, not SQL).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.core.platforms import PLATFORMS
from tests.support.paths import REPO


@dataclass(frozen=True)
class Target:
    path: str  # relative to the repository
    select: str  # the dbt selection that builds and tests what the file feeds
    pytest: tuple[str, ...] = ()  # Python tests that read the file, run after a passing dbt build


TARGETS = (
    Target("models_sql/intermediate/int_training_examples__split.sql", "int_training_examples__split+"),
    Target("models_sql/intermediate/int_messages__quality.sql", "int_messages__quality+"),
    Target(
        "dbt_project/macros/redact.sql",
        "int_messages__redacted+",
        ("tests/transform/test_transforms.py", "-k", "redaction"),
    ),
)

# (name, pattern, replacement): each match of each pattern is one mutant.
OPERATORS: tuple[tuple[str, str, str], ...] = (
    ("ge_to_gt", r">=", ">"),
    ("gt_to_ge", r"(?<![<>=-])>(?![=>])", ">="),
    ("le_to_lt", r"<=", "<"),
    ("lt_to_le", r"(?<![<])<(?![=>])", "<="),
    ("ne_to_eq", r"<>", "="),
    ("eq_to_ne", r"(?<![<>!=])=(?![=>])", "<>"),
    ("and_to_or", r"\band\b", "or"),
    ("or_to_and", r"\bor\b", "and"),
    ("min_to_max", r"\bmin\(", "max("),
    ("max_to_min", r"\bmax\(", "min("),
    ("is_null_to_is_not_null", r"\bis null\b", "is not null"),
    ("is_not_null_to_is_null", r"\bis not null\b", "is null"),
    ("drop_not", r"\bnot (?=[\w(])", ""),
    ("plus_to_minus", r" \+ ", " - "),
    ("minus_to_plus", r" - ", " + "),
    ("desc_to_asc", r"\bdesc\b", "asc"),
    ("test_to_val", r"'test'", "'val'"),
    ("val_to_train", r"'val'", "'train'"),
    ("train_to_test", r"'train'", "'test'"),
    ("drop_list_item", r"'\w+', ", ""),
    ("int_plus_one", r"(?<![\w.'])\d+(?![\w.'])", "+1"),
)
_COMMENT = re.compile(r"\{#.*?#\}|--[^\n]*", re.S)
_JINJA_TAG = re.compile(r"\{%.*?%\}", re.S)


@dataclass(frozen=True)
class Mutant:
    path: str
    line: int
    operator: str
    before: str
    after: str
    start: int
    end: int
    nth: int  # among the same operator's mutants on that line

    @property
    def name(self) -> str:
        """Stable while the line's text is: how docs/testing.md names a survivor."""
        return f"{Path(self.path).name}:{self.line}:{self.operator}" + (f":{self.nth}" if self.nth else "")


def mutants_of(target: Target, source: str) -> Iterator[Mutant]:
    comments = [m.span() for m in _COMMENT.finditer(source)]
    tags = [m.span() for m in _JINJA_TAG.finditer(source)]

    seen: dict[tuple[int, str], int] = {}

    def inside(spans, pos):
        return any(a <= pos < b for a, b in spans)

    def mutant(operator, m, after):
        line = source.count("\n", 0, m.start()) + 1
        nth = seen[line, operator] = seen.get((line, operator), -1) + 1
        return Mutant(target.path, line, operator, m.group(), after, m.start(), m.end(), nth)

    for name, pattern, replacement in OPERATORS:
        for m in re.finditer(pattern, source):
            if inside(comments, m.start()) or (name == "eq_to_ne" and inside(tags, m.start())):
                continue
            yield mutant(name, m, str(int(m.group()) + 1) if replacement == "+1" else replacement)
    for m in re.finditer(r"(?m)^[ \t]*when [^\n]*\bthen [^\n]*\n", source):  # a case branch dropped
        if not inside(comments, m.start()):
            yield mutant("drop_when", m, "")


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    by: str  # what killed it: the dbt line, or the pytest run; "" when it survived


def run(workers: int = 2, only: str | None = None) -> list[Outcome]:
    """Every mutant of every target (or of the targets whose path holds `only`)."""
    targets = [t for t in TARGETS if only is None or only in t.path]
    with tempfile.TemporaryDirectory(prefix="sql-mutants-") as tmp:
        tmp = Path(tmp)
        warehouse, config = _base_warehouse(tmp / "base")
        free: queue.SimpleQueue[Path] = queue.SimpleQueue()  # each worker's copy of the repository
        for i in range(workers):
            free.put(_repo_copy(tmp / f"worker{i}"))
        jobs = [(t, m) for t in targets for m in mutants_of(t, (REPO / t.path).read_text(encoding="utf-8"))]

        def one(job):
            copy = free.get()
            try:
                return _try(copy, warehouse, config, *job)
            finally:
                free.put(copy)

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, jobs))


def _try(copy: Path, base: Path, config: Path, target: Target, mutant: Mutant) -> Outcome:
    path = copy / target.path
    original = path.read_text(encoding="utf-8")
    path.write_text(original[: mutant.start] + mutant.after + original[mutant.end :], encoding="utf-8")
    warehouse = copy / "warehouse"
    try:
        shutil.rmtree(warehouse, ignore_errors=True)
        shutil.copytree(base, warehouse, symlinks=True)
        env = {**os.environ, "PYTHONPATH": str(copy), "AI_ME_WAREHOUSE": str(warehouse), "AI_ME_CONFIG": str(config)}
        dbt = _run([sys.executable, "-m", "ingest.cli", "transform", "--select", target.select], copy, env)
        if dbt.returncode != 0:
            return Outcome(mutant, True, _last_line(dbt.stdout + dbt.stderr))
        if target.pytest:
            tests = _run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *target.pytest], copy, env
            )
            if tests.returncode != 0:
                return Outcome(mutant, True, "pytest " + " ".join(target.pytest))
        return Outcome(mutant, False, "")
    finally:
        path.write_text(original, encoding="utf-8")


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _last_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if "dbt" in ln or "rror" in ln]
    return (lines or ["failed"])[-1][:300]


def _repo_copy(dest: Path) -> Path:
    """The tracked files, as a fresh clone has them, in `dest`."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def _base_warehouse(root: Path) -> tuple[Path, Path]:
    """Sample exports ingested and transformed once with the unmutated project."""
    warehouse, samples = root / "warehouse", root / "samples"
    env = {**os.environ, "AI_ME_WAREHOUSE": str(warehouse), "AI_ME_CONFIG": str(samples / "ai_me.toml")}
    ai_me = [sys.executable, "-m", "ingest.cli"]
    steps = [["sample-data", str(samples), "--messages", "1500", "--preset", "tiny-cpu"]]
    steps += [["ingest", p] for p in PLATFORMS] + [["transform"]]
    for step in steps:
        subprocess.run([*ai_me, *step], cwd=REPO, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return warehouse, samples / "ai_me.toml"


def write_report(outcomes: list[Outcome], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(o.mutant), "name": o.mutant.name, "killed": o.killed, "by": o.by} for o in outcomes]
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
