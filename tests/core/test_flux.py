"""Flux agents: perturbations, priorities, timeouts, lifecycle, sources, budgets and outputs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from terrarium.errors import (
    AgentError,
    AgentUnavailable,
    BadRequest,
    PerturbationTimeout,
    QueueFull,
)
from terrarium.flux import AgentState, FluxAgent, FluxConfig, flux
from terrarium.perturbation import Perturbation
from terrarium.sources import from_iterable

MakeAgent = Callable[..., FluxAgent]


class Watcher:
    """An observer of the agent's mirror that lets a test wait for a frame."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()

    def send(self, data: bytes) -> None:
        self.frames.extend(json.loads(line) for line in data.split(b"\n") if line)
        self._arrived.set()

    def backlogged(self) -> bool:
        return False

    def close(self, code: int, reason: str) -> None:
        pass

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 1.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_for_state(self, state: str, within: float = 1.0) -> None:
        await self.wait_for(
            lambda f: f.get("type") == "state" and f["data"]["state"] == state, within
        )


def watch(agent: FluxAgent) -> Watcher:
    watcher = Watcher()
    agent.mirror.attach(watcher)
    return watcher


def events(agent: FluxAgent, type_: str | None = None) -> list[dict[str, Any]]:
    found = [json.loads(payload) for payload in agent.mirror.replay(0).payloads]
    return [event for event in found if type_ is None or event["type"] == type_]


def transitions(agent: FluxAgent) -> list[tuple[str, str]]:
    return [(e["data"]["previous"], e["data"]["state"]) for e in events(agent, "state")]


