"""The agent registry: owns the agents and their mirrors, and measures them.

The gateway (the Jupyter extension, or any asyncio program) builds one
registry and hands it to whatever serves the agents. The registry, not the
agent, ticks ``metabolism`` events, and only while an agent has observers
(here, or on another replica when a distributed bus says so).

With a ``membership`` (a distributed bus), registering hands the agent to the
bus, which starts it once it has claimed the agent and reloaded its history,
so seqs carry on from the shared stream instead of restarting at 1.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from terrarium.errors import UnknownAgent
from terrarium.flux import AgentState, FluxAgent
from terrarium.metrics import Metabolism, MetabolismMeter
from terrarium.mirror import (
    CLOSE_AGENT_REMOVED,
    MAX_BYTES,
    PLAIN,
    Framing,
    HolographicBuffer,
    SlowObserverPolicy,
)
from terrarium.pipeline import UnknownPipeline
from terrarium.pipeline.served import ServedPipeline
from terrarium.prism.commands import Prism, exposed
from terrarium.protocol import Status
from terrarium.purgatory.stores import MemoryTokenStore, TokenStore
from terrarium.purgatory.tokens import SemaphoreToken

#: A pipeline this process runs, or one a kernel publishes: what ``register_pipeline`` takes.
P = TypeVar("P", bound=ServedPipeline)


class Membership(Protocol):
    """What a registry tells a distributed bus: an agent arrived (to start when the bus
    is ready), or left. Declared here, where it is used, so the registry needs no bus."""

    def adopt(self, agent: FluxAgent, start: Callable[[], None] | None) -> None: ...

    def release(self, agent_id: str) -> None: ...


@dataclass
class MirrorSettings:
    """How every mirror of a registry is built."""

    history_size: int = 100
    observer_queue_size: int = 1024
    slow_observer_policy: SlowObserverPolicy = "gap"
    #: Bytes of frames each mirror keeps at most (``HolographicBuffer.max_bytes``).
    max_bytes: int = MAX_BYTES
    framing: Framing = PLAIN


@dataclass(eq=False)
class _Entry:
    agent: FluxAgent
    meter: MetabolismMeter = field(default_factory=MetabolismMeter)
    ticker: asyncio.Task[None] | None = None
    #: The genus this agent brought into the prism, if it was the first of its kind.
    genus: str | None = None
    #: Observers of this agent on other replicas (a distributed bus reports them).
    watched_elsewhere: bool = False


class AgentRegistry:
    """Register, start, stop, look up and describe agents."""

    def __init__(
        self,
        settings: MirrorSettings | None = None,
        *,
        metrics_interval: float = 1.0,
        token_store: TokenStore | None = None,
    ) -> None:
        if metrics_interval <= 0:
            raise ValueError("metrics_interval must be positive")
        self.settings = settings or MirrorSettings()
        self.metrics_interval = metrics_interval
        #: Where every agent's semaphore tokens are kept (memory unless the gateway says).
        self.token_store: TokenStore = token_store or MemoryTokenStore()
        self._entries: dict[str, _Entry] = {}
        #: The commands of the agents' genera (and of standalone genus objects).
        self.prism = Prism()
        #: A distributed bus that claims and starts agents; None when embedded.
        self.membership: Membership | None = None
        #: Pipelines of registered agents, by pipeline id.
        self._pipelines: dict[str, ServedPipeline] = {}

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._entries

    def __iter__(self) -> Iterator[FluxAgent]:
        return iter([entry.agent for entry in self._entries.values()])

    def __len__(self) -> int:
        return len(self._entries)

    def _entry(self, agent_id: str) -> _Entry:
        try:
            return self._entries[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id!r}") from None

    def get(self, agent_id: str) -> FluxAgent:
        return self._entry(agent_id).agent

    def mirror(self, agent_id: str) -> HolographicBuffer:
        return self._entry(agent_id).agent.mirror

    # -- membership -------------------------------------------------------------

    def register(self, agent: FluxAgent, *, start: bool = True) -> FluxAgent:
        """Adopt an agent: give it a configured mirror, and start it if a loop runs."""
        if agent.id in self._entries:
            raise ValueError(f"an agent {agent.id!r} is already registered")
        if agent.state is not AgentState.DORMANT:
            raise ValueError(f"agent {agent.id!r} must be dormant to be registered")
        entry = _Entry(agent, genus=self._adopt_genus(agent))
        s = self.settings
        agent.bind_mirror(
            HolographicBuffer(
                agent.id,
                history_size=s.history_size,
                observer_queue_size=s.observer_queue_size,
                slow_observer_policy=s.slow_observer_policy,
                max_bytes=s.max_bytes,
                framing=s.framing,
                snapshot=lambda: self.snapshot(agent.id),
                on_observers_changed=lambda count: self._observers_changed(entry, count),
            )
        )
        agent.bind_token_store(self.token_store)
        self._entries[agent.id] = entry
        if self.membership is not None:
            self.membership.adopt(agent, agent.start if start else None)
        elif start:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop()
                agent.start()
        return agent

    async def unregister(self, agent_id: str) -> None:
        """Stop the agent (queued perturbations refused) and close its observers with 4004."""
        entry = self._entries.pop(agent_id, None)
        if entry is None:
            raise UnknownAgent(f"no agent {agent_id!r}")
        await entry.agent.kill()
        if self.membership is not None:
            self.membership.release(agent_id)
        if entry.genus is not None:
            self.prism.unregister(entry.genus)
            self._readopt_genus(entry.genus)
        self._stop_ticker(entry)
        entry.agent.mirror.close_all(CLOSE_AGENT_REMOVED, "agent removed")

    async def start(self, agent_id: str) -> None:
        self.get(agent_id).start()

    async def stop(self, agent_id: str) -> None:
        await self.get(agent_id).stop()

    async def close(self) -> None:
        """Unregister every agent: the gateway is shutting down."""
        for pipeline_id in list(self._pipelines):
            await self.unregister_pipeline(pipeline_id, drain=False)
        for agent_id in list(self._entries):
            if agent_id in self._entries:  # a concurrent close may have taken it already
                await self.unregister(agent_id)

    def _adopt_genus(self, agent: FluxAgent) -> str | None:
        """Register the agent's genus in the prism when it is the first agent of its kind.

        Raises ``ValueError`` (a reserved or invalid genus name) before the
        agent is adopted, so a refused agent leaves nothing behind.
        """
        genus, handler = agent.genus, agent.handler
        if genus is None or genus in self.prism or next(exposed(handler), None) is None:
            return None
        self.prism.register(handler, name=genus)
        return genus

    def _readopt_genus(self, genus: str) -> None:
        for entry in self._entries.values():
            if entry.agent.genus == genus:
                entry.genus = self._adopt_genus(entry.agent)
                return

    # -- pipelines ----------------------------------------------------------------

    @property
    def pipelines(self) -> dict[str, ServedPipeline]:
        """The registered pipelines by id (a copy)."""
        return dict(self._pipelines)

    def pipeline(self, pipeline_id: str) -> ServedPipeline:
        try:
            return self._pipelines[pipeline_id]
        except KeyError:
            raise UnknownPipeline(f"no pipeline {pipeline_id!r}") from None

    def register_pipeline(self, pipeline: P) -> P:
        """Adopt a pipeline: register its stages not yet registered, upstream first.

        Its edges are wired already, so the stages may start in any order: here
        at once if a loop runs, or later with the other agents (by the bus,
        when distributed). A pipeline refused for its ids or its stages' states
        leaves nothing behind.
        """
        if pipeline.id in self._pipelines:
            raise ValueError(f"a pipeline {pipeline.id!r} is already registered")
        stages = pipeline.stages
        if not stages:
            raise ValueError(f"pipeline {pipeline.id!r} has no stages")
        for stage in stages:
            entry = self._entries.get(stage.id)
            if entry is not None and entry.agent is not stage:
                raise ValueError(f"another agent {stage.id!r} is registered")
            if entry is None and stage.state is not AgentState.DORMANT:
                raise ValueError(f"stage {stage.id!r} must be dormant to be registered")
            for other in self._pipelines.values():
                if stage in other:
                    raise ValueError(f"stage {stage.id!r} is in pipeline {other.id!r} already")
        for stage in stages:
            if not isinstance(stage, FluxAgent):
                raise TypeError(f"stage {stage.id!r} is not a FluxAgent: a registry serves those")
            if stage.id not in self._entries:
                self.register(stage, start=self.membership is not None)
        self._pipelines[pipeline.id] = pipeline
        if self.membership is None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop()
                pipeline.start()
        return pipeline

    async def unregister_pipeline(self, pipeline_id: str, *, drain: bool = True) -> None:
        """Stop the pipeline (drained in order, or at once) and unregister its stages."""
        pipeline = self._pipelines.pop(pipeline_id, None)
        if pipeline is None:
            raise UnknownPipeline(f"no pipeline {pipeline_id!r}")
        if drain:
            await pipeline.stop()
        else:
            await pipeline.kill()
        for stage in pipeline.stages:
            entry = self._entries.get(stage.id)
            if entry is not None and entry.agent is stage:
                await self.unregister(stage.id)

    # -- description --------------------------------------------------------------

    def metabolism(self, agent_id: str) -> Metabolism:
        entry = self._entry(agent_id)
        agent = entry.agent
        return entry.meter.read(agent.counters(), agent.state.value, agent.mirror.observer_count)

    def status(self, agent_id: str, pending: list[SemaphoreToken] | None = None) -> Status:
        """The protocol's STATUS object (``pending``: the agent's tokens, if already read)."""
        agent = self.get(agent_id)
        vitals = self.metabolism(agent_id)
        if pending is None:
            pending = agent.purgatory.pending()
        return {
            "id": agent.id,
            "genus": agent.genus,
            "state": agent.state.value,
            "seq": agent.mirror.last_seq,
            "observers": agent.mirror.observer_count,
            "events": agent.counters().events,
            "pressure": vitals.pressure,
            "flow": vitals.flow,
            "temperature": vitals.temperature,
            "turbulence": vitals.turbulence,
            "queue_depth": vitals.queue_depth,
            "pending_semaphores": len(pending),
            "commands": self.prism.visible_names(agent.genus),
            "epoch": agent.mirror.epoch,
        }

    def statuses(self) -> list[Status]:
        return [self.status(agent_id) for agent_id in self._entries]

    def snapshot(self, agent_id: str) -> dict[str, Any]:
        """What a new observer needs without history: status, vitals, pending decisions."""
        pending = self.get(agent_id).purgatory.pending()  # one read of the token store
        status = self.status(agent_id, pending)
        return {**status, "pending": [token.as_protocol() for token in pending]}

    # -- metabolism ticks ------------------------------------------------------------

    def watched_elsewhere(self, agent_id: str, watched: bool) -> None:
        """A distributed bus says whether other replicas have observers of this agent."""
        entry = self._entries.get(agent_id)
        if entry is not None and entry.watched_elsewhere != watched:
            entry.watched_elsewhere = watched
            self._observers_changed(entry, entry.agent.mirror.observer_count)

    def _observers_changed(self, entry: _Entry, count: int) -> None:
        watched = count > 0 or entry.watched_elsewhere
        if watched and entry.ticker is None and entry.agent.id in self._entries:
            entry.ticker = asyncio.get_running_loop().create_task(
                self._tick(entry), name=f"terrarium-metabolism-{entry.agent.id}"
            )
        elif not watched:
            self._stop_ticker(entry)

    @staticmethod
    def _stop_ticker(entry: _Entry) -> None:
        if entry.ticker is not None:
            entry.ticker.cancel()
            entry.ticker = None

    async def _tick(self, entry: _Entry) -> None:
        agent = entry.agent
        while True:
            await asyncio.sleep(self.metrics_interval)
            vitals = entry.meter.read(
                agent.counters(), agent.state.value, agent.mirror.observer_count
            )
            agent.mirror.reflect("metabolism", vitals.as_dict())
