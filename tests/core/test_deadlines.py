"""The deadline watch: one timer, armed for the earliest deadline, re-armed when it fires."""

from __future__ import annotations

import asyncio

from terrarium.deadlines import DeadlineWatch


class Due:
    """Records each call of ``expire_due`` and answers the next deadlines in turn."""

    def __init__(self, *following: float | None) -> None:
        self.calls: list[float] = []
        self.following = list(following)
        self.called = asyncio.Event()

    def __call__(self, now: float) -> float | None:
        self.calls.append(now)
        self.called.set()
        return self.following.pop(0) if self.following else None


async def test_fires_at_the_earliest_armed_deadline() -> None:
    loop = asyncio.get_running_loop()
    due = Due()
    watch = DeadlineWatch(loop, due)
    late, early = loop.time() + 5.0, loop.time() + 0.02
    watch.arm(late)
    watch.arm(early)
    assert watch.armed_at == early
    await asyncio.wait_for(due.called.wait(), 1.0)
    assert len(due.calls) == 1 and due.calls[0] >= early
    assert watch.armed_at is None


async def test_a_later_deadline_leaves_the_timer_as_it_is() -> None:
    loop = asyncio.get_running_loop()
    watch = DeadlineWatch(loop, Due())
    early = loop.time() + 5.0
    watch.arm(early)
    watch.arm(early + 1.0)
    assert watch.armed_at == early
    watch.cancel()


async def test_rearms_for_what_is_still_pending_after_it_fires() -> None:
    loop = asyncio.get_running_loop()
    first = loop.time() + 0.01
    second = first + 0.02
    due = Due(second, None)
    watch = DeadlineWatch(loop, due)
    watch.arm(first)
    async with asyncio.timeout(1.0):
        while len(due.calls) < 2:
            due.called.clear()
            await due.called.wait()
    assert due.calls[0] >= first
    assert due.calls[1] >= second
    assert watch.armed_at is None


async def test_cancel_disarms() -> None:
    loop = asyncio.get_running_loop()
    due = Due()
    watch = DeadlineWatch(loop, due)
    watch.arm(loop.time() + 0.01)
    watch.cancel()
    assert watch.armed_at is None
    await asyncio.sleep(0.05)
    assert due.calls == []
