"""Sources: iterables, async iterators, queues, ticks and merged streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from terrarium.sources import (
    CLOSE_QUEUE,
    from_async_iterator,
    from_iterable,
    from_queue,
    merge,
    ticks,
)


async def collect(source: AsyncIterator[Any], within: float = 1.0) -> list[Any]:
    async def read() -> list[Any]:
        return [item async for item in source]

    return await asyncio.wait_for(read(), within)


# -- from_iterable -----------------------------------------------------------------------


async def test_from_iterable_yields_every_item_in_order() -> None:
    assert await collect(from_iterable(["a", "b", "c"])) == ["a", "b", "c"]


async def test_from_iterable_of_nothing_ends_at_once() -> None:
    assert await collect(from_iterable([])) == []


async def test_from_iterable_reads_a_generator_lazily() -> None:
    pulled: list[int] = []

    def numbers() -> Any:
        for n in range(5):
            pulled.append(n)
            yield n

    source = from_iterable(numbers())
    assert await anext(source) == 0
    assert pulled == [0]
    await source.aclose()


async def test_from_iterable_lets_the_loop_breathe_between_items() -> None:
    log: list[str] = []

    async def neighbour() -> None:
        for _ in range(3):
            log.append("neighbour")
            await asyncio.sleep(0)

    task = asyncio.create_task(neighbour())
    async for item in from_iterable(["x", "y", "z"]):
        log.append(item)
    await task
    assert log.index("neighbour") < log.index("z")
    assert log.count("neighbour") == 3


# -- from_async_iterator ------------------------------------------------------------------


async def test_from_async_iterator_adopts_an_async_generator() -> None:
    async def letters() -> AsyncIterator[str]:
        for letter in "abc":
            await asyncio.sleep(0)
            yield letter

    assert await collect(from_async_iterator(letters())) == ["a", "b", "c"]


async def test_from_async_iterator_adopts_any_async_iterable() -> None:
    class Countdown:
        def __init__(self, start: int) -> None:
            self.start = start

        def __aiter__(self) -> Countdown:
            return self

        async def __anext__(self) -> int:
            if self.start == 0:
                raise StopAsyncIteration
            self.start -= 1
            return self.start + 1

    assert await collect(from_async_iterator(Countdown(3))) == [3, 2, 1]


async def test_from_async_iterator_propagates_the_iterators_error() -> None:
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("stream reset")

    source = from_async_iterator(broken())
    assert await anext(source) == 1
    with pytest.raises(RuntimeError, match="stream reset"):
        await anext(source)


# -- from_queue ----------------------------------------------------------------------------


async def test_from_queue_yields_until_close_queue() -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in (1, None, "two", CLOSE_QUEUE, "after close"):
        queue.put_nowait(item)
    assert await collect(from_queue(queue)) == [1, None, "two"]
    assert queue.get_nowait() == "after close"


async def test_from_queue_waits_for_items_put_later() -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    source = from_queue(queue)
    pending = asyncio.ensure_future(anext(source))
    await asyncio.sleep(0)
    assert not pending.done()
    await queue.put("late")
    assert await asyncio.wait_for(pending, 1.0) == "late"
    await queue.put(CLOSE_QUEUE)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(source), 1.0)


# -- ticks -----------------------------------------------------------------------------------


async def test_ticks_count_numbers_from_one() -> None:
    assert await collect(ticks(0.01, count=4)) == [1, 2, 3, 4]


async def test_ticks_payload_is_called_with_the_tick_number() -> None:
    assert await collect(ticks(0.01, lambda n: {"n": n * 10}, count=3)) == [
        {"n": 10},
        {"n": 20},
        {"n": 30},
    ]


async def test_ticks_count_zero_yields_nothing() -> None:
    assert await collect(ticks(0.01, count=0)) == []


async def test_ticks_without_count_keep_going() -> None:
    source = ticks(0.001)
    assert [await anext(source) for _ in range(20)] == list(range(1, 21))
    await source.aclose()


@pytest.mark.parametrize("interval", [0, -0.5])
async def test_ticks_refuse_a_non_positive_interval(interval: float) -> None:
    with pytest.raises(ValueError):
        await anext(ticks(interval))


async def test_ticks_are_never_early() -> None:
    loop = asyncio.get_running_loop()
    interval = 0.02
    start = loop.time()
    arrivals = []
    async for n in ticks(interval, count=4):
        arrivals.append((n, loop.time() - start))
    for n, at in arrivals:
        assert at >= (n - 1) * interval - 0.001


async def test_ticks_are_anchored_so_a_slow_consumer_does_not_make_them_drift() -> None:
    loop = asyncio.get_running_loop()
    interval = 0.05
    source = ticks(interval, count=4)
    assert await anext(source) == 1
    await asyncio.sleep(4 * interval)
    received = []
    for _ in range(3):
        received.append((await anext(source), loop.time()))
    assert [n for n, _ in received] == [2, 3, 4]
    catching_up = received[-1][1] - received[0][1]
    assert catching_up < interval


# -- merge --------------------------------------------------------------------------------------


async def test_merge_interleaves_items_as_they_arrive() -> None:
    left: asyncio.Queue[Any] = asyncio.Queue()
    right: asyncio.Queue[Any] = asyncio.Queue()
    merged = merge(from_queue(left), from_queue(right))

    await left.put("L1")
    assert await asyncio.wait_for(anext(merged), 1.0) == "L1"
    await right.put("R1")
    assert await asyncio.wait_for(anext(merged), 1.0) == "R1"
    await left.put("L2")
    assert await asyncio.wait_for(anext(merged), 1.0) == "L2"
    await right.put("R2")
    assert await asyncio.wait_for(anext(merged), 1.0) == "R2"
    await left.put(CLOSE_QUEUE)
    await right.put(CLOSE_QUEUE)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(merged), 1.0)


async def test_merge_keeps_each_sources_order_and_loses_nothing() -> None:
    merged = merge(from_iterable(range(0, 20)), from_iterable(range(100, 120)))
    items = await collect(merged)
    assert sorted(items) == [*range(0, 20), *range(100, 120)]
    assert [i for i in items if i < 100] == list(range(0, 20))
    assert [i for i in items if i >= 100] == list(range(100, 120))


async def test_merge_ends_only_when_every_source_has_ended() -> None:
    short: asyncio.Queue[Any] = asyncio.Queue()
    long: asyncio.Queue[Any] = asyncio.Queue()
    merged = merge(from_queue(short), from_queue(long))
    await short.put(CLOSE_QUEUE)
    pending = asyncio.ensure_future(anext(merged))
    await asyncio.sleep(0.01)
    assert not pending.done()
    await long.put("still flowing")
    assert await asyncio.wait_for(pending, 1.0) == "still flowing"
    await long.put(CLOSE_QUEUE)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(merged), 1.0)


async def test_merge_of_nothing_ends_at_once() -> None:
    assert await collect(merge()) == []


async def test_merge_propagates_an_exception_and_cancels_the_other_sources() -> None:
    cancelled = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                await asyncio.sleep(0.005)
                yield "tick"
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def failing() -> AsyncIterator[str]:
        yield "ok"
        await asyncio.sleep(0.02)
        raise KeyError("lost")

    received: list[str] = []

    async def consume() -> None:
        async for item in merge(endless(), failing()):
            received.append(item)

    with pytest.raises(KeyError, match="lost"):
        await asyncio.wait_for(consume(), 1.0)
    assert "ok" in received
    assert cancelled.is_set()