@pytest.fixture
def make_agent(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[MakeAgent]:
    made: list[FluxAgent] = []

    def make(handler: Any, *, agent_id: str = "agent", **kwargs: Any) -> FluxAgent:
        agent = FluxAgent(handler, agent_id=agent_id, **kwargs)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        jp_asyncio_loop.run_until_complete(agent.kill())


async def echo(data: Any) -> Any:
    return data


async def timed_out(agent: FluxAgent, data: Any, timeout: float = 0.03) -> Perturbation:
    """Submit ``data`` with a short timeout and wait for its ``timeout`` answer."""
    perturbation = agent.submit(data, timeout=timeout)
    assert perturbation.future is not None
    with pytest.raises(PerturbationTimeout):
        await asyncio.wait_for(perturbation.future, 1.0)
    return perturbation


class Gate:
    """A handler that holds on ``"hold"`` until opened, and records what it handled."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.holding = asyncio.Event()
        self.seen: list[Any] = []

    async def __call__(self, data: Any) -> Any:
        self.seen.append(data)
        if data == "hold":
            self.holding.set()
            await self.opened.wait()
        return data


# -- handlers ----------------------------------------------------------------------------


async def test_perturb_returns_the_output(make_agent: MakeAgent) -> None:
    async def shout(data: str) -> str:
        return data.upper()

    agent = make_agent(shout)
    agent.start()
    assert await agent.perturb("hi") == "HI"


async def test_sync_handler_works(make_agent: MakeAgent) -> None:
    agent = make_agent(lambda data: data * 2)
    agent.start()
    assert await agent.perturb(21) == 42


async def test_on_settled_runs_as_the_future_resolves_before_its_callbacks(
    make_agent: MakeAgent,
) -> None:
    agent = make_agent(lambda data: data * 2)
    agent.start()
    order: list[str] = []
    perturbation = agent.submit(21)
    assert perturbation.future is not None
    perturbation.future.add_done_callback(lambda _: order.append("callback"))
    perturbation.on_settled = lambda future: order.append(f"settled {future.result()}")
    assert await perturbation.future == 42
    # The future's own callback was registered first but runs an iteration later.
    assert order == ["settled 42", "callback"]


async def test_a_failing_on_settled_is_reported_and_the_agent_keeps_flowing(
    make_agent: MakeAgent,
) -> None:
    agent = make_agent(lambda data: data)
    agent.start()
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: reported.append(context))

    def broken(_: asyncio.Future[Any]) -> None:
        raise RuntimeError("socket went away")

    perturbation = agent.submit("a")
    perturbation.on_settled = broken
    assert perturbation.future is not None
    assert await perturbation.future == "a"
    assert isinstance(reported[0]["exception"], RuntimeError)
    assert await agent.perturb("b") == "b"
    assert agent.state is AgentState.FLOWING


async def test_object_with_invoke_works_as_a_handler(make_agent: MakeAgent) -> None:
    class Doubler:
        genus_name = "doubler"

        def __init__(self) -> None:
            self.calls = 0

        async def invoke(self, data: int) -> int:
            self.calls += 1
            return data * 2

    handler = Doubler()
    agent = make_agent(handler)
    agent.start()
    assert await agent.perturb(5) == 10
    assert handler.calls == 1
    assert agent.genus == "doubler"


async def test_object_with_sync_invoke_works(make_agent: MakeAgent) -> None:
    class Negate:
        def invoke(self, data: int) -> int:
            return -data

    agent = make_agent(Negate())
    agent.start()
    assert await agent.perturb(3) == -3


def test_a_handler_must_be_callable_or_invocable() -> None:
    with pytest.raises(TypeError):
        FluxAgent(42, agent_id="nope")  # type: ignore[arg-type]


async def test_flux_decorator_builds_an_agent() -> None:
    @flux("decorated")
    async def triple(data: int) -> int:
        return data * 3

    assert isinstance(triple, FluxAgent)
    assert triple.id == "decorated"
    assert triple.state is AgentState.DORMANT
    triple.start()
    try:
        assert await triple.perturb(2) == 6
    finally:
        await triple.kill()


@pytest.mark.parametrize("agent_id", ["a", "echo", "A.b-c_9", "x" * 128])
def test_valid_agent_ids_are_accepted(agent_id: str) -> None:
    assert FluxAgent(echo, agent_id=agent_id).id == agent_id


@pytest.mark.parametrize("agent_id", ["", "x" * 129, "a/b", "has space", "é", "a%b", "a\nb"])
def test_invalid_agent_ids_are_refused(agent_id: str) -> None:
    with pytest.raises(ValueError):
        FluxAgent(echo, agent_id=agent_id)


@pytest.mark.parametrize(
    "config",
    [
        {"buffer_size": 0},
        {"perturbation_timeout": 0},
        {"max_events": -1},
        {"entropy_budget": 0},
        {"output_policy": "sometimes"},
    ],
)
def test_invalid_config_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FluxConfig(**config)


# -- events ------------------------------------------------------------------------------


async def test_perturbation_and_result_are_reflected(make_agent: MakeAgent) -> None:
    agent = make_agent(echo)
    agent.start()
    perturbation = agent.submit({"x": 1}, priority=7, by="alice")
    assert perturbation.future is not None
    assert await perturbation.future == {"x": 1}
    (accepted,) = events(agent, "perturbation")
    assert accepted["data"] == {"perturbation_id": perturbation.id, "priority": 7, "by": "alice"}
    (result,) = events(agent, "result")
    assert result["data"] == {"output": {"x": 1}, "perturbation_id": perturbation.id}
    assert accepted["seq"] < result["seq"]


# -- priorities and the queue ---------------------------------------------------------------


async def test_higher_priority_first_and_fifo_within_a_priority_while_busy(
    make_agent: MakeAgent,
) -> None:
    gate = Gate()
    agent = make_agent(gate)
    agent.start()
    holder = agent.submit("hold")
    await asyncio.wait_for(gate.holding.wait(), 1.0)
    queued = [
        agent.submit(name, priority=priority)
        for name, priority in [("a", 50), ("b", 150), ("c", 50), ("d", 150), ("e", 100), ("f", 1)]
    ]
    assert agent.counters().queue_depth == 6
    gate.opened.set()
    await asyncio.wait_for(asyncio.gather(*(p.future for p in [holder, *queued])), 1.0)
    assert gate.seen == ["hold", "b", "d", "e", "a", "c", "f"]


async def test_queued_before_start_are_served_in_priority_order(make_agent: MakeAgent) -> None:
    gate = Gate()
    agent = make_agent(gate)
    futures = [
        agent.submit(n, priority=p).future for n, p in [(1, 10), (2, 199), (3, 10), (4, 100)]
    ]
    assert gate.seen == []
    assert agent.state is AgentState.DORMANT
    agent.start()
    assert await asyncio.wait_for(asyncio.gather(*futures), 1.0) == [1, 2, 3, 4]
    assert gate.seen == [2, 4, 1, 3]


async def test_queue_full_at_buffer_size(make_agent: MakeAgent) -> None:
    agent = make_agent(echo, config=FluxConfig(buffer_size=3))
    accepted = [agent.submit(n) for n in range(3)]
    with pytest.raises(QueueFull) as refused:
        agent.submit("one too many")
    assert refused.value.code == "queue_full"
    assert agent.counters().queue_depth == 3
    assert len(events(agent, "perturbation")) == 3

    agent.start()
    outputs = await asyncio.wait_for(asyncio.gather(*(p.future for p in accepted)), 1.0)
    assert outputs == [0, 1, 2]
    assert await agent.perturb("room again") == "room again"


@pytest.mark.parametrize("priority", [0, -1, 200, 1000, True, False, "5", 1.5, None])
async def test_invalid_priority_is_a_bad_request(make_agent: MakeAgent, priority: Any) -> None:
    agent = make_agent(echo)
    agent.start()
    with pytest.raises(BadRequest) as refused:
        agent.submit("x", priority=priority)
    assert refused.value.code == "bad_request"
    assert agent.counters().queue_depth == 0
    assert events(agent, "perturbation") == []


async def test_priority_200_needs_allow_reentry(make_agent: MakeAgent) -> None:
    agent = make_agent(echo)
    agent.start()
    assert await agent.perturb("edge", priority=199) == "edge"
    assert await agent.perturb("resumed", priority=200, allow_reentry=True) == "resumed"
    with pytest.raises(BadRequest):
        agent.submit("x", priority=201, allow_reentry=True)


@pytest.mark.parametrize("bad_timeout", [0, -1, 86400, True, "1", float("nan")])
async def test_invalid_timeout_is_a_bad_request(make_agent: MakeAgent, bad_timeout: Any) -> None:
    agent = make_agent(echo)
    agent.start()
    with pytest.raises(BadRequest):
        agent.submit("x", timeout=bad_timeout)
    assert agent.counters().queue_depth == 0


# -- timeouts and errors ---------------------------------------------------------------------


async def test_timeout_while_queued(make_agent: MakeAgent) -> None:
    gate = Gate()
    agent = make_agent(gate)
    agent.start()
    holder = agent.submit("hold")
    await asyncio.wait_for(gate.holding.wait(), 1.0)
    waiting = agent.submit("late", timeout=0.03)
    assert waiting.future is not None
    with pytest.raises(PerturbationTimeout) as refused:
        await asyncio.wait_for(waiting.future, 1.0)
    assert refused.value.code == "timeout"
    assert agent.counters().queue_depth == 0

    (error,) = events(agent, "error")
    assert error["data"]["perturbation_id"] == waiting.id
    assert error["data"]["error_type"] == "PerturbationTimeout"

    gate.opened.set()
    assert holder.future is not None
    assert await asyncio.wait_for(holder.future, 1.0) == "hold"
    assert "late" not in gate.seen


async def test_timeout_while_running(make_agent: MakeAgent) -> None:
    async def sometimes_slow(data: str) -> str:
        if data == "slow":
            await asyncio.sleep(10)
        return data

    agent = make_agent(sometimes_slow)
    agent.start()
    slow = await timed_out(agent, "slow")

    errors = events(agent, "error")
    assert [e["data"]["perturbation_id"] for e in errors] == [slow.id]
    assert errors[0]["data"]["error_type"] == "PerturbationTimeout"
    assert all(e["data"]["perturbation_id"] != slow.id for e in events(agent, "result"))
    assert agent.state is AgentState.FLOWING
    assert await agent.perturb("quick") == "quick"
    assert agent.counters().errors == 1


async def test_queued_perturbations_time_out_each_at_its_own_deadline(
    make_agent: MakeAgent,
) -> None:
    gate = Gate()
    agent = make_agent(gate)
    agent.start()
    holder = agent.submit("hold", timeout=5)
    await asyncio.wait_for(gate.holding.wait(), 1.0)
    patient = agent.submit("patient", timeout=0.3)
    hasty = agent.submit("hasty", timeout=0.03)
    assert patient.future is not None and hasty.future is not None
    with pytest.raises(PerturbationTimeout):
        await asyncio.wait_for(hasty.future, 1.0)
    assert not patient.future.done()
    with pytest.raises(PerturbationTimeout):
        await asyncio.wait_for(patient.future, 1.0)
    timed_out = [e["data"]["perturbation_id"] for e in events(agent, "error")]
    assert timed_out == [hasty.id, patient.id]
    gate.opened.set()
    assert holder.future is not None
    assert await asyncio.wait_for(holder.future, 1.0) == "hold"
    assert agent.counters().queue_depth == 0


async def test_a_handler_that_swallows_its_timeout_does_not_answer_twice(
    make_agent: MakeAgent,
) -> None:
    async def stubborn(data: str) -> Any:
        if data == "stubborn":
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return "finished anyway"
        task = asyncio.current_task()
        return None if task is None else task.cancelling()

    agent = make_agent(stubborn)
    agent.start()
    await timed_out(agent, "stubborn")
    # The run task took its cancellation back: nothing stale for the next handler.
    assert await asyncio.wait_for(agent.perturb("next"), 1.0) == 0
    results = [e["data"]["output"] for e in events(agent, "result")]
    assert results == [0]
    assert agent.state is AgentState.FLOWING


async def test_kill_while_a_timed_out_handler_cleans_up(make_agent: MakeAgent) -> None:
    cleaning = asyncio.Event()

    async def slow_to_let_go(data: str) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cleaning.set()
            await asyncio.sleep(10)
        return data

    agent = make_agent(slow_to_let_go)
    agent.start()
    await timed_out(agent, "x")
    await asyncio.wait_for(cleaning.wait(), 1.0)
    # A run loop that took kill()'s cancellation for the timeout's would never end.
    await asyncio.wait_for(agent.kill(), 1.0)
    assert agent.state is AgentState.STOPPED
    assert [e["data"]["error_type"] for e in events(agent, "error")] == ["PerturbationTimeout"]


async def test_default_timeout_comes_from_the_config(make_agent: MakeAgent) -> None:
    never = asyncio.Event()

    async def stuck(data: Any) -> Any:
        await never.wait()

    agent = make_agent(stuck, config=FluxConfig(perturbation_timeout=0.03))
    agent.start()
    with pytest.raises(PerturbationTimeout):
        await asyncio.wait_for(agent.perturb("x"), 1.0)


async def test_handler_exception_is_an_agent_error_and_the_agent_keeps_flowing(
    make_agent: MakeAgent,
) -> None:
    async def picky(data: int) -> int:
        if data < 0:
            raise ValueError("negative input")
        return data

    agent = make_agent(picky)
    agent.start()
    bad = agent.submit(-1)
    assert bad.future is not None
    with pytest.raises(AgentError) as refused:
        await asyncio.wait_for(bad.future, 1.0)
    assert refused.value.error_type == "ValueError"
    assert refused.value.code == "agent_error"
    assert "negative input" in str(refused.value)

    (error,) = events(agent, "error")
    assert error["data"] == {
        "error": "negative input",
        "error_type": "ValueError",
        "perturbation_id": bad.id,
    }
    assert agent.state is AgentState.FLOWING
    assert await agent.perturb(3) == 3
    assert agent.counters().errors == 1
    assert agent.counters().events == 2


async def test_source_handler_error_is_reflected_and_the_source_continues(
    make_agent: MakeAgent,
) -> None:
    def invert(data: int) -> float:
        return 1 / data

    agent = make_agent(invert, source=from_iterable([2, 0, 4]))
    watcher = watch(agent)
    agent.start()
    await watcher.wait_for(lambda f: f.get("type") == "result" and f["data"]["output"] == 0.25)
    (error,) = events(agent, "error")
    assert error["data"]["error_type"] == "ZeroDivisionError"
    assert error["data"]["perturbation_id"] is None
    assert [e["data"]["output"] for e in events(agent, "result")] == [0.5, 0.25]
    assert agent.state is AgentState.FLOWING


# -- lifecycle ---------------------------------------------------------------------------------


async def test_state_events_from_start_to_stop(make_agent: MakeAgent) -> None:
    agent = make_agent(echo)
    assert agent.state is AgentState.DORMANT
    agent.start()
    assert agent.state is AgentState.FLOWING
    assert await agent.perturb(1) == 1
    await asyncio.wait_for(agent.stop(), 1.0)
    assert agent.state is AgentState.STOPPED
    assert transitions(agent) == [
        ("dormant", "flowing"),
        ("flowing", "draining"),
        ("draining", "stopped"),
    ]


async def test_perturbed_shows_in_state_but_never_as_a_state_event(make_agent: MakeAgent) -> None:
    seen_states: list[AgentState] = []
    agent: FluxAgent

    async def introspect(data: Any) -> Any:
        seen_states.append(agent.state)
        await asyncio.sleep(0)
        seen_states.append(agent.state)
        return data

    agent = make_agent(introspect)
    agent.start()
    await agent.perturb("a")
    await agent.perturb("b")
    assert seen_states == [AgentState.PERTURBED] * 4
    assert agent.state is AgentState.FLOWING
    assert agent.accepting
    await agent.stop()
    states = [e["data"]["state"] for e in events(agent, "state")]
    previous = [e["data"]["previous"] for e in events(agent, "state")]
    assert "perturbed" not in states + previous


async def test_start_twice_is_refused(make_agent: MakeAgent) -> None:
    agent = make_agent(echo)
    agent.start()
    with pytest.raises(RuntimeError):
        agent.start()


async def test_stop_serves_queued_perturbations_first(make_agent: MakeAgent) -> None:
    gate = Gate()
    agent = make_agent(gate)
    agent.start()
    holder = agent.submit("hold")
    await asyncio.wait_for(gate.holding.wait(), 1.0)
    queued = [agent.submit(n) for n in range(3)]
    stopping = asyncio.create_task(agent.stop())
    await asyncio.sleep(0)
    assert agent.state is AgentState.DRAINING
    assert not agent.accepting
    gate.opened.set()
    await asyncio.wait_for(stopping, 1.0)
    assert [p.future.result() for p in [holder, *queued] if p.future] == ["hold", 0, 1, 2]
    assert agent.state is AgentState.STOPPED
    last_result = events(agent, "result")[-1]
    stopped = events(agent, "state")[-1]
    assert stopped["data"]["state"] == "stopped"
    assert last_result["seq"] < stopped["seq"]


async def test_stop_before_start_refuses_queued_and_stops(make_agent: MakeAgent) -> None:
    agent = make_agent(echo)
    queued = agent.submit("never")
    await agent.stop()
    assert agent.state is AgentState.STOPPED
    assert queued.future is not None
    with pytest.raises(AgentUnavailable):
        await asyncio.wait_for(queued.future, 1.0)
    assert transitions(agent) == [("dormant", "stopped")]


async def test_stop_twice_is_harmless(make_agent: MakeAgent) -> None:
    agent = make_agent(echo)
    agent.start()
    await asyncio.wait_for(agent.stop(), 1.0)
    await asyncio.wait_for(agent.stop(), 1.0)
    assert agent.state is AgentState.STOPPED
    assert len(events(agent, "state")) == 3


async def test_kill_refuses_queued_perturbations(make_agent: MakeAgent) -> None:
    gate = Gate()
    agent = make_agent(gate)
    agent.start()
    agent.submit("hold")
    await asyncio.wait_for(gate.holding.wait(), 1.0)
    queued = [agent.submit(n) for n in range(3)]
    await asyncio.wait_for(agent.kill(), 1.0)
    assert agent.state is AgentState.STOPPED
    for perturbation in queued:
        assert perturbation.future is not None
        with pytest.raises(AgentUnavailable) as refused:
            await asyncio.wait_for(perturbation.future, 1.0)
        assert refused.value.code == "agent_unavailable"
    assert gate.seen == ["hold"]
    assert transitions(agent)[-1] == ("flowing", "stopped")


async def test_kill_refuses_the_perturbation_in_flight(make_agent: MakeAgent) -> None:
    gate = Gate()
    agent = make_agent(gate)
    agent.start()
    holder = agent.submit("hold", timeout=60)
    await asyncio.wait_for(gate.holding.wait(), 1.0)
    await asyncio.wait_for(agent.kill(), 1.0)
    assert holder.future is not None
    with pytest.raises(AgentUnavailable):
        await asyncio.wait_for(holder.future, 1.0)
    assert events(agent, "error")[-1]["data"]["error_type"] == "AgentUnavailable"


async def test_a_cancelled_kill_is_cancelled_not_taken_for_done(make_agent: MakeAgent) -> None:
    """kill() waits for the run loop; cancelling that wait cancels kill(), and the agent is
    not reported stopped while its handler is still letting go."""
    started = asyncio.Event()
    letting_go = asyncio.Event()

    async def slow_to_stop(data: str) -> str:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await letting_go.wait()
            raise
        return data

    agent = make_agent(slow_to_stop)
    agent.start()
    held = agent.submit("x", timeout=60)
    await asyncio.wait_for(started.wait(), 1.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(agent.kill(), 0.05)
    assert agent.state is not AgentState.STOPPED
    letting_go.set()
    await asyncio.wait_for(agent.kill(), 1.0)
    assert agent.state is AgentState.STOPPED
    assert held.future is not None
    with pytest.raises(AgentUnavailable):
        await asyncio.wait_for(held.future, 1.0)


@pytest.mark.parametrize("ending", ["stop", "kill"])
async def test_submit_after_the_end_is_refused(make_agent: MakeAgent, ending: str) -> None:
    agent = make_agent(echo)
    agent.start()
    await getattr(agent, ending)()
    with pytest.raises(AgentUnavailable):
        agent.submit("late")
    with pytest.raises(AgentUnavailable):
        await agent.perturb("late")
    assert events(agent, "perturbation") == []


# -- sources -------------------------------------------------------------------------------------


async def test_a_pausing_source_keeps_being_consumed(make_agent: MakeAgent) -> None:
    async def pausing() -> AsyncIterator[str]:
        yield "first"
        await asyncio.sleep(0.2)
        yield "second"

    agent = make_agent(echo, source=pausing())
    watcher = watch(agent)
    agent.start()
    await watcher.wait_for(lambda f: f.get("type") == "result" and f["data"]["output"] == "first")
    assert await agent.perturb("meanwhile") == "meanwhile"
    assert agent.state is AgentState.FLOWING
    await watcher.wait_for(lambda f: f.get("type") == "result" and f["data"]["output"] == "second")
    assert agent.state is AgentState.FLOWING
    outputs = [e["data"]["output"] for e in events(agent, "result")]
    assert outputs == ["first", "meanwhile", "second"]


async def test_source_exception_collapses_and_refuses_queued(make_agent: MakeAgent) -> None:
    release = asyncio.Event()

    async def failing() -> AsyncIterator[str]:
        yield "fine"
        await release.wait()
        raise OSError("source broke")

    gate = Gate()
    agent = make_agent(gate, source=failing())
    watcher = watch(agent)
    agent.start()
    holder = agent.submit("hold")
    await asyncio.wait_for(gate.holding.wait(), 1.0)
    queued = agent.submit("queued")
    release.set()
    await watcher.wait_for_state("collapsed")

    assert agent.state is AgentState.COLLAPSED
    assert queued.future is not None
    with pytest.raises(AgentUnavailable):
        await asyncio.wait_for(queued.future, 1.0)
    assert holder.future is not None
    with pytest.raises(AgentUnavailable):
        await asyncio.wait_for(holder.future, 1.0)
    source_errors = [e for e in events(agent, "error") if e["data"]["error_type"] == "OSError"]
    assert [e["data"]["error"] for e in source_errors] == ["source broke"]
    assert transitions(agent)[-1] == ("flowing", "collapsed")
    with pytest.raises(AgentUnavailable):
        agent.submit("after")
    await asyncio.wait_for(agent.stop(), 1.0)
    assert agent.state is AgentState.COLLAPSED


async def test_the_end_of_the_source_does_not_stop_the_agent(make_agent: MakeAgent) -> None:
    agent = make_agent(echo, source=from_iterable([1, 2]))
    watcher = watch(agent)
    agent.start()
    await watcher.wait_for(lambda f: f.get("type") == "result" and f["data"]["output"] == 2)
    assert await agent.perturb("still here") == "still here"
    assert agent.state is AgentState.FLOWING


async def test_max_events_stops_consuming_after_n_source_events(make_agent: MakeAgent) -> None:
    gate = Gate()
    agent = make_agent(gate, source=from_iterable(range(100)), config=FluxConfig(max_events=3))
    watcher = watch(agent)
    agent.start()
    await watcher.wait_for_state("stopped")
    assert gate.seen == [0, 1, 2]
    assert [e["data"]["output"] for e in events(agent, "result")] == [0, 1, 2]
    assert transitions(agent) == [
        ("dormant", "flowing"),
        ("flowing", "draining"),
        ("draining", "stopped"),
    ]


# -- entropy and temperature ---------------------------------------------------------------------


async def test_exhausted_entropy_budget_drains_and_stops(make_agent: MakeAgent) -> None:
    gate = Gate()
    config = FluxConfig(entropy_budget=4, entropy_cost=1.0)
    agent = make_agent(gate, source=from_iterable(range(50)), config=config)
    watcher = watch(agent)
    agent.start()
    await watcher.wait_for_state("stopped")
    assert gate.seen == [0, 1, 2, 3]
    assert ("flowing", "draining") in transitions(agent)
    temperature = agent.counters().temperature
    assert 0.0 <= temperature <= 1.0
    assert temperature == pytest.approx(1.0)


async def test_temperature_is_the_share_of_the_budget_spent(make_agent: MakeAgent) -> None:
    agent = make_agent(echo, config=FluxConfig(entropy_budget=10, entropy_cost=1.0))
    assert agent.counters().temperature == 0.0
    agent.start()
    for n in range(3):
        await agent.perturb(n)
    assert agent.counters().temperature == pytest.approx(0.3)
    assert agent.state is AgentState.FLOWING


async def test_entropy_decays_over_time(make_agent: MakeAgent) -> None:
    config = FluxConfig(entropy_budget=10, entropy_cost=1.0, entropy_decay=100.0)
    agent = make_agent(echo, config=config)
    agent.start()
    for n in range(5):
        await agent.perturb(n)
    await asyncio.sleep(0.1)
    assert agent.counters().temperature == 0.0


async def test_no_budget_means_temperature_zero(make_agent: MakeAgent) -> None:
    agent = make_agent(echo)
    agent.start()
    for n in range(5):
        await agent.perturb(n)
    assert agent.counters().temperature == 0.0


@pytest.mark.parametrize(("own", "expected"), [(0.25, 0.25), (7.5, 1.0), (-2, 0.0), (1, 1.0)])
def test_the_agents_own_temperature_is_clamped(own: float, expected: float) -> None:
    class Warm:
        temperature = own

        def invoke(self, data: Any) -> Any:
            return data

    assert FluxAgent(Warm(), agent_id="warm").counters().temperature == expected


def test_a_boolean_temperature_attribute_is_ignored() -> None:
    class Odd:
        temperature = True

        def invoke(self, data: Any) -> Any:
            return data

    assert FluxAgent(Odd(), agent_id="odd").counters().temperature == 0.0


# -- in-process outputs ----------------------------------------------------------------------------


async def subscribed(agent: FluxAgent) -> AsyncIterator[Any]:
    """An outputs() subscription that is registered and has taken its first output."""
    stream = agent.outputs()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    assert await agent.perturb("first") == "first"
    assert await asyncio.wait_for(first, 1.0) == "first"
    return stream


async def test_outputs_receive_perturbation_and_source_outputs(make_agent: MakeAgent) -> None:
    feed: asyncio.Queue[Any] = asyncio.Queue()

    async def source() -> AsyncIterator[Any]:
        while True:
            yield await feed.get()

    agent = make_agent(echo, source=source())
    agent.start()
    stream = await subscribed(agent)
    await feed.put("from source")
    assert await asyncio.wait_for(anext(stream), 1.0) == "from source"
    await stream.aclose()


async def test_outputs_drop_oldest(make_agent: MakeAgent) -> None:
    config = FluxConfig(output_buffer=2, output_policy="drop_oldest")
    agent = make_agent(echo, config=config)
    agent.start()
    stream = await subscribed(agent)
    for n in range(2, 6):
        assert await agent.perturb(n) == n
    assert [await anext(stream), await anext(stream)] == [4, 5]
    await stream.aclose()


async def test_outputs_drop_newest(make_agent: MakeAgent) -> None:
    config = FluxConfig(output_buffer=2, output_policy="drop_newest")
    agent = make_agent(echo, config=config)
    agent.start()
    stream = await subscribed(agent)
    for n in range(2, 6):
        assert await agent.perturb(n) == n
    assert [await anext(stream), await anext(stream)] == [2, 3]
    await agent.perturb(6)
    assert await asyncio.wait_for(anext(stream), 1.0) == 6
    await stream.aclose()


async def test_outputs_block_holds_the_agent_until_read(make_agent: MakeAgent) -> None:
    config = FluxConfig(output_buffer=2, output_policy="block")
    agent = make_agent(echo, config=config)
    agent.start()
    stream = await subscribed(agent)
    for n in range(2, 5):
        assert await asyncio.wait_for(agent.perturb(n), 1.0) == n
    held = agent.submit(5)
    assert held.future is not None
    await asyncio.sleep(0.02)
    assert not held.future.done()
    assert agent.counters().queue_depth == 1

    received = [await asyncio.wait_for(anext(stream), 1.0) for _ in range(4)]
    assert received == [2, 3, 4, 5]
    assert await asyncio.wait_for(held.future, 1.0) == 5
    await stream.aclose()


async def test_closed_subscription_no_longer_holds_the_agent(make_agent: MakeAgent) -> None:
    config = FluxConfig(output_buffer=1, output_policy="block")
    agent = make_agent(echo, config=config)
    agent.start()
    stream = await subscribed(agent)
    await stream.aclose()
    for n in range(5):
        assert await asyncio.wait_for(agent.perturb(n), 1.0) == n
