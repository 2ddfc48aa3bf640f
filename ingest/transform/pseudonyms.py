"""Stable pseudonyms for other people: a keyed hash with a per-warehouse secret.

The secret (32 random bytes) lives in warehouse/secrets/pseudonym.key, owner-only, created on
first use and never printed. dbt reaches it through the dbt-duckdb plugin in dbt_plugin.py, which
registers `ai_me_keyed_hash(text)` (HMAC-SHA256, hex) on dbt's DuckDB connection: the key is read
from the file inside the dbt process, so it never appears in SQL, vars, the environment or any log.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32
SQL_FUNCTION = "ai_me_keyed_hash"


def key_path(warehouse: Path) -> Path:
    return Path(warehouse) / "secrets" / "pseudonym.key"


def load_or_create_key(warehouse: Path) -> bytes:
    """The warehouse's secret; written (0600, in a 0700 folder) the first time it is asked for."""
    path = key_path(warehouse)
    if not path.exists():
        tmp = _fresh_key_file(path)
        try:
            os.link(tmp, path)  # never replaces a key another process just created
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if os.stat(path).st_mode & 0o077:  # a key copied in with loose permissions: make it owner-only
        os.chmod(path, 0o600)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: expected a {KEY_BYTES}-byte key, found {len(key)} bytes")
    return key


def rotate_key(warehouse: Path) -> None:
    """Atomically replace the warehouse's secret with a fresh one (`ai-me purge --rotate-key`)."""
    path = key_path(warehouse)
    os.replace(_fresh_key_file(path), path)


def _fresh_key_file(path: Path) -> Path:
    """A temp file beside `path` holding KEY_BYTES from the OS CSPRNG, owner-only and synced."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(KEY_BYTES))
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def keyed_hash(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
