"""``RedisBus`` in one process against a real Redis: two registries play two replicas.

Each test gets its own Redis, so streams, groups and heartbeats start empty.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis

from terrarium.backplane.bus import RedisBus
from terrarium.backplane.keys import Keys
from terrarium.backplane.settings import BackplaneSettings
from terrarium.backplane.tokens import RedisTokenStore
from terrarium.errors import AgentUnavailable, PerturbationTimeout, QueueFull
from terrarium.flux import FluxAgent, FluxConfig
from terrarium.purgatory.tokens import eject
from terrarium.registry import AgentRegistry, MirrorSettings
from tests.backplane.servers import RedisServer

FAST = BackplaneSettings(
    heartbeat_interval=0.1, heartbeat_ttl=0.5, route_trip=0.3, follower_linger=0.2
)
#: Guard against hangs only.
WAIT = 15.0


class Recorder:
    """An observer that keeps what it is sent, parsed frame by frame."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived: asyncio.Queue[None] = asyncio.Queue()

    def send(self, data: bytes) -> None:
        for line in data.splitlines():
            self.frames.append(json.loads(line))
        self.arrived.put_nowait(None)

    def backlogged(self) -> bool:
        return False

    def close(self, code: int, reason: str) -> None:
        pass

    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") not in ("hello", "gap", "pong")]

    async def until(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> None:
        while not predicate(self.frames):
            await asyncio.wait_for(self.arrived.get(), WAIT)


@asynccontextmanager
async def replica(
    server: RedisServer, name: str, *agents: FluxAgent, settings: BackplaneSettings = FAST
) -> AsyncIterator[RedisBus]:
    registry = AgentRegistry(
        MirrorSettings(history_size=50), token_store=RedisTokenStore(server.url)
    )
    bus = RedisBus(registry, server.url, replica_id=name, settings=settings)
    for agent in agents:
        registry.register(agent)
    await bus.start()
    try:
        yield bus
    finally:
        if bus._running:
            await registry.close()
            await bus.close()
        else:  # abandoned (a crash drill): stop the agents without a word to Redis
            registry.membership = None
            await registry.close()
        registry.token_store.close()


async def echo(data: Any) -> Any:
    return data


async def remote(bus: RedisBus, agent_id: str) -> Any:
    found = await bus.remote(agent_id)
    assert found is not None, f"{agent_id} is not known as remote"
    return found


async def test_a_follower_carries_the_owners_events_with_the_same_seqs_and_bytes(
    redis_server: RedisServer,
) -> None:
    agent = FluxAgent(echo, agent_id="echo")
    async with replica(redis_server, "a", agent) as a, replica(redis_server, "b") as b:
        for n in range(5):
            await agent.perturb(n)
        echo_b = await remote(b, "echo")
        mirror = await echo_b.mirror()
        late, early = Recorder(), Recorder()
        mirror.attach(early, since=0)
        for n in range(5, 8):
            await agent.perturb(n)
        await early.until(lambda frames: frames[-1].get("seq") == agent.mirror.last_seq)
        seqs = [f["seq"] for f in early.events()]
        assert seqs == list(range(1, agent.mirror.last_seq + 1))
        owner_replay = agent.mirror.replay(0)
        follower_replay = mirror.replay(0)
        assert follower_replay.payloads == owner_replay.payloads  # the very same bytes
        # A new observer on b asking from the middle gets exactly the rest.
        mirror.attach(late, since=seqs[-4])
        assert [f["seq"] for f in late.events()] == seqs[-3:]
        assert late.frames[0]["snapshot"]["owner"] == "a"
        statuses = {status["id"]: status for status in await b.statuses()}
        assert statuses["echo"]["owner"] == "a" and statuses["echo"]["available"] is True
        assert (await a.remote("echo")) is None  # its own agent is not remote to a


async def test_a_restarted_owner_carries_on_numbering_from_the_stream(
    redis_server: RedisServer,
) -> None:
    first = FluxAgent(echo, agent_id="echo")
    async with replica(redis_server, "a", first):
        for n in range(3):
            await first.perturb(n)
        last = first.mirror.last_seq
    second = FluxAgent(echo, agent_id="echo")
    async with replica(redis_server, "a-again", second):
        await second.perturb("again")
        replay = second.mirror.replay(0)
        seqs = [json.loads(payload)["seq"] for payload in replay.payloads]
        assert seqs == list(range(1, second.mirror.last_seq + 1))
        assert second.mirror.last_seq > last + 1


async def test_routed_perturbations_keep_queue_full_and_results(redis_server: RedisServer) -> None:
    gate = asyncio.Event()

    async def gated(data: Any) -> Any:
        await gate.wait()
        return data

    agent = FluxAgent(gated, agent_id="gated", config=FluxConfig(buffer_size=1))
    async with replica(redis_server, "a", agent), replica(redis_server, "b") as b:
        target = await remote(b, "gated")
        first = target.perturb("one", priority=100, timeout=None, by=None)
        watcher = Recorder()
        agent.mirror.attach(watcher)
        await watcher.until(lambda frames: agent.state.value == "perturbed")
        second = target.perturb("two", priority=100, timeout=None, by=None)
        await watcher.until(
            lambda frames: sum(f.get("type") == "perturbation" for f in frames) >= 1
        )
        third = target.perturb("three", priority=100, timeout=None, by=None)
        with pytest.raises(QueueFull):
            await asyncio.wait_for(third.future, WAIT)
        gate.set()
        assert await asyncio.wait_for(first.future, WAIT) == "one"
        assert await asyncio.wait_for(second.future, WAIT) == "two"


async def test_a_semaphore_is_answered_and_resolved_across_replicas(
    redis_server: RedisServer,
) -> None:
    class Asker:
        async def invoke(self, data: Any) -> Any:
            return eject("May I?", options=("yes", "no"), state={"asked": data})

        async def resume(self, state: Any, human_input: Any) -> Any:
            return {**state, "answer": human_input}

    agent = FluxAgent(Asker(), agent_id="asker")
    async with replica(redis_server, "a", agent), replica(redis_server, "b") as b:
        target = await remote(b, "asker")
        routed = target.perturb("q", priority=100, timeout=None, by=None)
        ejected = await asyncio.wait_for(routed.future, WAIT)
        token = ejected.token
        assert [t.id for t in target.pending()] == [token.id]
        resolved = await target.resolve(token.id, "yes", "someone")
        assert resolved.status == "resuming"
        assert await asyncio.wait_for(ejected.resolution, WAIT) == {"asked": "q", "answer": "yes"}
        assert target.pending() == []


async def test_an_accepted_command_survives_its_owner_dying(redis_server: RedisServer) -> None:
    """The owner reads the command and dies before answering; its successor answers it."""
    never = asyncio.Event()

    async def stuck(data: Any) -> Any:
        await never.wait()

    doomed = FluxAgent(stuck, agent_id="worker")
    async with replica(redis_server, "a", doomed) as a, replica(redis_server, "b") as b:
        target = await remote(b, "worker")
        routed = target.perturb("job", priority=100, timeout=20, by=None)
        watcher = Recorder()
        doomed.mirror.attach(watcher)
        await watcher.until(lambda frames: doomed.state.value == "perturbed")
        await a.abandon()
        await doomed.kill()
        # The successor claims the agent once a's heartbeat has expired.
        async with replica(redis_server, "a2", FluxAgent(echo, agent_id="worker")):
            assert await asyncio.wait_for(routed.future, WAIT) == "job"


async def test_a_dead_owners_agents_are_unavailable(redis_server: RedisServer) -> None:
    agent = FluxAgent(echo, agent_id="echo")
    async with replica(redis_server, "a", agent) as a, replica(redis_server, "b") as b:
        await a.abandon()

        async def listed() -> dict[str, Any]:
            return {status["id"]: status for status in await b.statuses()}["echo"]

        async with asyncio.timeout(WAIT):
            while True:
                status = await listed()
                if not status["available"]:
                    break
                await asyncio.sleep(0.05)
        assert status["state"] == "stopped" and status["owner"] == "a"
        target = await remote(b, "echo")
        with pytest.raises(AgentUnavailable):
            target.perturb(1, priority=100, timeout=None, by=None)


async def test_a_routed_perturbation_nobody_answers_times_out(redis_server: RedisServer) -> None:
    agent = FluxAgent(echo, agent_id="echo")
    async with replica(redis_server, "a", agent) as a, replica(redis_server, "b") as b:
        await a.abandon()
        # a looks alive (its heartbeat key is kept) but reads no commands.
        keeper = aioredis.Redis.from_url(redis_server.url)
        await keeper.set(Keys().replica("a"), b"1", ex=60)
        await keeper.aclose()
        target = await remote(b, "echo")
        routed = target.perturb(1, priority=100, timeout=0.2, by=None)
        with pytest.raises(PerturbationTimeout):
            await asyncio.wait_for(routed.future, WAIT)


async def test_a_follower_tells_observers_of_seqs_the_stream_skipped(
    redis_server: RedisServer,
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    record = {"owner": "ghost", "status": {}, "perturbation_timeout": 30, "updated_at": 0}
    await client.hset(Keys().agents, "ghost", json.dumps(record))
    await client.set(Keys().replica("ghost"), b"1", ex=60)

    def event(seq: int) -> bytes:
        body = {"seq": seq, "ts": 1.0, "agent_id": "ghost", "type": "result", "data": {}}
        return json.dumps(body).encode()

    for seq in (1, 2):
        await client.xadd(Keys().events("ghost"), {"seq": seq, "payload": event(seq)})
    async with replica(redis_server, "b") as b:
        mirror = await (await remote(b, "ghost")).mirror()
        observer = Recorder()
        mirror.attach(observer, since=0)
        for seq in (5, 6):
            await client.xadd(Keys().events("ghost"), {"seq": seq, "payload": event(seq)})
        await observer.until(lambda frames: frames[-1].get("seq") == 6)
        kinds = [(f["type"], f.get("seq"), f.get("from"), f.get("to")) for f in observer.frames]
        assert kinds[1:] == [
            ("result", 1, None, None),
            ("result", 2, None, None),
            ("gap", None, 3, 4),
            ("result", 5, None, None),
            ("result", 6, None, None),
        ]
        await client.aclose()


def test_tokens_kept_in_redis_are_seen_by_every_replica(redis_server: RedisServer) -> None:
    here, there = RedisTokenStore(redis_server.url), RedisTokenStore(redis_server.url)
    try:
        token = eject("Delete?", options=("yes",), state={"n": 1})
        token = type(token)(**{**{f: getattr(token, f) for f in token.__slots__}, "agent_id": "x"})
        here.save(token)
        assert there.get(token.id) == token
        assert [t.id for t in there.pending("x")] == [token.id]
        there.save(token.with_status("resolved"))
        assert here.pending("x") == []
        got = here.get(token.id)
        assert got is not None and got.status == "resolved"
        assert here.get("nope") is None
    finally:
        here.close()
        there.close()
