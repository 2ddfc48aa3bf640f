"""One lock per warehouse: ingests share it, `ai-me purge` deletes only while holding it alone."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_FILE = ".lock"


class WarehouseBusy(Exception):
    pass


@contextlib.contextmanager
def warehouse_lock(root: Path, exclusive: bool = False):
    """Shared: waits for a purge to finish. Exclusive: refuses at once while anything holds it."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            raise WarehouseBusy(f"{root} is in use by an ingest; try again when it has finished") from None
        yield
    finally:
        os.close(fd)
