"""`ai-me purge`: delete what the pipeline wrote that holds message data, inside the warehouse only.

What each flag removes (paths relative to the warehouse root):

--raw        raw/ and rejects/: the landed exports, as parsed (real names, full text).
--warehouse  ai_me.duckdb (+ .wal), enrich/ (language cache keyed by an unkeyed md5 of each text,
             so a text can be confirmed by hashing a guess), dbt/ (compiled SQL, run results and
             logs; a failed test or cast can quote data) and the Dagster run history in .dagster/
             (its dagster.yaml is kept, so `make dev` still works), plus demo.log.
--datasets   datasets/ (train/val/test examples), memory/ (the memory index: your train-split
             replies and the messages they answered) and .cache/ (the Hugging Face datasets cache:
             Arrow copies of the same examples).
--models     models/: training runs (adapter, tokenizer, checkpoints, logs, evaluation reports with
             example replies) and the tiny base models pretrained on your text.
--all        all of the above.
--keep-adapter  with --models/--all: keep in each run what loads the adapter (adapter weights and
             config, tokenizer files, run.json) and what describes it without message text
             (config.yaml, README.md, metrics.json), and the warehouse-local base model it names;
             delete checkpoints, logs, merged models and evaluation reports. The kept weights and
             the tiny tokenizer (its vocabulary is learned from your messages) are still derived
             from your data: keep them as private as the messages.
--rotate-key replaces secrets/pseudonym.key with 32 fresh random bytes. Pseudonyms in the database
             and datasets were made with the old key, so rotating implies --warehouse --datasets;
             `ai-me transform` rebuilds both from raw/ with the new key.

Not touched: secrets/ (except by --rotate-key), .lock (the warehouse lock, empty), samples/ (fictional
demo exports), your exports,
exports_seen.json (the new_exports sensor's hashes of your exports' paths, sizes and times: with it,
the next `make dev` does not land again what was purged; only new or changed exports), anything
outside the warehouse. Symbolic links are removed as links, never followed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ingest.transform.pseudonyms import key_path, rotate_key

# Files in a run folder that loading the adapter needs (peft + transformers file names; run.json
# for `ai-me generate`/`serve`), plus its config, card and numbers: none holds message text.
ADAPTER_FILES = {
    "adapter_model.safetensors",
    "adapter_model.bin",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "run.json",
    "config.yaml",
    "README.md",
    "metrics.json",
}
_SHOW_PATHS = 6  # per category in the summary
CATEGORIES = ("raw", "warehouse", "datasets", "models")
WAREHOUSE_SIGNS = (
    "secrets/pseudonym.key",
    "ai_me.duckdb",
    "raw",
    "datasets/counts.json",
    ".dagster/dagster.yaml",
    "exports_seen.json",
)


@dataclass
class Plan:
    """What a purge deletes: top-level paths (files, links or folders) with their file counts and bytes."""

    root: Path
    targets: list[tuple[str, Path, int, int]] = field(default_factory=list)  # (category, path, files, bytes)
    files: int = 0
    bytes: int = 0
    rotate_key: bool = False

    def add(self, category: str, path: Path) -> None:
        if not os.path.lexists(path) or any(t[1] == path for t in self.targets):
            return
        files, size = _measure(path)
        self.targets.append((category, path, files, size))
        self.files += files
        self.bytes += size

    def lines(self) -> list[str]:
        out = [f"purge: {self.root}"]
        for category in CATEGORIES:
            chosen = [t for t in self.targets if t[0] == category]
            if chosen:
                files, size = sum(t[2] for t in chosen), sum(t[3] for t in chosen)
                names = ", ".join(_rel(t[1], self.root) for t in chosen[:_SHOW_PATHS])
                if len(chosen) > _SHOW_PATHS:
                    names += f", +{len(chosen) - _SHOW_PATHS} more"
                out.append(f"  {category}: {files} file(s), {human(size)} ({names})")
        if self.rotate_key:
            out.append(f"  key: replace {_rel(key_path(self.root), self.root)} with a fresh random key")
        out.append(f"  total: {self.files} file(s), {self.bytes} bytes ({human(self.bytes)})")
        return out


def human(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}"


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) + ("/" if path.is_dir() and not path.is_symlink() else "")


def _measure(path: Path) -> tuple[int, int]:
    """(files, bytes) under path without following symbolic links (a link counts as one file)."""
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        return 1, st.st_size
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(path):  # os.walk does not descend into linked folders
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            files += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return files, size


def plan(
    root: Path,
    raw: bool = False,
    warehouse: bool = False,
    datasets: bool = False,
    models: bool = False,
    keep_adapter: bool = False,
    rotate_key: bool = False,
) -> Plan:
    root = Path(root).resolve()
    p = Plan(root, rotate_key=rotate_key)
    if rotate_key:  # old pseudonyms live in the database and datasets: they go with the old key
        warehouse = datasets = True
    if raw:
        p.add("raw", root / "raw")
        p.add("raw", root / "rejects")
    if warehouse:
        for name in ("ai_me.duckdb", "ai_me.duckdb.wal", "ai_me.duckdb.tmp", "enrich", "dbt", "demo.log"):
            p.add("warehouse", root / name)
        dagster = root / ".dagster"
        if dagster.is_dir() and not dagster.is_symlink():
            for child in sorted(dagster.iterdir()):
                if child.name != "dagster.yaml":
                    p.add("warehouse", child)
        else:
            p.add("warehouse", dagster)
    if datasets:
        p.add("datasets", root / "datasets")
        p.add("datasets", root / "memory")
        p.add("datasets", root / ".cache")
    if models:
        _plan_models(p, root / "models", keep_adapter)
    return p


def _plan_models(p: Plan, models: Path, keep_adapter: bool) -> None:
    if not keep_adapter or models.is_symlink() or not models.is_dir():
        p.add("models", models)
        return
    keep_bases = set()
    runs = [d for d in sorted(models.iterdir()) if d.is_dir() and not d.is_symlink() and d.name != "base"]
    for run in runs:
        if not any((run / f).is_file() for f in ("adapter_model.safetensors", "adapter_model.bin")):
            p.add("models", run)  # no adapter to keep (an interrupted run)
            continue
        for child in sorted(run.iterdir()):
            if child.name not in ADAPTER_FILES or child.is_symlink() or not child.is_file():
                p.add("models", child)
        keep_bases |= _local_base(run, models)
    for child in sorted(models.iterdir()):
        if child.is_symlink() or not child.is_dir():
            p.add("models", child)
        elif child.name == "base":
            for base in sorted(child.iterdir()):
                if base.resolve() not in keep_bases or base.is_symlink():
                    p.add("models", base)


def _local_base(run: Path, models: Path) -> set[Path]:
    """The warehouse-local base model (tiny, or converted from GGUF) an adapter names: without it the
    adapter is useless. Training records it relative to the warehouse (older runs: absolute)."""
    try:
        base = json.loads((run / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        return set()
    if not base:
        return set()
    path = Path(base)
    path = (models.parent / path) if not path.is_absolute() else path
    try:
        resolved = path.resolve()
    except OSError:
        return set()
    return {resolved} if resolved.is_relative_to((models / "base").resolve()) else set()


def is_warehouse(root: Path) -> bool:
    """Whether `root` is empty or holds something only ai-me writes: purge refuses any other folder."""
    return (
        not any(root.iterdir())
        or any((root / sign).exists() for sign in WAREHOUSE_SIGNS)
        or any(root.glob("models/*/run.json"))
    )


def execute(p: Plan) -> None:
    """Delete the plan's paths; links are unlinked, never followed. Then rotate the key if asked."""
    for _, path, _, _ in p.targets:
        if not path.is_relative_to(p.root):  # plan() only builds paths under the root; keep it so
            raise ValueError(f"{path} is outside the warehouse {p.root}")
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path)  # rmtree removes links inside as links (it refuses a linked top folder)
    if p.rotate_key:
        rotate_key(p.root)
