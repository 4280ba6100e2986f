"""The event bus: how agents' events and commands reach beyond their own process.

Embedded (the default), every agent lives in this process and ``LocalBus``
changes nothing: mirrors fan out in-process, perturbations go straight into
the agent's queue. A distributed bus (``terrarium.redis_bus.RedisBus``) adds
what a replica needs for agents owned by another process: a follower mirror
fed from the owner's stream, perturbations and semaphore answers routed to the
owner, and a shared directory of agents. The gateway only ever asks the bus
about agents it does not hold itself, so the local path stays as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from terrarium.mirror import HolographicBuffer, Replay
from terrarium.semaphore import SemaphoreToken

if TYPE_CHECKING:
    from terrarium.flux import FluxAgent
    from terrarium.registry import AgentRegistry


@dataclass(frozen=True, slots=True)
class Routed:
    """A perturbation sent to another replica's agent.

    ``future`` resolves as a local perturbation's does: with the output, with
    ``Ejected`` when the agent asked a human, or with a ``PerturbationError``.
    """

    perturbation_id: str
    future: asyncio.Future[Any]


class RemoteAgent(Protocol):
    """An agent owned by another replica, as this replica can reach it."""

    @property
    def id(self) -> str: ...

    @property
    def owner(self) -> str: ...

    @property
    def available(self) -> bool:
        """False once its owner stopped answering (its heartbeat expired)."""
        ...

    def status(self) -> dict[str, Any]:
        """The protocol's STATUS, as last published by the owner, with ``owner``."""
        ...

    async def mirror(self) -> HolographicBuffer:
        """A local mirror fed from the owner's stream, for observers on this replica."""
        ...

    async def replay(
        self, since: int | None, limit: int | None, epoch: str | None = None
    ) -> Replay: ...

    def perturb(
        self, data: Any, *, priority: int, timeout: float | None, by: str | None
    ) -> Routed: ...

    async def resolve(self, token_id: str, human_input: Any, by: str | None) -> SemaphoreToken:
        """Resolve on the owner; raises ``UnknownToken``, ``NotPending`` or a refusal."""
        ...

    async def cancel(self, token_id: str) -> SemaphoreToken: ...

    def pending(self) -> list[SemaphoreToken]: ...

    async def token(self, token_id: str) -> SemaphoreToken:
        """The token from the shared store (read from Redis if not in memory); raises
        ``UnknownToken``."""
        ...


class Membership(Protocol):
    """What a registry tells its bus: an agent arrived (to start when ready), or left."""

    def adopt(self, agent: FluxAgent, start: Callable[[], None] | None) -> None: ...

    def release(self, agent_id: str) -> None: ...


class EventBus(Protocol):
    """What the gateway asks of a bus."""

    #: This process's name among the replicas; None when embedded.
    replica_id: str | None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def statuses(self) -> list[dict[str, Any]]:
        """STATUS of every live agent the bus knows, local ones included."""
        ...

    def describe(self, status: dict[str, Any]) -> dict[str, Any]:
        """A local agent's STATUS as this bus shows it (with ``owner`` when distributed)."""
        ...

    async def remote(self, agent_id: str) -> RemoteAgent | None:
        """The agent if another replica owns it; None when nobody else does."""
        ...


class LocalBus:
    """Today's behaviour: every agent is local, nothing leaves the process."""

    replica_id: str | None = None

    def __init__(self, registry: AgentRegistry) -> None:
        self._registry = registry

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def statuses(self) -> list[dict[str, Any]]:
        return self._registry.statuses()

    def describe(self, status: dict[str, Any]) -> dict[str, Any]:
        return status

    async def remote(self, agent_id: str) -> RemoteAgent | None:
        return None
