"""Pipelines: flux agents composed into a graph, each stage's outputs its downstream's source.

Composing wires at once: an edge subscribes to its upstream's outputs and the
downstream is fed an inlet over its edges. So whoever starts the stages (the
pipeline, a registry, a server starting its agents) finds them connected, and
nothing an upstream emits before its downstream runs is lost: it waits on the
edge. Every stage must be dormant when composed, so no output is ever missed.
"""

from __future__ import annotations

import asyncio
from typing import TypeAlias, cast

from terrarium import protocol
from terrarium.names import NAME_RULE, is_name
from terrarium.pipeline.drops import DropReport
from terrarium.pipeline.edge import Edge
from terrarium.pipeline.graph import StageGraph
from terrarium.pipeline.inlet import Inlet
from terrarium.pipeline.stage import Stage, dormant
from terrarium.protocol import AgentState


class UnknownPipeline(LookupError):
    """No pipeline is registered under this id."""


class Pipeline:
    """Flux agents as the stages of one acyclic graph, started and stopped as one."""

    def __init__(self, pipeline_id: str) -> None:
        if not is_name(pipeline_id):
            raise ValueError(f"pipeline id {pipeline_id!r} must be {NAME_RULE}")
        self.id = pipeline_id
        self._graph = StageGraph()
        self._stages: dict[str, Stage] = {}
        self._edges: dict[tuple[str, str], Edge] = {}
        self._inlets: dict[str, Inlet] = {}
        self._reports: dict[str, DropReport] = {}
        #: The pipeline this one was joined into (its stages and edges are there now).
        self._joined: str | None = None
        self._stopping: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Pipeline {self.id}: {len(self._stages)} stages, {len(self._edges)} edges>"

    def __contains__(self, agent: object) -> bool:
        return isinstance(agent, Stage) and self._stages.get(agent.id) is agent

    # -- the graph ----------------------------------------------------------------------

    @property
    def stages(self) -> list[Stage]:
        """Every stage after all of its upstream stages (none once joined into another)."""
        return [self._stages[stage_id] for stage_id in self._graph.order()]

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges.values())

    @property
    def heads(self) -> list[Stage]:
        """Stages nothing in the pipeline flows into: where data enters."""
        return [self._stages[stage_id] for stage_id in self._graph.heads()]

    @property
    def tails(self) -> list[Stage]:
        """Stages that flow into nothing in the pipeline: where data leaves."""
        return [self._stages[stage_id] for stage_id in self._graph.tails()]

    def edge(self, upstream: Stage | str, downstream: Stage | str) -> Edge:
        key = (_id_of(upstream), _id_of(downstream))
        try:
            return self._edges[key]
        except KeyError:
            raise KeyError(f"pipeline {self.id!r} has no edge {key[0]} -> {key[1]}") from None

    # -- composition ----------------------------------------------------------------------

    def add(self, part: Part) -> Pipeline:
        """Put a stage, or another pipeline's stages and edges, in, connected to nothing.

        Parts added side by side merge downstream of them (``merge(a, b) | c``)
        and fan out upstream of them (``a | merge(b, c)``).
        """
        self._check_usable()
        self._check_part(part)
        self._absorb(part)
        return self

    def connect(self, upstream: Stage, downstream: Stage, *, capacity: int | None = None) -> Edge:
        """Make ``upstream``'s outputs part of ``downstream``'s source; either may be new.

        ``capacity`` defaults to the upstream's ``output_buffer``; what a full
        edge does is the upstream's ``output_policy``.
        """
        self._check_usable()
        for stage in (upstream, downstream):
            self._check_stage(stage)
        self._check_link(self._graph, upstream, downstream)
        for stage in (upstream, downstream):
            self._absorb(stage)
        return self._link(upstream, downstream, capacity)

    def __or__(self, other: Part) -> Pipeline:
        """Extend this pipeline: its last stages feed ``other``'s first ones.

        The pipeline changes in place (and is returned), as its stages are
        wired at once; ``other``, if a pipeline, is joined into this one.
        """
        self._check_usable()
        self._check_part(other)
        heads = [other] if isinstance(other, Stage) else other.heads
        links = [(tail, head) for tail in self.tails for head in heads]
        trial = self._graph.copy()
        if isinstance(other, Pipeline):
            trial.absorb(other._graph)
        for tail, head in links:
            self._check_link(trial, tail, head)
            trial.connect(tail.id, head.id)
        self._absorb(other)
        for tail, head in links:
            self._link(tail, head, None)
        return self

    def _check_usable(self) -> None:
        if self._joined is not None:
            raise ValueError(f"pipeline {self.id!r} was joined into {self._joined!r}; use that one")

    def _check_part(self, part: Part) -> None:
        if isinstance(part, Stage):
            self._check_stage(part)
        elif isinstance(part, Pipeline):
            part._check_usable()
            if part is self:
                raise ValueError(f"pipeline {self.id!r} cannot be joined into itself")
            for stage in part._stages.values():
                self._check_stage(stage)
        else:
            raise TypeError(f"a pipeline is made of flux agents and pipelines, not {part!r}")

    def _check_stage(self, stage: Stage) -> None:
        known = self._stages.get(stage.id)
        if known is not None and known is not stage:
            raise ValueError(f"pipeline {self.id!r} already has another stage {stage.id!r}")
        if known is None and not dormant(stage):
            raise ValueError(
                f"stage {stage.id!r} is {stage.state.value}: a stage must be dormant when composed"
            )

    def _check_link(self, graph: StageGraph, upstream: Stage, downstream: Stage) -> None:
        cycle = graph.cycle_through(upstream.id, downstream.id)
        if cycle is not None:
            raise ValueError(f"pipeline {self.id!r} would have a cycle: {' -> '.join(cycle)}")
        if (upstream.id, downstream.id) in self._edges:
            raise ValueError(
                f"pipeline {self.id!r} already connects {upstream.id} -> {downstream.id}"
            )
        if downstream.id in self._inlets:
            return
        if downstream.source is not None:
            raise ValueError(
                f"stage {downstream.id!r} already has its own source: "
                "only a first stage of a pipeline may have one"
            )
        if not dormant(downstream):
            raise ValueError(
                f"stage {downstream.id!r} is {downstream.state.value}: "
                "only a dormant stage can be given upstream stages"
            )

    def _absorb(self, part: Part) -> None:
        """Take in a stage or a whole pipeline (checked already)."""
        if isinstance(part, Stage):
            self._graph.add(part.id)
            self._stages[part.id] = part
            return
        for report in part._reports.values():
            report.flush()
        self._graph.absorb(part._graph)
        self._stages.update(part._stages)
        for key, edge in part._edges.items():
            edge.on_drop = self._note_drop
            self._edges[key] = edge
        self._inlets.update(part._inlets)
        part._joined = self.id
        part._graph = StageGraph()
        part._stages, part._edges, part._inlets, part._reports = {}, {}, {}, {}

    def _link(self, upstream: Stage, downstream: Stage, capacity: int | None) -> Edge:
        edge = Edge(upstream, downstream, capacity=capacity)
        inlet = self._inlets.get(downstream.id)
        if inlet is None:
            inlet = Inlet()
            downstream.feed(inlet)
            self._inlets[downstream.id] = inlet
        self._graph.connect(upstream.id, downstream.id)
        edge.on_drop = self._note_drop
        upstream.subscribe(edge)
        inlet.add(edge)
        self._edges[upstream.id, downstream.id] = edge
        return edge

    def _note_drop(self, edge: Edge) -> None:
        report = self._reports.get(edge.upstream.id)
        if report is None:
            report = self._reports[edge.upstream.id] = DropReport(edge.upstream, self.id)
        report.note(edge)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start every dormant stage, downstream first, so each finds its readers flowing."""
        self._check_usable()
        for stage in reversed(self.stages):
            if dormant(stage):
                stage.start()

    async def stop(self) -> None:
        """Drain in order: nothing that entered a stage is lost.

        The first stages stop reading their sources and serve what they read;
        then, stage after stage in topological order, each reads its edges
        empty (its upstreams have all stopped), serves what it read and stops.
        """
        self._check_usable()
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(
                self._drain(), name=f"terrarium-pipeline-stop-{self.id}"
            )
        await asyncio.shield(self._stopping)

    async def _drain(self) -> None:
        for stage in self.stages:
            inlet = self._inlets.get(stage.id)
            if inlet is None:
                await stage.drain()
                continue
            inlet.close()
            await stage.drain(source_ends=True)
            inlet.shut()  # a stage that never ran leaves its edges full: dropped, counted
        self._flush_drops()

    async def kill(self) -> None:
        """Stop every stage at once; what waits on the edges is dropped, counted."""
        for stage in self.stages:
            await stage.kill()
        for inlet in self._inlets.values():
            inlet.shut()
        self._flush_drops()

    def _flush_drops(self) -> None:
        for report in self._reports.values():
            report.flush()

    # -- description ----------------------------------------------------------------------

    def describe(self) -> protocol.Pipeline:
        """What a REST route shows of the pipeline: its stages and its edges' live stats."""
        return {
            "id": self.id,
            "stages": [
                {"id": stage.id, "state": cast(AgentState, stage.state.value), "genus": stage.genus}
                for stage in self.stages
            ],
            "edges": [edge.describe() for edge in self._edges.values()],
        }


