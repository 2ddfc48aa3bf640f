"""Files the pipeline writes: owner-only folders, and the temp-name-then-rename that makes a
write atomic, so a reader (or a crash) never meets half a file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def temp_name(final: Path) -> Path:
    """A hidden sibling of `final`, unique to this process: no *.parquet glob or reader matches it."""
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yields a temp path to write (a file or a folder); on success it replaces `final` in one
    rename (a folder `final` is removed just before), owner-only. On an error it is removed and
    `final` stays as it was."""
    tmp = temp_name(final)
    try:
        yield tmp
        if tmp.is_file():
            tmp.chmod(0o600)
        elif final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_atomic(final: Path, data: str | bytes) -> Path:
    """`final` holds exactly `data` (text as UTF-8), owner-only, or is unchanged."""
    with atomic_path(final) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return final
