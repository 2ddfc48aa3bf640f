"""Worker processes for parsers that split a large file into byte ranges.

Workers are forked where that is safe, so they start at once with everything this process has
imported; a fork server or a spawned interpreter would first import pyarrow, numpy and the parser
again (about 0.9 s of CPU on this project's reference machine, a tenth of a 50,000-mail ingest).
A fork copies only the forking thread: a lock held by another thread at that moment stays held in
the child for ever. So fork is used only on Linux and only when the other threads are the
landing's export hash (hashlib and a file read: no lock the child ever takes); anything else, a
Dagster thread say, gets spawned workers instead.

Each worker ends itself when the ingest process dies: killed with SIGKILL, the ingest could not
tell its workers, and they would wait for work for ever.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

from ingest.sources.base import EXPORT_HASH_THREAD

PARENT_POLL_SECONDS = 0.5


def start_workers(count: int) -> ProcessPoolExecutor:
    """A pool of `count` worker processes, started now (before the landing starts other threads)."""
    pool = ProcessPoolExecutor(
        count, mp_context=worker_context(), initializer=_exit_with_parent, initargs=(os.getpid(),)
    )
    with warnings.catch_warnings():
        # Python 3.12+ warns of any fork in a process with threads; worker_context checked these.
        warnings.filterwarnings("ignore", r".*multi-threaded.*fork\(\)", DeprecationWarning)
        pool.submit(int)  # a fork pool starts its processes with its first task
    return pool


def worker_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (see above), else spawn."""
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    return multiprocessing.get_context("fork" if fork_is_safe(sys.platform, others) else "spawn")


def fork_is_safe(platform: str, other_threads: list[str]) -> bool:
    return platform == "linux" and all(name.startswith(EXPORT_HASH_THREAD) for name in other_threads)


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
