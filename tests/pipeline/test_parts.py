"""The parts of a pipeline on their own: the graph, the rate window, a stage's hooks."""

from __future__ import annotations

import asyncio

import pytest

from terrarium.flux import AgentState
from terrarium.pipeline import RateWindow, StageGraph
from tests.pipeline.helpers import MakeStage, Recorder, eventually, items

# -- the graph -------------------------------------------------------------------------------


def test_order_puts_every_node_after_its_upstreams() -> None:
    graph = StageGraph()
    for up, down in [("c", "d"), ("a", "b"), ("b", "d"), ("a", "c")]:
        graph.connect(up, down)
    order = graph.order()
    assert sorted(order) == ["a", "b", "c", "d"]
    for up, down in graph.edges():
        assert order.index(up) < order.index(down)
    assert graph.heads() == ["a"]
    assert graph.tails() == ["d"]


def test_a_cycle_is_named_as_a_walk() -> None:
    graph = StageGraph()
    graph.connect("a", "b")
    graph.connect("b", "c")
    assert graph.cycle_through("c", "a") == ["a", "b", "c", "a"]
    assert graph.cycle_through("a", "a") == ["a", "a"]
    assert graph.cycle_through("a", "c") is None
    with pytest.raises(ValueError, match="cycle: a -> b -> c -> a"):
        graph.connect("c", "a")
    with pytest.raises(ValueError, match="already connected"):
        graph.connect("a", "b")


def test_a_copy_is_independent() -> None:
    graph = StageGraph()
    graph.connect("a", "b")
    trial = graph.copy()
    trial.connect("b", "c")
    assert "c" not in graph
    assert graph.edges() == [("a", "b")]


# -- the rate window -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_fresh_window_divides_by_its_minimum_span() -> None:
    clock = Clock()
    rate = RateWindow(5.0, min_span=1.0, clock=clock)
    assert rate.rate() == 0.0
    clock.now += 0.001
    rate.add(10)
    assert rate.rate() == 10.0


def test_the_rate_follows_the_window() -> None:
    clock = Clock()
    rate = RateWindow(4.0, min_span=1.0, resolution=0.1, clock=clock)
    for _ in range(40):  # 10 a second for 4 s
        clock.now += 0.1
        rate.add()
    assert rate.rate() == pytest.approx(10.0, rel=0.05)
    clock.now += 2.0  # 2 s of silence: half the window is empty
    assert rate.rate() == pytest.approx(5.0, rel=0.1)
    clock.now += 10.0
    assert rate.rate() == 0.0


def test_a_window_needs_positive_spans() -> None:
    with pytest.raises(ValueError):
        RateWindow(0)


# -- a stage's hooks -------------------------------------------------------------------------


async def test_feed_gives_a_dormant_agent_its_source(make_stage: MakeStage) -> None:
    agent = make_stage("a")
    agent.feed(items([1, 2]))
    with pytest.raises(ValueError, match="already has a source"):
        agent.feed(items([3]))
    agent.start()
    await eventually(lambda: isinstance(agent.handler, Recorder) and agent.handler.seen == [1, 2])
    with pytest.raises(ValueError, match="is flowing, not dormant"):
        agent.feed(items([]))


async def test_drain_serves_what_was_read_ahead(make_stage: MakeStage) -> None:
    recorder = Recorder(shut=True)
    agent = make_stage("a", recorder, source=items(range(20)))
    agent.start()
    await eventually(lambda: len(recorder.seen) == 1)
    draining = asyncio.ensure_future(agent.drain())
    for _ in range(10):
        await asyncio.sleep(0)
    recorder.open()
    await asyncio.wait_for(draining, 1.0)
    assert agent.state is AgentState.STOPPED
    assert recorder.seen == list(range(len(recorder.seen)))
    assert len(recorder.seen) > 1  # stop() would have served only the item in hand


async def test_drain_of_an_idle_or_dormant_agent_just_stops(make_stage: MakeStage) -> None:
    dormant, idle = make_stage("dormant"), make_stage("idle")
    idle.start()
    await asyncio.wait_for(dormant.drain(), 1.0)
    await asyncio.wait_for(idle.drain(source_ends=True), 1.0)
    assert dormant.state is idle.state is AgentState.STOPPED
