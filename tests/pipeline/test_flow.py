"""Data in motion: backpressure, counted drops and their events, failures, ordered drains."""

from __future__ import annotations

import asyncio
from typing import Any

from terrarium.flux import AgentState, FluxAgent
from terrarium.pipeline import DropReport, Edge, pipeline
from tests.pipeline.helpers import MakeStage, Recorder, endless, events, eventually, items


def recorder(stage: FluxAgent) -> Recorder:
    assert isinstance(stage.handler, Recorder)
    return stage.handler


async def settle(rounds: int = 20) -> None:
    """Let the loop run a while, so that anything that would move has moved."""
    for _ in range(rounds):
        await asyncio.sleep(0)


# -- backpressure ----------------------------------------------------------------------------


async def test_block_makes_the_upstream_wait_and_loses_nothing(make_stage: MakeStage) -> None:
    a = make_stage("a", source=items(range(30)), output_buffer=2, output_policy="block")
    b = make_stage("b", Recorder(shut=True), source_buffer=1)
    p = pipeline(a, b, id="slow")
    edge = p.edge(a, b)
    p.start()
    await eventually(lambda: edge.waits > 0)
    await settle()
    # b holds one item, reads one ahead and its pump holds one: a waits behind a full edge.
    assert edge.depth == edge.capacity == 2
    held = len(recorder(a).seen)
    assert held < 30
    await settle()
    assert len(recorder(a).seen) == held

    recorder(b).open()
    await eventually(lambda: len(recorder(b).seen) == 30)
    assert recorder(b).seen == list(range(30))
    assert edge.drops == 0
    assert edge.delivered == 30
    assert events(a, "drop") == []


async def test_drop_newest_counts_drops_and_tells_the_mirror(make_stage: MakeStage) -> None:
    a = make_stage("a", source=items(range(40)), output_buffer=2, output_policy="drop_newest")
    b = make_stage("b", Recorder(shut=True), source_buffer=1)
    p = pipeline(a, b, id="lossy")
    edge = p.edge(a, b)
    p.start()
    await eventually(lambda: len(recorder(a).seen) == 40)  # the upstream never waits
    await eventually(lambda: edge.drops > 0)
    recorder(b).open()
    await eventually(lambda: edge.delivered + edge.drops == 40 and edge.depth == 0)
    await p.stop()
    seen = recorder(b).seen
    assert len(seen) + edge.drops == 40
    assert seen == list(range(len(seen)))  # the newest were dropped: what came first arrived
    assert edge.waits == 0

    drops = events(a, "drop")
    assert 0 < len(drops) < edge.drops  # coalesced, not one event per drop
    for event in drops:
        assert event["data"]["pipeline"] == "lossy"
        [entry] = event["data"]["edges"]
        assert (entry["to"], entry["policy"], entry["reason"]) == ("b", "drop_newest", "full")
    assert drops[-1]["data"]["edges"][0]["total"] == edge.drops
    assert sum(event["data"]["edges"][0]["dropped"] for event in drops) == edge.drops


async def test_drop_oldest_keeps_the_latest(make_stage: MakeStage) -> None:
    a = make_stage("a", source=items(range(40)), output_buffer=2, output_policy="drop_oldest")
    b = make_stage("b", Recorder(shut=True), source_buffer=1)
    p = pipeline(a, b, id="fresh")
    edge = p.edge(a, b)
    p.start()
    await eventually(lambda: len(recorder(a).seen) == 40)
    recorder(b).open()
    await eventually(lambda: edge.delivered + edge.drops == 40 and edge.depth == 0)
    await p.stop()
    seen = recorder(b).seen
    assert edge.drops > 0
    assert len(seen) + edge.drops == 40
    assert seen[-2:] == [38, 39]
    assert seen == sorted(seen)
    [entry] = events(a, "drop")[-1]["data"]["edges"]
    assert (entry["policy"], entry["total"]) == ("drop_oldest", edge.drops)


async def test_drops_within_the_interval_wait_for_one_event(make_stage: MakeStage) -> None:
    a = make_stage("a", output_policy="drop_newest")
    b = make_stage("b")
    edge = Edge(a, b, capacity=1)
    report = DropReport(a, "p")
    edge.on_drop = report.note
    for _ in range(3):
        edge.put_nowait("x")  # the first fills the edge; the next two are dropped
    [first] = events(a, "drop")  # the first drop is told at once, the second waits
    assert first["data"] == {
        "pipeline": "p",
        "edges": [{"to": "b", "policy": "drop_newest", "reason": "full", "dropped": 1, "total": 1}],
    }
    report.flush()
    [entry] = events(a, "drop")[-1]["data"]["edges"]
    assert (entry["dropped"], entry["total"]) == (1, 2)
    report.flush()  # nothing new: no event
    assert len(events(a, "drop")) == 2


