"""The demo agents: the heartbeat's temperature moves without draining it, and the
approver keeps only a few decisions pending.

Time is the test's: the heartbeat's entropy clock (``time.monotonic`` as
``terrarium.flux`` sees it) is a value the test moves beat by beat.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import terrarium.flux
from terrarium.demo.agents import (
    APPROVAL_THRESHOLD,
    APPROVER_MAX_PENDING,
    HEARTBEAT_CYCLE_SECONDS,
    HEARTBEAT_ENTROPY_BUDGET,
    HEARTBEAT_ENTROPY_DECAY,
    HEARTBEAT_RACE_SECONDS,
    HEARTBEAT_REST_SECONDS,
    Approver,
    _request,
    approver_agent,
    heartbeat_agent,
    heartbeat_config,
    heartbeat_pace,
    heartbeats,
)
from terrarium.flux import AgentState, Ejected, FluxAgent
from terrarium.sources import from_iterable

# -- the heartbeat's temperature ---------------------------------------------------------------


class Clock:
    """``time.monotonic`` for the flux module, moved by the test."""

    def __init__(self) -> None:
        self.start = self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(terrarium.flux, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


def beat_times(until: float, since: float = 0.0, interval: float = 0.5) -> Iterator[float]:
    """When the heartbeat beats from ``since`` to ``until`` seconds into its life."""
    at = 0.0
    while at < until:
        if at >= since:
            yield at
        at += heartbeat_pace(at, interval)


def test_the_heartbeat_races_then_rests() -> None:
    assert heartbeat_pace(0.0) == 0.25
    assert heartbeat_pace(HEARTBEAT_RACE_SECONDS - 0.01) == 0.25
    assert heartbeat_pace(HEARTBEAT_RACE_SECONDS) == 0.5
    assert heartbeat_pace(HEARTBEAT_CYCLE_SECONDS - 0.01) == 0.5
    assert heartbeat_pace(HEARTBEAT_CYCLE_SECONDS) == 0.25
    assert max(heartbeat_pace(t / 10, 2.0) for t in range(1200)) == 2.0


def test_on_the_numbers_a_cycle_sheds_more_than_it_gains_and_peaks_below_budget() -> None:
    """Per second at rest: spend 2, shed 3; racing: spend 4, shed 3. So a race warms
    it by its length, a rest cools it by its length, and the peak is a race's worth
    (plus one beat) of the budget."""
    for interval in (0.5, 0.1, 2.0):
        config = heartbeat_config(interval)
        assert config.entropy_budget == HEARTBEAT_ENTROPY_BUDGET
        assert config.entropy_decay == HEARTBEAT_ENTROPY_DECAY
        resting = config.entropy_cost / interval - config.entropy_decay
        racing = 2 * config.entropy_cost / interval - config.entropy_decay
        assert resting == pytest.approx(-1.0)
        assert racing == pytest.approx(1.0)
        gained = racing * HEARTBEAT_RACE_SECONDS
        shed = -resting * HEARTBEAT_REST_SECONDS
        assert shed >= 2 * gained  # every rest ends cold, with time to spare
        peak = gained + config.entropy_cost
        assert 0.3 <= peak / HEARTBEAT_ENTROPY_BUDGET <= 0.5  # visible, far from the budget
    # At the default pace, the hot heartbeat takes 25 more events at once (perturbations).
    config = heartbeat_config()
    peak = HEARTBEAT_RACE_SECONDS + config.entropy_cost
    assert (HEARTBEAT_ENTROPY_BUDGET - peak) / config.entropy_cost >= 25


async def beat(agent: FluxAgent, clock: Clock, until: float, since: float = 0.0) -> list[float]:
    """Beat the agent as the heartbeat beats from ``since`` to ``until`` seconds into its
    life (``clock.start`` is its birth); its temperature after each beat, as the gateway
    reads it."""
    temperatures = []
    for n, at in enumerate(beat_times(until, since), 1):
        clock.now = clock.start + at
        await agent.perturb(n)
        assert agent.state is AgentState.FLOWING, (at, agent.counters())
        temperatures.append(agent.counters().temperature)
    return temperatures


@pytest.fixture
def heart(clock: Clock, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[FluxAgent]:
    """The demo heartbeat's handler and config, beaten by the test instead of its source."""
    demo = heartbeat_agent()
    agent = FluxAgent(demo.handler, agent_id="heartbeat", config=demo.config)
    yield agent
    jp_asyncio_loop.run_until_complete(agent.kill())


