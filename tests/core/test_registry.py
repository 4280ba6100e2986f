"""The agent registry: membership, status, snapshots, metabolism ticks and removal."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from terrarium.errors import AgentUnavailable, UnknownAgent
from terrarium.flux import AgentState, FluxAgent, FluxConfig
from terrarium.mirror import CLOSE_AGENT_REMOVED
from terrarium.registry import AgentRegistry, MirrorSettings

STATUS_KEYS = {
    "id",
    "genus",
    "state",
    "seq",
    "observers",
    "events",
    "pressure",
    "flow",
    "temperature",
    "turbulence",
    "queue_depth",
    "pending_semaphores",
    "commands",
    "epoch",
}
METABOLISM_KEYS = {
    "state",
    "pressure",
    "flow",
    "temperature",
    "turbulence",
    "queue_depth",
    "observers",
}


class RecordingObserver:
    """An observer that keeps every frame and lets a test wait for one."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._arrived = asyncio.Event()

    def send(self, data: bytes) -> None:
        self.frames.extend(json.loads(line) for line in data.split(b"\n") if line)
        self._arrived.set()

    def backlogged(self) -> bool:
        return False

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame.get("type") == type_]

    async def wait_for_count(self, type_: str, count: int, within: float = 1.0) -> None:
        async with asyncio.timeout(within):
            while len(self.of_type(type_)) < count:
                self._arrived.clear()
                await self._arrived.wait()


async def echo(data: Any) -> Any:
    return data


