"""Redis going away is expected (a restart, a failover): loops wait and try again.

Only connection trouble is retried; a command Redis refuses is a bug to log,
never a reason to spin.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Errors that mean "Redis is not reachable right now" (BusyLoadingError is a ConnectionError).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, within: float = 3.0) -> None:
    """Cancel the tasks and wait for them, cancelling again those that swallowed it.

    On Python 3.11 ``asyncio.wait_for`` (which the Redis client uses) can lose a
    cancellation that lands as its inner call completes; a second one lands.
    """
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)


class Backoff:
    """Jittered exponential delays between reconnection attempts, reset on success."""

    def __init__(self, first: float = 0.05, most: float = 1.0) -> None:
        self.first = first
        self.most = most
        self._next = first

    def reset(self) -> None:
        self._next = self.first

    async def wait(self) -> None:
        delay = self._next * (0.5 + random.random())
        self._next = min(self.most, self._next * 2)
        await asyncio.sleep(delay)
