"""Which exports the warehouse already holds, by fingerprint, in <warehouse>/exports_seen.json.

A fingerprint is a hash of (path, size, mtime_ns) of every file under a platform's export paths:
cheap to take, and no message is read. Every landing records the fingerprint of what it landed
(ingest.runner), and the new_exports sensor what it asked to land; the sensor lands only exports
whose fingerprint is in neither. So `make dev` on a warehouse that `make demo` or `ai-me ingest`
just filled lands nothing again, and neither does one after a purge, which keeps this file (hashes
only: no name or text).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ingest.core.files import private_dir, write_atomic
from ingest.core.warehouse import Warehouse


def fingerprint(paths: list[Path]) -> str | None:
    """Hash of (path, size, mtime_ns) of every file under `paths`; None when none exists yet."""
    h = hashlib.blake2b(digest_size=16)
    seen = False
    for f in _files(paths):
        st = f.stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        seen = True
    return h.hexdigest() if seen else None


def _files(paths: list[Path]):
    for root in paths:
        root = Path(root).resolve()
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from sorted(p for p in root.rglob("*") if p.is_file())


def read_seen(warehouse: Path) -> dict[str, str]:
    """Platform → fingerprint; {} when there is none (a fresh warehouse) or it cannot be read."""
    try:
        seen = json.loads(Warehouse(warehouse).exports_seen.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {p: fp for p, fp in seen.items() if isinstance(fp, str)} if isinstance(seen, dict) else {}


def remember(warehouse: Path, fingerprints: dict[str, str]) -> dict[str, str]:
    """Record these platforms' fingerprints beside the others; the whole record."""
    seen = read_seen(warehouse) | fingerprints
    private_dir(Path(warehouse))
    write_atomic(Warehouse(warehouse).exports_seen, json.dumps(seen, sort_keys=True))
    return seen
