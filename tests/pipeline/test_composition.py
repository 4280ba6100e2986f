"""Composing pipelines: chains, fan-out, fan-in, what is refused, and describe()."""

from __future__ import annotations

import asyncio
import json

import pytest

from terrarium.flux import AgentState, FluxAgent
from terrarium.pipeline import Pipeline, merge, pipeline
from tests.pipeline.helpers import MakeStage, Recorder, eventually, items


def recorder(stage: FluxAgent) -> Recorder:
    assert isinstance(stage.handler, Recorder)
    return stage.handler


# -- chains ------------------------------------------------------------------------------


async def test_a_chain_composes_the_stages_outputs(make_stage: MakeStage) -> None:
    a = make_stage("a", Recorder(lambda x: x + 1), source=items(range(5)))
    b = make_stage("b", Recorder(lambda x: x * 2))
    c = make_stage("c", Recorder(lambda x: f"<{x}>"))
    p = a | b | c
    assert isinstance(p, Pipeline)
    assert [stage.id for stage in p.stages] == ["a", "b", "c"]
    p.start()
    await eventually(lambda: len(recorder(c).seen) == 5)
    assert recorder(c).seen == [2, 4, 6, 8, 10]
    assert all(stage.state is AgentState.FLOWING for stage in p.stages)


async def test_pipeline_names_a_chain(make_stage: MakeStage) -> None:
    a, b, c = make_stage("a"), make_stage("b"), make_stage("c")
    p = pipeline(a, b, c, id="etl")
    assert p.id == "etl"
    assert [(e.upstream.id, e.downstream.id) for e in p.edges] == [("a", "b"), ("b", "c")]


async def test_or_on_a_pipeline_extends_it_in_place(make_stage: MakeStage) -> None:
    a, b, c = make_stage("a"), make_stage("b"), make_stage("c")
    p = a | b
    assert p.id == "a-pipeline"
    assert (p | c) is p
    assert [stage.id for stage in p.stages] == ["a", "b", "c"]
    assert p.heads == [a]
    assert p.tails == [c]


async def test_perturbing_a_stage_feeds_its_downstream(make_stage: MakeStage) -> None:
    a, b = make_stage("a", Recorder(str.upper)), make_stage("b")
    p = a | b
    p.start()
    assert await a.perturb("hi") == "HI"
    await eventually(lambda: recorder(b).seen == ["HI"])


# -- fan-out and fan-in ---------------------------------------------------------------------


async def test_fan_out_gives_every_output_to_each_downstream(make_stage: MakeStage) -> None:
    a = make_stage("a", source=items(range(4)))
    b, c = make_stage("b"), make_stage("c")
    p = a | merge(b, c)
    assert sorted((e.upstream.id, e.downstream.id) for e in p.edges) == [("a", "b"), ("a", "c")]
    p.start()
    await eventually(lambda: len(recorder(b).seen) == 4 and len(recorder(c).seen) == 4)
    assert recorder(b).seen == recorder(c).seen == [0, 1, 2, 3]


async def test_merge_interleaves_upstreams_keeping_each_ones_order(make_stage: MakeStage) -> None:
    a = make_stage("a", source=items([1, 2, 3]))
    b = make_stage("b", source=items([10, 20, 30]))
    c = make_stage("c")
    p = merge(a, b, id="both") | c
    assert p.id == "both"
    p.start()
    await eventually(lambda: len(recorder(c).seen) == 6)
    seen = recorder(c).seen
    assert [x for x in seen if x < 10] == [1, 2, 3]
    assert [x for x in seen if x >= 10] == [10, 20, 30]


async def test_connect_builds_a_diamond(make_stage: MakeStage) -> None:
    top = make_stage("top", source=items(range(3)))
    left = make_stage("left", Recorder(lambda x: ("l", x)))
    right = make_stage("right", Recorder(lambda x: ("r", x)))
    bottom = make_stage("bottom")
    p = pipeline(top, left, bottom, id="diamond")
    p.connect(top, right)
    edge = p.connect(right, bottom, capacity=7)
    assert edge.capacity == 7
    assert p.edge("right", bottom) is edge
    assert [stage.id for stage in p.stages] == ["top", "left", "right", "bottom"]
    p.start()
    await eventually(lambda: len(recorder(bottom).seen) == 6)
    assert sorted(recorder(bottom).seen) == [(side, n) for side in "lr" for n in range(3)]


async def test_the_one_line_diamond_is_the_same_graph(make_stage: MakeStage) -> None:
    top, left, right, bottom = (make_stage(n) for n in ("top", "left", "right", "bottom"))
    p = top | merge(left, right) | bottom
    assert sorted((e.upstream.id, e.downstream.id) for e in p.edges) == [
        ("left", "bottom"),
        ("right", "bottom"),
        ("top", "left"),
        ("top", "right"),
    ]