# -- failures --------------------------------------------------------------------------------


async def test_a_failing_stage_reports_and_the_others_keep_flowing(make_stage: MakeStage) -> None:
    def odd_fails(x: int) -> int:
        if x % 2:
            raise ValueError(f"odd {x}")
        return x

    a = make_stage("a", source=items(range(10)))
    b = make_stage("b", Recorder(odd_fails))
    c = make_stage("c")
    p = a | b | c
    p.start()
    await eventually(lambda: len(recorder(b).seen) == 10 and len(recorder(c).seen) == 5)
    assert recorder(c).seen == [0, 2, 4, 6, 8]
    errors = events(b, "error")
    assert [e["data"]["error"] for e in errors] == [f"odd {n}" for n in (1, 3, 5, 7, 9)]
    assert [stage.state for stage in p.stages] == [AgentState.FLOWING] * 3
    assert await b.perturb(4) == 4


async def test_a_downstream_that_stops_reading_never_holds_its_upstream(
    make_stage: MakeStage,
) -> None:
    a = make_stage("a", source=items(range(20)), output_buffer=1, output_policy="block")
    b = make_stage("b", Recorder(shut=True), source_buffer=1)
    p = a | b
    edge = p.edge(a, b)
    p.start()
    await eventually(lambda: edge.waits > 0)
    await b.kill()
    await eventually(lambda: len(recorder(a).seen) == 20)
    assert edge.closed
    assert edge.drops > 0
    await p.stop()
    [entry] = events(a, "drop")[-1]["data"]["edges"]
    assert (entry["reason"], entry["total"]) == ("closed", edge.drops)


# -- stopping --------------------------------------------------------------------------------


async def slow(x: Any) -> Any:
    await asyncio.sleep(0)
    return x


async def test_stop_drains_in_order_and_loses_nothing(make_stage: MakeStage) -> None:
    a = make_stage("a", Recorder(), source=endless(), output_buffer=4, source_buffer=8)
    b = make_stage("b", Recorder(lambda x: x * 10), output_buffer=2, source_buffer=4)
    c = make_stage("c", source_buffer=3)
    d = make_stage("d")
    p = pipeline(a, b, c, id="drained")
    p.connect(a, d)
    p.start()
    await eventually(lambda: len(recorder(c).seen) >= 50)
    await asyncio.wait_for(p.stop(), 2.0)

    entered = recorder(a).seen
    assert len(entered) >= 50
    assert recorder(b).seen == entered
    assert recorder(c).seen == [x * 10 for x in entered]
    assert recorder(d).seen == entered
    assert all(edge.drops == 0 and edge.depth == 0 for edge in p.edges)
    assert [stage.state for stage in p.stages] == [AgentState.STOPPED] * 4

    def stopped_at(stage: FluxAgent) -> float:
        [event] = [e for e in events(stage, "state") if e["data"]["state"] == "stopped"]
        return float(event["ts"])

    assert stopped_at(a) <= stopped_at(b) <= stopped_at(c)
    assert stopped_at(a) <= stopped_at(d)


async def test_stop_serves_what_the_first_stage_read_ahead(make_stage: MakeStage) -> None:
    a = make_stage("a", Recorder(shut=True), source=items(range(10)))
    b = make_stage("b")
    p = a | b
    p.start()
    await eventually(lambda: len(recorder(a).seen) == 1)
    stopping = asyncio.ensure_future(p.stop())
    await settle()
    recorder(a).open()
    await asyncio.wait_for(stopping, 2.0)
    # The pump read ahead before the stop: every item it read was served.
    assert recorder(b).seen == recorder(a).seen == list(range(10))


async def test_a_stage_that_never_ran_drops_its_edge_counted(make_stage: MakeStage) -> None:
    a = make_stage("a", source=items(range(3)))
    b = make_stage("b")
    p = a | b
    edge = p.edge(a, b)
    a.start()
    await eventually(lambda: edge.depth == 3)
    await p.stop()
    assert edge.drops == 3
    assert b.state is AgentState.STOPPED
    [entry] = events(a, "drop")[-1]["data"]["edges"]
    assert (entry["reason"], entry["total"]) == ("closed", 3)


async def test_kill_stops_every_stage_at_once(make_stage: MakeStage) -> None:
    a = make_stage("a", source=endless())
    b = make_stage("b", Recorder(shut=True))
    p = a | b
    p.start()
    await eventually(lambda: p.edge(a, b).depth > 0)
    await asyncio.wait_for(p.kill(), 1.0)
    assert [stage.state for stage in p.stages] == [AgentState.STOPPED] * 2
    assert p.edge(a, b).closed
