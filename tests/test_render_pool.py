"""The certificate renderers' worker processes (registry/certificates/pool.py) end with the
server: uvicorn ends a signalled process with the same signal after its shutdown, which skips
``atexit``, so the app's shutdown stops them itself."""

from __future__ import annotations

import asyncio
import os

from litestar import Litestar

from registry.app import stop_render_pool
from registry.certificates import pool


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that has exited but not yet been reaped still answers; its state says so.
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


async def test_the_app_shutdown_ends_the_renderer_processes(routes: Litestar) -> None:
    assert stop_render_pool in routes.on_shutdown
    pids = set(await asyncio.gather(*(pool.run(pool._warm) for _ in range(pool.default_workers()))))
    assert pids and all(_alive(pid) for pid in pids)
    await stop_render_pool()
    for _ in range(50):
        if not any(_alive(pid) for pid in pids):
            break
        await asyncio.sleep(0.1)
    assert not any(_alive(pid) for pid in pids), pids
    # The next certificate starts a new pool.
    assert await pool.run(pool._warm) not in pids
