"""Worker processes for PDF rendering, off the event loop (WeasyPrint holds the GIL throughout).

One pool per process, started on first use with ``spawn`` (a fork of a process that runs an
event loop and holds database connections is not safe), shared by every app in the process.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None
_workers = 0
_lock = threading.Lock()


def _warm() -> int:
    """Import WeasyPrint and read the font coverage once, so the first real job is not slowed."""
    from registry.certificates import render

    render.missing_characters("人")
    import weasyprint  # noqa: F401

    return os.getpid()


def default_workers(workers: int | None = None) -> int:
    return max(1, workers or os.cpu_count() or 1)


def pool(workers: int | None = None) -> ProcessPoolExecutor:
    global _pool, _workers
    with _lock:
        if _pool is None:
            _workers = default_workers(workers)
            _pool = ProcessPoolExecutor(max_workers=_workers, mp_context=multiprocessing.get_context("spawn"))
        return _pool


def size() -> int:
    return _workers


async def run(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(pool(), fn, *args)


async def warm_up() -> None:
    """Start every worker (each imports WeasyPrint once, about a second)."""
    executor = pool()
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(executor, _warm) for _ in range(size())))


@atexit.register
def shutdown() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None
