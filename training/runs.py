"""Run folders: the one guard every path to warehouse/models/<run> and every removal goes through.

A run name comes from --run, a preset's name, `--set preset=...` or Dagster run config; whatever its
source, it must be a plain folder name whose folder sits directly under warehouse/models/. A folder
is replaced only when it holds output of ours, so a mistyped name never deletes a user's files.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ingest.core.config import ConfigError

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RUN_MARKER = ".ai-me-run"  # written when training claims a folder, before any checkpoint
EXPORT_MARKER = ".ai-me-export"  # written into every export folder
# A finished run holds run.json, an interrupted one checkpoints/ (older runs have no marker).
_RUN_SIGNS = (RUN_MARKER, "run.json", "checkpoints")


def check_run_name(name: str) -> str:
    if not RUN_NAME.fullmatch(name or "") or name in (".", "..", "base"):
        raise ConfigError(
            f"run name {name!r} must be a plain folder name (letters, digits, . _ -, "
            f"not 'base'): it becomes warehouse/models/<run>"
        )
    return name


def run_folder(warehouse: Path, name: str) -> Path:
    """warehouse/models/<name>, refused unless it resolves to a folder directly under models/."""
    models = (Path(warehouse) / "models").resolve()
    folder = (models / check_run_name(name)).resolve()
    if folder.parent != models:
        raise ConfigError(f"run {name!r} resolves outside {models} (a link?); pick another --run")
    return folder


def is_run(folder: Path) -> bool:
    return any((folder / sign).exists() for sign in _RUN_SIGNS)


def replace_folder(folder: Path, ours, what: str) -> None:
    """Remove `folder` so it can be written anew: absent, empty or `ours(folder)`, else refuse."""
    if folder.is_symlink():
        raise ConfigError(f"{folder} is a link; {what} does not replace links")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder of {what}")
    if any(folder.iterdir()) and not ours(folder):
        raise ConfigError(f"{folder} holds files that are not {what}; refusing to delete them")
    shutil.rmtree(folder)


def check_export_folder(out: Path, overwrite: bool) -> None:
    """Refuse to write an export into `out` when it is a non-empty folder of someone else's files,
    unless the user passed --overwrite; a folder holding an earlier export is ours to replace."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConfigError(f"export --out {out}: not a folder")
    foreign = out.is_dir() and any(out.iterdir()) and not (out / EXPORT_MARKER).exists()
    if foreign and not overwrite:
        raise ConfigError(
            f"export --out {out} is not empty and holds no earlier export; pass --overwrite to replace what is there"
        )
