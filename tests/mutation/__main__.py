"""`make mutation`: the mutation score of the core logic, per module.

Python modules: mutmut (configured in pyproject.toml [tool.mutmut]), each module against the tests
that cover it. dbt SQL: tests/mutation/sql_mutants.py. Prints one row per module, writes every
mutant's outcome to mutants/report.json, and lists the survivors that docs/testing.md does not
explain (by name). Exit 1 when a module scores under the goal or a survivor is unexplained.

    python -m tests.mutation [--only TEXT] [--workers N] [--skip-python | --skip-sql]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

from tests.mutation import sql_mutants
from tests.support.paths import REPO

GOAL = 0.85
MUTANTS = REPO / "mutants"
EXPLAINED = REPO / "docs" / "testing.md"
# mutmut's exit codes per mutant (mutmut/stats.py): 1 and 3 a failing test, 36 and the signal
# codes a timeout (an endless loop caught), 37 a type check; 0 survived, 33 and 5 no test ran.
_KILLED = {1, 3, 24, -24, 36, 37, 152, 255}


def python_scores(workers: int) -> dict[str, tuple[list[str], list[str]]]:
    """Per mutated module: (killed, surviving) mutant names."""
    shutil.rmtree(MUTANTS / ".hypothesis", ignore_errors=True)
    env = {**os.environ, "HYPOTHESIS_PROFILE": "mutation"}  # tests/conftest.py
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)]
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    scores = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        module = str(meta.relative_to(MUTANTS)).removesuffix(".meta")
        killed = [name for name, code in codes.items() if code in _KILLED]
        scores[module] = (killed, [name for name, code in codes.items() if code not in _KILLED])
    return scores


def sql_scores(workers: int, only: str | None) -> dict[str, tuple[list[str], list[str]]]:
    outcomes = sql_mutants.run(workers, only)
    sql_mutants.write_report(outcomes, MUTANTS / "sql-report.json")
    scores: dict[str, tuple[list[str], list[str]]] = {}
    for o in outcomes:
        killed, survived = scores.setdefault(o.mutant.path, ([], []))
        (killed if o.killed else survived).append(o.mutant.name)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", help="SQL targets whose path holds this text")
    parser.add_argument("--skip-python", action="store_true")
    parser.add_argument("--skip-sql", action="store_true")
    args = parser.parse_args(argv)
    scores = {}
    if not args.skip_python:
        scores |= python_scores(args.workers)
    if not args.skip_sql:
        scores |= sql_scores(args.workers, args.only)
    explained = EXPLAINED.read_text(encoding="utf-8") if EXPLAINED.exists() else ""
    failed = False
    print(f"\n{'module':56} {'killed':>7} {'total':>6} {'score':>7}")
    for module, (killed, survived) in scores.items():
        total = len(killed) + len(survived)
        score = len(killed) / total if total else 1.0
        failed |= score < GOAL
        print(f"{module:56} {len(killed):7} {total:6} {score:7.1%}{'' if score >= GOAL else '  < goal'}")
    unexplained = [n for _, survived in scores.values() for n in survived if f"`{n}`" not in explained]
    MUTANTS.mkdir(exist_ok=True)
    (MUTANTS / "report.json").write_text(
        json.dumps({m: {"killed": k, "survived": s} for m, (k, s) in scores.items()}, indent=1), encoding="utf-8"
    )
    if unexplained:
        print(f"\n{len(unexplained)} surviving mutants not explained in {EXPLAINED.relative_to(REPO)}:")
        print("\n".join(f"  {n}" for n in unexplained))
    return 1 if failed or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