async def test_the_heartbeat_warms_and_cools_and_keeps_flowing_for_an_hour(
    heart: FluxAgent, clock: Clock
) -> None:
    heart.start()
    temperatures = await beat(heart, clock, 3600.0)
    assert len(temperatures) > 9000
    assert max(temperatures) < 0.5
    assert max(temperatures) > 0.35
    assert min(temperatures) < 0.05
    # The last cycle looks like the first: no drift towards the budget.
    per_cycle = len(temperatures) // 60
    assert max(temperatures[-per_cycle:]) == pytest.approx(max(temperatures[:per_cycle]), abs=0.02)


async def test_the_hot_heartbeat_takes_a_burst_of_perturbations(
    heart: FluxAgent, clock: Clock
) -> None:
    heart.start()
    hottest = max(await beat(heart, clock, HEARTBEAT_RACE_SECONDS))
    assert hottest > 0.35
    for n in range(25):
        await heart.perturb({"poke": n})
    assert heart.state is AgentState.FLOWING
    assert heart.counters().temperature < 1.0
    # It cools (a rest sheds 40, a race adds 20) and keeps beating.
    later = await beat(heart, clock, 2 * HEARTBEAT_CYCLE_SECONDS, since=HEARTBEAT_RACE_SECONDS)
    assert later[-1] < 0.05


async def test_heartbeats_number_every_beat() -> None:
    beats = heartbeats(0.001)
    assert [await anext(beats) for _ in range(5)] == [1, 2, 3, 4, 5]


async def test_heartbeats_refuse_a_non_positive_interval() -> None:
    with pytest.raises(ValueError):
        await anext(heartbeats(0))


# -- the approver's pending decisions ------------------------------------------------------------


def large(n: int) -> bool:
    return int(_request(n)["records"]) > APPROVAL_THRESHOLD


async def test_an_unattended_hour_leaves_at_most_a_few_decisions_pending() -> None:
    """An hour of the approver's stream (one request every 15 s) with nobody answering."""
    hour = [_request(n) for n in range(1, 241)]
    agent = approver_agent(requests=from_iterable(hour))
    outputs: asyncio.Queue[Any] = asyncio.Queue()
    agent.subscribe(outputs)
    agent.start()
    await agent.drain(source_ends=True)
    pending = agent.purgatory.pending()
    assert len(pending) == APPROVER_MAX_PENDING
    results = [outputs.get_nowait() for _ in range(outputs.qsize())]
    auto = [result for result in results if result.get("auto")]
    asked = sum(map(large, range(1, 241))) - len(auto)
    assert asked == APPROVER_MAX_PENDING
    assert all(result["deleted"] == 0 and result["approved"] is False for result in auto)
    assert auto[0]["reason"] == f"{APPROVER_MAX_PENDING} decisions already wait for a human"


async def silence() -> AsyncIterator[Any]:
    """A source that never yields: the tests send the stream's requests themselves."""
    await asyncio.Event().wait()
    yield None  # pragma: no cover


@pytest.fixture
def approver(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[FluxAgent]:
    agent = approver_agent(requests=silence())
    yield agent
    jp_asyncio_loop.run_until_complete(agent.kill())


async def test_the_approver_asks_again_once_a_decision_is_made(approver: FluxAgent) -> None:
    approver.start()
    asked = [await approver.perturb(_request(1)) for _ in range(APPROVER_MAX_PENDING)]
    assert all(isinstance(answer, Ejected) for answer in asked)
    assert (await approver.perturb(_request(3)))["auto"] is True
    first = asked[0]
    assert isinstance(first, Ejected)
    approver.purgatory.resolve(first.token.id, "Approve")
    assert await first.resolution == {"deleted": 47, "approved": True}
    assert isinstance(await approver.perturb(_request(3)), Ejected)
    assert (await approver.perturb(_request(1)))["auto"] is True
    assert len(approver.purgatory.pending()) == APPROVER_MAX_PENDING


async def test_a_request_sent_through_the_beam_always_asks(approver: FluxAgent) -> None:
    approver.start()
    for _ in range(APPROVER_MAX_PENDING):
        assert isinstance(await approver.perturb(_request(1)), Ejected)
    for _ in range(2):
        answer = await approver.perturb({"action": "delete", "records": 47})
        assert isinstance(answer, Ejected)
    assert len(approver.purgatory.pending()) == APPROVER_MAX_PENDING + 2


async def test_small_requests_are_deleted_whatever_is_pending(approver: FluxAgent) -> None:
    approver.start()
    for _ in range(APPROVER_MAX_PENDING):
        await approver.perturb(_request(1))
    assert await approver.perturb(_request(2)) == {"deleted": 8}


async def test_an_approver_without_an_agent_always_asks() -> None:
    answer = await Approver().invoke(_request(1))
    assert answer.prompt == "Delete 47 records?"
