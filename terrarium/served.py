"""The one agent interface a gateway serves: ``ServedAgent``.

An agent either runs in this process (``LocalAgent`` wraps its ``FluxAgent``)
or on another replica (the backplane's remote agent). Handlers ask both the
same questions through this protocol, so none of them branches on where an
agent runs; the only difference they may use is ``local``, which tells the
Beam whether the agent's step runs in this event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from terrarium.flux import FluxAgent
from terrarium.mirror import HolographicBuffer, Replay
from terrarium.perturbation import Perturbation
from terrarium.protocol import Status
from terrarium.purgatory import SemaphoreToken, UnknownToken, fetch_token

#: Called once a perturbation settles, with its future.
SettledCallback = Callable[[asyncio.Future[Any]], None]


@dataclass(frozen=True, slots=True)
class Submitted:
    """A perturbation on its way to an agent, wherever it runs.

    ``future`` resolves with the output, with ``Ejected`` when the agent asked
    a human, or with a ``PerturbationError``. ``when_settled`` registers the
    one callback that runs as it settles: a local perturbation calls it in the
    loop iteration it resolves in, without a future callback's extra step.
    """

    perturbation_id: str
    priority: int
    future: asyncio.Future[Any]
    when_settled: Callable[[SettledCallback], None]


class ServedAgent(Protocol):
    """What the gateway's handlers may ask of any agent."""

    @property
    def id(self) -> str: ...

    @property
    def local(self) -> bool:
        """True when the agent runs in this process's event loop."""
        ...

    def status(self) -> Status:
        """STATUS, as this gateway shows it (with ``owner`` when distributed)."""
        ...

    async def mirror(self) -> HolographicBuffer:
        """The mirror observers on this replica attach to."""
        ...

    async def replay(
        self, since: int | None, limit: int | None, epoch: str | None = None
    ) -> Replay: ...

    def perturb(
        self, data: Any, *, priority: int, timeout: float | None, by: str | None
    ) -> Submitted:
        """Queue (or route) a perturbation now, or raise the ``PerturbationError`` now."""
        ...

    def pending(self) -> list[SemaphoreToken]: ...

    async def token(self, token_id: str) -> SemaphoreToken:
        """A token of this agent, settled ones included; raises ``UnknownToken``."""
        ...

    async def resolve(self, token_id: str, human_input: Any, by: str | None) -> SemaphoreToken:
        """Record a human's answer; raises ``UnknownToken``, ``NotPending`` or a refusal."""
        ...

    async def cancel(self, token_id: str) -> SemaphoreToken: ...


class LocalAgent:
    """A ``FluxAgent`` of this process, as the gateway serves it."""

    local = True

    def __init__(self, agent: FluxAgent, status: Callable[[str], Status]) -> None:
        self._agent = agent
        self._status = status

    @property
    def id(self) -> str:
        return self._agent.id

    def status(self) -> Status:
        return self._status(self._agent.id)

    async def mirror(self) -> HolographicBuffer:
        return self._agent.mirror

    async def replay(
        self, since: int | None, limit: int | None, epoch: str | None = None
    ) -> Replay:
        return self._agent.mirror.replay(since, limit, epoch)

    def perturb(
        self, data: Any, *, priority: int, timeout: float | None, by: str | None
    ) -> Submitted:
        perturbation = self._agent.submit(data, priority=priority, timeout=timeout, by=by)
        assert perturbation.future is not None
        return Submitted(
            perturbation.id, perturbation.priority, perturbation.future, _hook(perturbation)
        )

    def pending(self) -> list[SemaphoreToken]:
        return self._agent.purgatory.pending()

    async def token(self, token_id: str) -> SemaphoreToken:
        purgatory = self._agent.purgatory
        try:
            return purgatory.get(token_id)
        except UnknownToken:
            # A shared store holds recent tokens in memory; an old one is read from its backend.
            token = await fetch_token(purgatory.store, token_id)
            if token is None or token.agent_id != self.id:
                raise
            return token

    async def resolve(self, token_id: str, human_input: Any, by: str | None) -> SemaphoreToken:
        return self._agent.purgatory.resolve(token_id, human_input, by=by)

    async def cancel(self, token_id: str) -> SemaphoreToken:
        return self._agent.purgatory.cancel(token_id)


def _hook(perturbation: Perturbation) -> Callable[[SettledCallback], None]:
    def when_settled(callback: SettledCallback) -> None:
        perturbation.on_settled = callback

    return when_settled
