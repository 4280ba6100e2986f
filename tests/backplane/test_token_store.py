"""``RedisTokenStore`` on the event loop against a real Redis: it never waits on Redis.

``save``, ``get`` and ``pending`` answer from memory; one task writes saves
behind (in order, again and again while Redis is away), another follows the
change channel and reloads every pending token whenever it (re)subscribes.
Two stores on one Redis play two replicas. Every wait below is a guard against
hangs, never a measured figure.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from terrarium.backplane.keys import Keys
from terrarium.backplane.tokens import RedisTokenStore
from terrarium.purgatory.tokens import SemaphoreToken, eject
from tests.backplane.servers import RedisServer

#: Guard against hangs only.
WAIT = 15.0
#: Heartbeat ticks watched while Redis is stopped, and the heartbeat's period.
TICKS = 10
PERIOD = 0.02
#: Rounds of calls the store must answer per heartbeat tick. From memory it answers
#: hundreds; a call that waited on Redis holds the loop past the tick, and the
#: heartbeat then ticks every round or two.
ROUNDS_PER_TICK = 10


@pytest.fixture(autouse=True)
def no_synchronous_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the loop the store must never make a synchronous (blocking) Redis client."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the token store made a synchronous Redis client on the loop")

    monkeypatch.setattr(redis.Redis, "from_url", refuse)


def token(agent_id: str = "x") -> SemaphoreToken:
    return replace(eject("Delete?", options=("yes", "no"), state={"n": 1}), agent_id=agent_id)


@asynccontextmanager
async def started(
    server: RedisServer, keys: Keys, **options: Any
) -> AsyncIterator[RedisTokenStore]:
    """A store with its tasks running and the pending tokens in Redis loaded."""
    store = RedisTokenStore(server.url, keys, **options)
    store.start()
    try:
        await asyncio.wait_for(store.loaded(), WAIT)
        yield store
    finally:
        await store.aclose()


async def eventually(check: Callable[[], Any], what: str) -> None:
    """Check again (``check`` plain or async) until it holds; ``WAIT`` guards against hangs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


async def in_redis(server: RedisServer, keys: Keys, tokens: list[SemaphoreToken]) -> list[Any]:
    """Each token's record as Redis holds it (None where it has none), read afresh."""
    client = aioredis.Redis.from_url(server.url)
    try:
        raws: Any = await client.hmget(keys.tokens, [t.id for t in tokens])
    finally:
        await client.aclose()
    return [None if raw is None else json.loads(raw) for raw in raws]


async def pending_index(server: RedisServer, keys: Keys, agent_id: str) -> list[str]:
    client = aioredis.Redis.from_url(server.url)
    try:
        ids: Any = await client.zrange(keys.pending_tokens(agent_id), 0, -1)
    finally:
        await client.aclose()
    return [token_id.decode() for token_id in ids]


