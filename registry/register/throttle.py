"""A per-client sliding window in the server's memory: enough to stop one client from walking
the register, with no table to grow. Several server processes each keep their own window, so the
limit a client meets is at most the processes times the limit."""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class SlidingWindow:
    def __init__(self, limit: int, seconds: float, max_clients: int = 10_000) -> None:
        self.limit, self.seconds, self.max_clients = limit, seconds, max_clients
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, client: str, now: float | None = None) -> bool:
        """Count one request of ``client``; False when it has had ``limit`` in the window."""
        now = time.monotonic() if now is None else now
        hits = self._hits.pop(client, None) or deque()
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        self._hits[client] = hits  # most recent last
        while len(self._hits) > self.max_clients:
            self._hits.popitem(last=False)
        return allowed
