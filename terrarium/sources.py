"""Sources: what a flux agent consumes. Each is an async iterator the pump reads.

A source may pause for as long as it likes; only the end of the iterator ends it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def from_iterable(items: Iterable[T]) -> AsyncIterator[T]:
    """Yield a plain iterable's items, letting the loop breathe between them."""
    for item in items:
        yield item
        await asyncio.sleep(0)


async def from_async_iterator(items: AsyncIterable[T]) -> AsyncIterator[T]:
    """Adopt any async iterable (a generator, a stream reader) as a source."""
    async for item in items:
        yield item


class _Closed:
    """The sentinel that ends a queue source."""


CLOSE_QUEUE: Any = _Closed()


async def from_queue(queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    """Yield what is put on the queue until ``CLOSE_QUEUE`` is put."""
    while True:
        item = await queue.get()
        if item is CLOSE_QUEUE:
            return
        yield item


async def ticks(
    interval: float,
    payload: Callable[[int], T] | None = None,
    *,
    count: int | None = None,
) -> AsyncIterator[T | int]:
    """A periodic source: tick numbers (or ``payload(n)``) every ``interval`` seconds.

    The schedule is anchored to the loop clock, so slow consumers do not make
    the ticks drift.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    loop = asyncio.get_running_loop()
    start = loop.time()
    numbers = itertools.count(1) if count is None else range(1, count + 1)
    for n in numbers:
        yield payload(n) if payload is not None else n
        await asyncio.sleep(max(0.0, start + n * interval - loop.time()))


async def merge(*sources: AsyncIterable[T]) -> AsyncIterator[T]:
    """Interleave several sources as their items arrive; ends when all have ended."""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=max(1, len(sources)))

    async def forward(source: AsyncIterable[T]) -> None:
        try:
            async for item in source:
                await queue.put((False, item))
        except Exception as error:
            await queue.put((True, error))
            return
        await queue.put((True, None))

    tasks = [asyncio.create_task(forward(source)) for source in sources]
    remaining = len(tasks)
    try:
        while remaining:
            done, value = await queue.get()
            if not done:
                yield value
            elif isinstance(value, Exception):
                raise value
            else:
                remaining -= 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