@contextmanager
def stopped(server: RedisServer) -> Iterator[None]:
    """Redis stalled (SIGSTOP): connections stay open, nothing is answered."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


def _wake(beat: asyncio.Future[None]) -> None:
    if not beat.done():
        beat.set_result(None)


async def heartbeat(ticks: list[int]) -> None:
    """Count one tick every ``PERIOD`` through ``loop.call_later``, for as long as it runs."""
    loop = asyncio.get_running_loop()
    while True:
        beat: asyncio.Future[None] = loop.create_future()
        loop.call_later(PERIOD, _wake, beat)
        await beat
        ticks[0] += 1


async def test_the_loop_keeps_turning_while_redis_is_stalled(redis_server: RedisServer) -> None:
    """With Redis stopped, every call answers from memory and the heartbeat keeps ticking,
    with many rounds of calls between two ticks."""
    keys = Keys("stall")
    async with started(redis_server, keys) as store:
        saved: list[SemaphoreToken] = []
        ticks = [0]
        rounds = 0
        with stopped(redis_server):
            beating = asyncio.get_running_loop().create_task(heartbeat(ticks))
            async with asyncio.timeout(WAIT):
                while ticks[0] < TICKS:
                    asked = token(f"agent-{rounds % 100}")
                    store.save(asked)
                    assert store.get(asked.id) == asked
                    assert asked in store.pending(asked.agent_id)
                    if rounds % 2:
                        answered = asked.with_status("resolved")
                        store.save(answered)
                        assert store.get(asked.id) == answered
                        assert asked.id not in [t.id for t in store.pending(asked.agent_id)]
                        asked = answered
                    saved.append(asked)
                    rounds += 1
                    await asyncio.sleep(0)
            beating.cancel()
            # Redis has none of it yet, and still the calls answered.
            assert ticks[0] >= TICKS
            assert rounds >= ROUNDS_PER_TICK * ticks[0], (rounds, ticks)

        # Once Redis answers, every save reaches it: each token's last version.
        statuses = [t.status for t in saved]

        async def written() -> bool:
            records = await in_redis(redis_server, keys, saved)
            return [r and r["status"] for r in records] == statuses

        await eventually(written, "every save in Redis")
        expected = [t.id for t in saved if t.pending and t.agent_id == "agent-0"]
        assert await pending_index(redis_server, keys, "agent-0") == expected


async def test_a_save_on_one_replica_reaches_the_other_through_the_notification(
    redis_server: RedisServer,
) -> None:
    keys = Keys("pair")
    async with started(redis_server, keys) as a, started(redis_server, keys) as b:
        asked = token()
        a.save(asked)
        assert [t.id for t in a.pending("x")] == [asked.id]  # at once where it was saved
        await eventually(lambda: [t.id for t in b.pending("x")] == [asked.id], "b sees it")
        assert b.get(asked.id) == asked

        answered = asked.with_status("resolved")
        a.save(answered)
        await eventually(lambda: b.pending("x") == [], "b sees it answered")
        assert b.get(asked.id) == answered
        # A settled token is never reopened by an older version arriving late.
        b.remember(asked)
        assert b.get(asked.id) == answered and b.pending("x") == []


async def test_saves_made_while_redis_is_down_are_written_in_order_once_it_is_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="terrarium.backplane.tokens")
    keys = Keys("down")
    async with started(redis_server, keys) as store:
        redis_server.stop()
        first, second, third = token(), token(), token()
        store.save(first)
        store.save(second)
        store.save(first.with_status("resolved"))
        store.save(third)
        store.save(second.with_status("cancelled"))
        # Meanwhile the store answers from memory.
        assert [t.id for t in store.pending("x")] == [third.id]
        got = store.get(first.id)
        assert got is not None and got.status == "resolved"
        await eventually(
            lambda: "kept in memory until Redis is back" in caplog.text, "a write refused"
        )

        # Redis comes back, and a listener subscribes before the loop turns again, so the
        # writer's next attempt cannot come first (this block holds the loop on purpose).
        redis_server.start()
        listener = redis.Redis(port=redis_server.port).pubsub()  # type: ignore[no-untyped-call]
        try:
            listener.subscribe(store.channel)
            confirmed = listener.get_message(timeout=WAIT)
            assert confirmed is not None and confirmed["type"] == "subscribe"

            async def written() -> bool:
                records = await in_redis(redis_server, keys, [first, second, third])
                return [r and r["status"] for r in records] == ["resolved", "cancelled", "pending"]

            await eventually(written, "the saves in Redis")
            assert await pending_index(redis_server, keys, "x") == [third.id]
            # Each token's latest version, in the order of those saves.
            notified: list[str] = []
            while len(notified) < 3:
                message = listener.get_message(timeout=WAIT)
                assert message is not None
                if message["type"] == "message":
                    notified.append(message["data"].decode())
            assert notified == [first.id, third.id, second.id]
        finally:
            listener.close()


async def test_a_restarted_store_loads_the_pending_tokens(redis_server: RedisServer) -> None:
    keys = Keys("restart")
    waiting = [token() for _ in range(3)]
    settled = token()
    async with started(redis_server, keys) as before:
        for asked in waiting:
            before.save(asked)
        before.save(settled)
        before.save(settled.with_status("resolved"))
    # Closing wrote them all.
    async with started(redis_server, keys) as after:
        assert [t.id for t in after.pending("x")] == [t.id for t in waiting]
        assert after.get(waiting[0].id) == waiting[0]
        # An old, settled token is not kept in memory; the awaited lookup reads it.
        assert after.get(settled.id) is None
        fetched = await after.fetch(settled.id)
        assert fetched is not None and fetched.status == "resolved"
        assert after.get(settled.id) == fetched
        assert await after.fetch("nobody") is None


async def test_a_replica_that_missed_a_notification_catches_up_when_it_resubscribes(
    redis_server: RedisServer,
) -> None:
    keys = Keys("missed")
    async with started(redis_server, keys) as store:
        unheard = token()
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            # Written behind the store's back, with no notification.
            await client.hset(keys.tokens, unheard.id, json.dumps(unheard.to_record()))
            await client.zadd(
                keys.pending_tokens("x"), {unheard.id: unheard.created_at.timestamp()}
            )
            assert store.pending("x") == []
            await client.client_kill_filter(_type="pubsub")
        finally:
            await client.aclose()
        await eventually(lambda: [t.id for t in store.pending("x")] == [unheard.id], "reload")


async def test_closing_with_redis_away_is_bounded_and_names_the_lost_saves(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="terrarium.backplane.tokens")
    store = RedisTokenStore(redis_server.url, Keys("closing"), close_within=0.2)
    store.start()
    await asyncio.wait_for(store.loaded(), WAIT)
    redis_server.stop()
    lost = token()
    store.save(lost)
    await asyncio.wait_for(store.aclose(), WAIT)
    assert any(lost.id in record.getMessage() for record in caplog.records)


async def test_an_answer_whose_resume_is_owed_is_loaded_and_never_goes_back(
    redis_server: RedisServer,
) -> None:
    """``resuming`` (answered, resume not run) stays indexed, so an owner that restarts
    finds the resume it owes; a late pending version never undoes the answer."""
    keys = Keys("owed")
    asked = token()
    answered = asked.with_status("resuming")
    async with started(redis_server, keys) as before:
        before.save(asked)
        before.save(answered)
        before.remember(asked)
        assert before.pending("x") == [] and before.owed("x") == [answered]
    async with started(redis_server, keys) as after:
        assert after.pending("x") == [] and after.owed("x") == [answered]
        after.save(answered.with_status("resolved"))
        assert after.owed("x") == []
    assert await pending_index(redis_server, keys, "x") == []
