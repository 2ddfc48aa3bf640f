"""Worker processes: forked only beside the landing's hash thread, and gone when the ingest is killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ingest.sources.base import EXPORT_HASH_THREAD
from ingest.sources.workers import fork_is_safe


def test_fork_only_on_linux_beside_the_landing_hash_thread():
    assert fork_is_safe("linux", [])
    assert fork_is_safe("linux", [EXPORT_HASH_THREAD + "_0"])
    assert not fork_is_safe("linux", [EXPORT_HASH_THREAD + "_0", "tqdm_monitor"])
    assert not fork_is_safe("darwin", [])


def _alive(pid: int) -> bool:
    """Running: a zombie counts as gone (unlike landing._process_exists), as the orphaned worker
    is reparented to a pid 1 that may never reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _start_method(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return "spawn" if b"multiprocessing.spawn" in f.read() else "fork"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; fork is used on Linux only")
@pytest.mark.parametrize("foreign_thread, start_method", [(False, "fork"), (True, "spawn")])
def test_workers_end_when_the_ingest_process_is_killed(foreign_thread, start_method):
    script = textwrap.dedent(f"""
        import os, threading, time
        from ingest.sources.base import EXPORT_HASH_THREAD
        from ingest.sources.workers import start_workers
        if __name__ == "__main__":
            threading.Thread(target=time.sleep, args=(600,), daemon=True,
                             name="someone-else" if {foreign_thread} else EXPORT_HASH_THREAD + "_0").start()
            pool = start_workers(2)
            pids = {{pool.submit(os.getpid).result() for _ in range(20)}}
            print(*pids, flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in proc.stdout.readline().split()]
        assert workers and all(_alive(pid) for pid in workers)
        assert {_start_method(pid) for pid in workers} == {start_method}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