#: What a pipeline is composed of: single stages, and other pipelines.
Part: TypeAlias = Stage | Pipeline


def pipeline(*parts: Part, id: str | None = None) -> Pipeline:
    """Chain parts: each part's last stages feed the next part's first stages.

    ``pipeline(a, b, c, id="etl")`` is ``a | b | c`` named ``etl``. A first
    part that is a pipeline is extended in place when no ``id`` is given.
    """
    if not parts:
        raise ValueError("a pipeline needs at least one stage")
    first, rest = parts[0], parts[1:]
    if isinstance(first, Pipeline) and id is None:
        composed = first
    else:
        composed = Pipeline(id if id is not None else _default_id(first)).add(first)
    for part in rest:
        composed = composed | part
    return composed


def merge(*parts: Part, id: str | None = None) -> Pipeline:
    """Parts side by side: ``merge(a, b) | c`` merges into c, ``x | merge(a, b)`` fans out."""
    if not parts:
        raise ValueError("merge needs at least one stage")
    composed = Pipeline(id if id is not None else _default_id(parts[0]))
    for part in parts:
        composed.add(part)
    return composed


def _default_id(part: Part) -> str:
    """``<first stage>-pipeline``, cut to fit a name's 128 characters."""
    if isinstance(part, Pipeline):
        return part.id
    if isinstance(part, Stage):
        return f"{part.id[:119]}-pipeline"
    raise TypeError(f"a pipeline is made of flux agents and pipelines, not {part!r}")


def _id_of(stage: Stage | str) -> str:
    return stage if isinstance(stage, str) else stage.id