async def test_a_flowing_pipeline_grows_by_dormant_stages(make_stage: MakeStage) -> None:
    a, b, c, d = (make_stage(n) for n in "abcd")
    p = a | b
    p.start()
    p | c
    with pytest.raises(ValueError, match="'a' is flowing: only a dormant stage can be given"):
        p.connect(d, a)
    assert d not in p
    p.start()  # starts what is dormant: c
    assert c.state is AgentState.FLOWING
    await a.perturb("x")
    await eventually(lambda: recorder(c).seen == ["x"])


# -- what is refused -------------------------------------------------------------------------


async def test_a_cycle_is_refused_naming_it(make_stage: MakeStage) -> None:
    a, b, c = make_stage("a"), make_stage("b"), make_stage("c")
    p = pipeline(a, b, c, id="p")
    with pytest.raises(ValueError, match=r"^pipeline 'p' would have a cycle: a -> b -> c -> a$"):
        p.connect(c, a)
    with pytest.raises(ValueError, match=r"would have a cycle: b -> b$"):
        p.connect(b, b)
    with pytest.raises(ValueError, match=r"would have a cycle: a -> b -> c -> a$"):
        p | a
    assert len(p.edges) == 2
    assert a.source is None


async def test_a_downstream_stage_must_not_have_its_own_source(make_stage: MakeStage) -> None:
    a = make_stage("a")
    fed = make_stage("fed", source=items([1]))
    with pytest.raises(ValueError, match="'fed' already has its own source"):
        a | fed
    p = pipeline(fed, a, id="ok")  # a first stage may have one
    assert p.heads == [fed]


async def test_a_stage_must_be_dormant(make_stage: MakeStage) -> None:
    a, b = make_stage("a"), make_stage("b")
    b.start()
    with pytest.raises(ValueError, match="'b' is flowing: a stage must be dormant"):
        a | b
    assert b.source is None


async def test_a_refused_fan_out_wires_nothing(make_stage: MakeStage) -> None:
    a, b = make_stage("a"), make_stage("b")
    fed = make_stage("fed", source=items([1]))
    with pytest.raises(ValueError, match="'fed' already has its own source"):
        a | merge(b, fed)
    assert b.source is None


def test_pipeline_ids_are_names() -> None:
    for bad in ("", "..", "a b", "x" * 129, "p\n"):
        with pytest.raises(ValueError, match="must be 1-128"):
            Pipeline(bad)


async def test_two_stages_with_one_id_are_refused(make_stage: MakeStage) -> None:
    with pytest.raises(ValueError, match="already has another stage 'a'"):
        make_stage("a") | make_stage("a")


async def test_a_joined_pipeline_points_to_the_one_it_joined(make_stage: MakeStage) -> None:
    a, b, c = make_stage("a"), make_stage("b"), make_stage("c")
    tail = pipeline(b, c, id="tail")
    whole = a | tail
    assert [stage.id for stage in whole.stages] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="'tail' was joined into 'a-pipeline'"):
        tail.start()


# -- describe --------------------------------------------------------------------------------


async def test_describe_is_json_with_stages_and_edge_stats(make_stage: MakeStage) -> None:
    a = make_stage("a", source=items(range(3)), output_buffer=8)
    b = make_stage("b", Recorder(), output_policy="drop_oldest")
    c = make_stage("c")
    p = pipeline(a, b, c, id="shown")
    p.start()
    await eventually(lambda: len(recorder(c).seen) == 3)
    described = json.loads(json.dumps(p.describe()))
    assert described["id"] == "shown"
    assert described["stages"] == [
        {"id": "a", "state": "flowing", "genus": None},
        {"id": "b", "state": "flowing", "genus": None},
        {"id": "c", "state": "flowing", "genus": None},
    ]
    first, second = described["edges"]
    assert set(first) >= {"from", "to", "rate", "depth", "capacity", "drops", "delivered"}
    assert (first["from"], first["to"], first["capacity"]) == ("a", "b", 8)
    assert first["policy"] == "block"
    assert (second["policy"], second["capacity"]) == ("drop_oldest", 256)
    assert first["delivered"] == 3
    assert first["depth"] == first["drops"] == 0
    # A fresh edge is not taken for a fast one: three items read as at most three a second.
    assert 0 < first["rate"] <= 3


async def test_a_pipeline_can_be_stopped_before_it_started(make_stage: MakeStage) -> None:
    p = make_stage("a") | make_stage("b")
    await asyncio.wait_for(p.stop(), 1.0)
    assert [stage.state for stage in p.stages] == [AgentState.STOPPED] * 2
