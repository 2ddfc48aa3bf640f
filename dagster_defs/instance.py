"""The Dagster instance class that dagster_home/dagster.yaml names: run history stays owner-only.

Dagster's run history (event logs, compute logs, the sensor's cursor) names export files, and export
file names carry contacts' names. `make dev` creates DAGSTER_HOME owner-only under umask 077, but
any Dagster process that loads this dagster.yaml (`dagster dev`, `dagster-webserver`, `dagster-daemon`,
`dagster asset materialize`, run workers) reaches here before it creates a database: importing
this module sets the umask (ingest/__init__.py), and loading the instance config makes DAGSTER_HOME
owner-only (0700), so what is already there is unreadable to others too.
"""

import os
import stat
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

import ingest  # noqa: F401  (umask 077, before Dagster creates its databases)


def owner_only_home(path: str | os.PathLike) -> Path:
    """Create `path` owner-only, or take group and world access away from it if it is ours."""
    home = Path(path)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = home.stat()
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        home.chmod(stat.S_IMODE(st.st_mode) & 0o700)
    return home


class OwnerOnlyInstance(DagsterInstance):
    """A DagsterInstance whose home folder is made owner-only before any storage is created."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str):
        # InstanceRef.from_dir calls this right after reading dagster.yaml, before the storages
        owner_only_home(base_dir)
        return InstanceRef.config_defaults(base_dir)
