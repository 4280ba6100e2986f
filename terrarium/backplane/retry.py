"""Redis going away is expected (a restart, a failover): loops wait and try again.

Only connection trouble is retried; a command Redis refuses is a bug to log,
never a reason to spin. The delays are redis-py's own jittered exponential
backoff, the one its clients retry commands with (``client_retry``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
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


def client_retry() -> Retry:
    """How a client retries one command after a connection error: at once on a fresh
    connection, then twice more within about 0.1 s. After a Redis restart every pooled
    connection is dead, and without this each would fail one command on its way out."""
    return Retry(ExponentialWithJitterBackoff(cap=0.05, base=0.01), 3)


class Backoff:
    """Jittered exponential delays between a loop's reconnection attempts, reset on success."""

    def __init__(self, first: float = 0.05, most: float = 1.0) -> None:
        self._delays = ExponentialWithJitterBackoff(cap=most, base=first)
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    async def wait(self) -> None:
        self.failures += 1
        await asyncio.sleep(self._delays.compute(self.failures))
