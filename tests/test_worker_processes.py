"""Worker processes: forked only when no foreign thread runs, and gone when the ingest is killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ingest.base import EXPORT_HASH_THREAD
from ingest.worker_processes import worker_context


def _with_thread(name: str):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name=name)
    thread.start()
    return stop, thread


@pytest.mark.skipif(sys.platform != "linux", reason="fork is used on Linux only")
def test_fork_with_only_the_landing_hash_thread_else_spawn():
    assert worker_context().get_start_method() == "fork"
    stop, thread = _with_thread(EXPORT_HASH_THREAD + "_0")
    try:
        assert worker_context().get_start_method() == "fork"
    finally:
        stop.set()
        thread.join()
    stop, thread = _with_thread("someone-elses-thread")
    try:
        assert worker_context().get_start_method() == "spawn"
    finally:
        stop.set()
        thread.join()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.parametrize("foreign_thread", [False, True], ids=["forked", "spawned"])
def test_workers_end_when_the_ingest_process_is_killed(foreign_thread):
    script = textwrap.dedent(f"""
        import os, threading, time
        from ingest.worker_processes import start_workers
        if __name__ == "__main__":
            if {foreign_thread}:
                threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
            pool = start_workers(2)
            pids = {{pool.submit(os.getpid).result() for _ in range(20)}}
            print(" ".join(map(str, pids)), flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in proc.stdout.readline().split()]
        assert workers and all(_alive(pid) for pid in workers)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
