"""A registry adopts pipelines: their stages as agents, the pipeline by its id."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from terrarium.flux import AgentState, FluxAgent
from terrarium.pipeline import UnknownPipeline, pipeline
from terrarium.registry import AgentRegistry, MirrorSettings
from tests.pipeline.helpers import MakeStage, Recorder, endless, eventually, items


@pytest.fixture
def registry(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[AgentRegistry]:
    made = AgentRegistry(MirrorSettings(history_size=7))
    yield made
    jp_asyncio_loop.run_until_complete(made.close())


def recorder(stage: FluxAgent) -> Recorder:
    assert isinstance(stage.handler, Recorder)
    return stage.handler


async def test_registering_a_pipeline_registers_and_starts_its_stages(
    registry: AgentRegistry, make_stage: MakeStage
) -> None:
    a = make_stage("a", source=items(range(3)))
    b, c = make_stage("b"), make_stage("c")
    p = pipeline(a, b, c, id="etl")
    assert registry.register_pipeline(p) is p
    assert [agent.id for agent in registry] == ["a", "b", "c"]
    assert registry.pipeline("etl") is p
    assert registry.pipelines == {"etl": p}
    assert registry.mirror("a").history_size == 7  # the registry's mirrors, bound in time
    await eventually(lambda: len(recorder(c).seen) == 3)
    assert [stage.state for stage in p.stages] == [AgentState.FLOWING] * 3


async def test_a_stage_registered_before_is_kept(
    registry: AgentRegistry, make_stage: MakeStage
) -> None:
    a, b = make_stage("a"), make_stage("b")
    p = a | b
    registry.register(b, start=False)
    registry.register_pipeline(p)
    assert registry.get("b") is b
    assert b.state is AgentState.FLOWING
    assert await a.perturb(1) == 1
    await eventually(lambda: recorder(b).seen == [1])


async def test_unknown_pipelines_are_told_by_name(registry: AgentRegistry) -> None:
    with pytest.raises(UnknownPipeline, match="no pipeline 'nope'"):
        registry.pipeline("nope")
    with pytest.raises(LookupError):
        await registry.unregister_pipeline("nope")


async def test_a_refused_pipeline_registers_nothing(
    registry: AgentRegistry, make_stage: MakeStage
) -> None:
    registry.register(make_stage("b"))
    p = make_stage("a") | make_stage("b")
    with pytest.raises(ValueError, match="another agent 'b' is registered"):
        registry.register_pipeline(p)
    assert [agent.id for agent in registry] == ["b"]
    assert registry.pipelines == {}


def test_a_pipeline_id_and_a_stage_are_registered_once(make_stage: MakeStage) -> None:
    registry = AgentRegistry()  # outside a loop, so the stages stay dormant and composable
    a, b, c = make_stage("a"), make_stage("b"), make_stage("c")
    registry.register_pipeline(pipeline(a, b, id="one"))
    with pytest.raises(ValueError, match="pipeline 'one' is already registered"):
        registry.register_pipeline(pipeline(c, id="one"))
    with pytest.raises(ValueError, match="'a' is in pipeline 'one' already"):
        registry.register_pipeline(pipeline(a, c, id="two"))
    assert "c" not in registry


async def test_unregistering_a_pipeline_drains_it_and_removes_its_stages(
    registry: AgentRegistry, make_stage: MakeStage
) -> None:
    a = make_stage("a", Recorder(), source=endless(), output_buffer=4)
    b = make_stage("b", source_buffer=2)
    p = registry.register_pipeline(a | b)
    registry.register(make_stage("other"))
    await eventually(lambda: len(recorder(b).seen) >= 10)
    await asyncio.wait_for(registry.unregister_pipeline(p.id), 2.0)
    assert recorder(b).seen == recorder(a).seen
    assert [agent.id for agent in registry] == ["other"]
    assert registry.pipelines == {}
    assert [stage.state for stage in p.stages] == [AgentState.STOPPED] * 2


async def test_closing_the_registry_removes_its_pipelines(make_stage: MakeStage) -> None:
    registry = AgentRegistry()
    p = registry.register_pipeline(make_stage("a", source=endless()) | make_stage("b"))
    await asyncio.wait_for(registry.close(), 1.0)
    assert registry.pipelines == {}
    assert len(registry) == 0
    assert [stage.state for stage in p.stages] == [AgentState.STOPPED] * 2


def test_registered_outside_a_loop_the_stages_wait_wired(make_stage: MakeStage) -> None:
    registry = AgentRegistry()
    p = registry.register_pipeline(make_stage("a") | make_stage("b"))
    assert [stage.state for stage in p.stages] == [AgentState.DORMANT] * 2
    assert len(p.edges) == 1