@pytest.fixture
def registry(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[AgentRegistry]:
    made = AgentRegistry(metrics_interval=0.02)
    yield made
    jp_asyncio_loop.run_until_complete(made.close())
    jp_asyncio_loop.run_until_complete(asyncio.sleep(0))


def make_agent(
    agent_id: str = "echo", handler: Callable[[Any], Any] = echo, **kw: Any
) -> FluxAgent:
    return FluxAgent(handler, agent_id=agent_id, **kw)


# -- membership ------------------------------------------------------------------------------


async def test_register_adopts_and_starts_the_agent(registry: AgentRegistry) -> None:
    agent = make_agent()
    assert registry.register(agent) is agent
    assert "echo" in registry
    assert len(registry) == 1
    assert list(registry) == [agent]
    assert registry.get("echo") is agent
    assert registry.mirror("echo") is agent.mirror
    assert agent.state is AgentState.FLOWING
    assert await agent.perturb("hi") == "hi"


async def test_register_without_start_leaves_the_agent_dormant(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent(), start=False)
    assert agent.state is AgentState.DORMANT
    await registry.start("echo")
    assert agent.state is AgentState.FLOWING


def test_register_outside_a_loop_leaves_the_agent_dormant() -> None:
    registry = AgentRegistry()
    agent = registry.register(make_agent())
    assert agent.state is AgentState.DORMANT
    assert "echo" in registry


async def test_registering_a_duplicate_id_is_refused(registry: AgentRegistry) -> None:
    first = registry.register(make_agent())
    with pytest.raises(ValueError):
        registry.register(make_agent())
    assert registry.get("echo") is first
    assert len(registry) == 1


async def test_registering_a_started_agent_is_refused(registry: AgentRegistry) -> None:
    agent = make_agent("running")
    agent.start()
    try:
        with pytest.raises(ValueError):
            registry.register(agent)
        assert "running" not in registry
    finally:
        await agent.kill()


async def test_unknown_ids_raise_unknown_agent(registry: AgentRegistry) -> None:
    registry.register(make_agent())
    for lookup in (registry.get, registry.mirror, registry.status, registry.snapshot):
        with pytest.raises(UnknownAgent):
            lookup("nobody")
    with pytest.raises(UnknownAgent):
        await registry.unregister("nobody")
    with pytest.raises(UnknownAgent):
        await registry.stop("nobody")
    assert "nobody" not in registry


def test_unknown_agent_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        AgentRegistry().get("nobody")


def test_metrics_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AgentRegistry(metrics_interval=0)


async def test_mirrors_are_built_from_the_settings(jp_asyncio_loop: Any) -> None:
    settings = MirrorSettings(history_size=3, observer_queue_size=5, slow_observer_policy="close")
    registry = AgentRegistry(settings)
    agent = registry.register(make_agent())
    try:
        mirror = registry.mirror("echo")
        assert mirror.history_size == 3
        assert mirror.observer_queue_size == 5
        assert mirror.slow_observer_policy == "close"
        for n in range(5):
            await agent.perturb(n)
        assert len(mirror.replay(None).payloads) == 3
    finally:
        await registry.close()


async def test_stop_drains_the_agent(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent())
    await asyncio.wait_for(registry.stop("echo"), 1.0)
    assert agent.state is AgentState.STOPPED
    assert "echo" in registry


# -- status and snapshot -----------------------------------------------------------------------


async def test_status_has_exactly_the_protocol_keys(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent())
    await agent.perturb("x")
    await agent.perturb("y")
    status = registry.status("echo")
    assert set(status) == STATUS_KEYS
    assert status["id"] == "echo"
    assert status["state"] == "flowing"
    assert status["seq"] == agent.mirror.last_seq
    assert status["events"] == 2
    assert status["observers"] == 0
    assert status["queue_depth"] == 0
    assert status["pending_semaphores"] == 0
    assert isinstance(status["commands"], list)
    json.dumps(status, allow_nan=False)


async def test_status_reports_the_genus(registry: AgentRegistry) -> None:
    class Named:
        genus_name = "named-kind"

        def invoke(self, data: Any) -> Any:
            return data

    registry.register(FluxAgent(Named(), agent_id="named"))
    registry.register(make_agent())
    assert registry.status("named")["genus"] == "named-kind"
    assert registry.status("echo")["genus"] is None


async def test_pressure_follows_the_queue_depth(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent(config=FluxConfig(buffer_size=8)), start=False)
    queued = [agent.submit(n) for n in range(2)]
    status = registry.status("echo")
    assert status["queue_depth"] == 2
    assert status["pressure"] == 25.0
    assert registry.metabolism("echo").pressure == 25.0
    await registry.start("echo")
    await asyncio.wait_for(asyncio.gather(*(p.future for p in queued)), 1.0)
    assert registry.status("echo")["pressure"] == 0.0


async def test_statuses_lists_every_agent(registry: AgentRegistry) -> None:
    registry.register(make_agent("one"))
    registry.register(make_agent("two"))
    assert [status["id"] for status in registry.statuses()] == ["one", "two"]


async def test_snapshot_is_the_status_plus_pending(registry: AgentRegistry) -> None:
    registry.register(make_agent())
    snapshot = registry.snapshot("echo")
    assert set(snapshot) == STATUS_KEYS | {"pending"}
    assert snapshot["pending"] == []
    assert snapshot["id"] == "echo"


async def test_hello_carries_the_registry_snapshot(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent())
    await agent.perturb("before")
    observer = RecordingObserver()
    registry.mirror("echo").attach(observer, since=0)
    hello = observer.frames[0]
    assert hello["type"] == "hello"
    assert hello["seq"] == agent.mirror.last_seq
    assert set(hello["snapshot"]) == STATUS_KEYS | {"pending"}
    assert hello["snapshot"]["observers"] == 1
    assert hello["snapshot"]["state"] == "flowing"


# -- metabolism ticks ---------------------------------------------------------------------------


async def test_no_metabolism_without_observers(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent())
    seq = agent.mirror.last_seq
    await asyncio.sleep(5 * registry.metrics_interval)
    assert agent.mirror.last_seq == seq


async def test_metabolism_is_reflected_while_an_observer_is_attached(
    registry: AgentRegistry,
) -> None:
    agent = registry.register(make_agent())
    observer = RecordingObserver()
    agent.mirror.attach(observer)
    await observer.wait_for_count("metabolism", 3)
    ticks = observer.of_type("metabolism")
    for tick in ticks:
        assert set(tick["data"]) == METABOLISM_KEYS
        assert tick["data"]["observers"] == 1
        assert tick["data"]["state"] == "flowing"
        assert tick["agent_id"] == "echo"
    for earlier, later in itertools.pairwise(ticks):
        assert later["seq"] > earlier["seq"]
        assert later["ts"] > earlier["ts"]


async def test_metabolism_stops_after_the_last_observer_detaches(
    registry: AgentRegistry,
) -> None:
    agent = registry.register(make_agent())
    first, second = RecordingObserver(), RecordingObserver()
    agent.mirror.attach(first)
    agent.mirror.attach(second)
    await first.wait_for_count("metabolism", 1)
    agent.mirror.detach(first)
    seen = len(second.of_type("metabolism"))
    await second.wait_for_count("metabolism", seen + 1)
    assert second.of_type("metabolism")[-1]["data"]["observers"] == 1

    agent.mirror.detach(second)
    seq = agent.mirror.last_seq
    await asyncio.sleep(5 * registry.metrics_interval)
    assert agent.mirror.last_seq == seq


async def test_metabolism_resumes_when_an_observer_returns(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent())
    first = RecordingObserver()
    agent.mirror.attach(first)
    await first.wait_for_count("metabolism", 1)
    agent.mirror.detach(first)
    again = RecordingObserver()
    agent.mirror.attach(again, since=agent.mirror.last_seq)
    await again.wait_for_count("metabolism", 1)


async def test_metabolism_reflects_work_done(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent())
    observer = RecordingObserver()
    agent.mirror.attach(observer)
    for n in range(5):
        await agent.perturb(n)
    await observer.wait_for_count("metabolism", 2)
    latest = observer.of_type("metabolism")[-1]["data"]
    assert latest["flow"] > 0
    assert latest["turbulence"] == 0.0
    assert 0.0 <= latest["temperature"] <= 1.0


# -- removal -------------------------------------------------------------------------------------


async def test_unregister_closes_observers_with_4004_and_refuses_queued(
    registry: AgentRegistry,
) -> None:
    release = asyncio.Event()
    holding = asyncio.Event()

    async def blocking(data: Any) -> Any:
        holding.set()
        await release.wait()
        return data

    agent = registry.register(make_agent("doomed", blocking))
    observers = [RecordingObserver(), RecordingObserver()]
    for observer in observers:
        agent.mirror.attach(observer)
    in_flight = agent.submit("first")
    await asyncio.wait_for(holding.wait(), 1.0)
    queued = [agent.submit(n) for n in range(3)]

    await asyncio.wait_for(registry.unregister("doomed"), 1.0)

    assert CLOSE_AGENT_REMOVED == 4004
    for observer in observers:
        assert observer.closed == (4004, "agent removed")
    assert agent.mirror.observer_count == 0
    for perturbation in [in_flight, *queued]:
        assert perturbation.future is not None
        with pytest.raises(AgentUnavailable):
            await asyncio.wait_for(perturbation.future, 1.0)
    assert "doomed" not in registry
    with pytest.raises(UnknownAgent):
        registry.get("doomed")
    assert agent.state is AgentState.STOPPED


async def test_unregister_stops_the_metabolism_ticker(registry: AgentRegistry) -> None:
    agent = registry.register(make_agent())
    observer = RecordingObserver()
    agent.mirror.attach(observer)
    await observer.wait_for_count("metabolism", 1)
    await registry.unregister("echo")
    seq = agent.mirror.last_seq
    await asyncio.sleep(5 * registry.metrics_interval)
    assert agent.mirror.last_seq == seq


async def test_an_unregistered_id_can_be_registered_again(registry: AgentRegistry) -> None:
    registry.register(make_agent())
    await registry.unregister("echo")
    fresh = registry.register(make_agent())
    assert registry.get("echo") is fresh
    assert await fresh.perturb("again") == "again"


async def test_close_unregisters_everything(registry: AgentRegistry) -> None:
    agents = [registry.register(make_agent(name)) for name in ("a", "b", "c")]
    observer = RecordingObserver()
    agents[0].mirror.attach(observer)
    await registry.close()
    assert len(registry) == 0
    assert observer.closed == (4004, "agent removed")
    assert all(agent.state is AgentState.STOPPED for agent in agents)
