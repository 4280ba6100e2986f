"""The event bus: how agents' events and commands reach beyond their own process.

Embedded (the default), every agent lives in this process and ``LocalBus``
changes nothing: mirrors fan out in-process, perturbations go straight into
the agent's queue. A distributed bus (``terrarium.backplane.bus.RedisBus``) adds
what a replica needs for agents owned by another process: a follower mirror
fed from the owner's stream, perturbations and semaphore answers routed to the
owner, and a shared directory of agents. The gateway only ever asks the bus
about agents it does not hold itself, so the local path stays as it is.
"""

from __future__ import annotations

from typing import Protocol

from terrarium.protocol import Status
from terrarium.registry import AgentRegistry
from terrarium.served import ServedAgent


class EventBus(Protocol):
    """What the gateway asks of a bus."""

    #: This process's name among the replicas; None when embedded.
    replica_id: str | None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def statuses(self) -> list[Status]:
        """STATUS of every live agent the bus knows, local ones included."""
        ...

    def describe(self, status: Status) -> Status:
        """A local agent's STATUS as this bus shows it (with ``owner`` when distributed)."""
        ...

    async def remote(self, agent_id: str) -> ServedAgent | None:
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

    async def statuses(self) -> list[Status]:
        return self._registry.statuses()

    def describe(self, status: Status) -> Status:
        return status

    async def remote(self, agent_id: str) -> ServedAgent | None:
        return None
