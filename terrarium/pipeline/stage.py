"""What a pipeline needs of a stage: declared here, where it is used.

``FluxAgent`` is such a stage. The pipeline modules refer to this protocol
rather than to ``terrarium.flux``, so ``FluxAgent.__or__`` may build a
pipeline without the two modules importing each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import Any, Literal, Protocol, runtime_checkable

#: What an upstream does when an edge is full (``FluxConfig.output_policy``).
OutputPolicy = Literal["block", "drop_oldest", "drop_newest"]


class StageConfig(Protocol):
    @property
    def output_policy(self) -> OutputPolicy: ...

    @property
    def output_buffer(self) -> int: ...


class Lifecycle(Protocol):
    """An agent's state; its ``value`` is the protocol's word for it (``dormant``, ...)."""

    @property
    def value(self) -> str: ...


class Reflecting(Protocol):
    def reflect(self, type_: str, data: dict[str, Any]) -> int: ...


class Unsubscribing(Protocol):
    async def aclose(self) -> None: ...


@runtime_checkable
class Stage(Protocol):
    """A flux agent, as a pipeline wires, starts, drains and reports on it."""

    @property
    def id(self) -> str: ...

    @property
    def genus(self) -> str | None: ...

    @property
    def config(self) -> StageConfig: ...

    @property
    def mirror(self) -> Reflecting: ...

    @property
    def state(self) -> Lifecycle: ...

    @property
    def source(self) -> AsyncIterable[Any] | None: ...

    def feed(self, source: AsyncIterable[Any]) -> None: ...

    def subscribe(self, queue: asyncio.Queue[Any]) -> Unsubscribing: ...

    def start(self) -> None: ...

    async def drain(self, *, source_ends: bool = False) -> None: ...

    async def kill(self) -> None: ...


def dormant(stage: Stage) -> bool:
    return stage.state.value == "dormant"
