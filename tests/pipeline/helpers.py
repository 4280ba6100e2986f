"""What the pipeline tests share: a recording handler, sources, and reading a mirror."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from terrarium.flux import FluxAgent

MakeStage = Callable[..., FluxAgent]


class Recorder:
    """A handler that records what it saw, applies ``f``, and can be held shut.

    Shut, it takes its next item and then waits for ``open()``, so a test can
    fill a pipeline's edges behind it.
    """

    def __init__(self, f: Callable[[Any], Any] = lambda x: x, *, shut: bool = False) -> None:
        self.f = f
        self.seen: list[Any] = []
        self._open = asyncio.Event()
        if not shut:
            self._open.set()

    def open(self) -> None:
        self._open.set()

    async def __call__(self, data: Any) -> Any:
        self.seen.append(data)
        await self._open.wait()
        return self.f(data)


async def endless() -> AsyncIterator[int]:
    """0, 1, 2, ... for as long as it is read."""
    n = 0
    while True:
        yield n
        n += 1
        await asyncio.sleep(0)


async def items(values: Iterable[Any]) -> AsyncIterator[Any]:
    for value in values:
        yield value
        await asyncio.sleep(0)


async def eventually(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Look again until ``predicate`` holds (a test may poll; the core never does).

    ``within`` only guards against a hang: no test measures time with it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if predicate():
            return
        if loop.time() > deadline:
            raise AssertionError(f"never happened within {within} s")
        await asyncio.sleep(0.001)


def events(agent: FluxAgent, type_: str) -> list[dict[str, Any]]:
    """The agent's kept events of one type, oldest first."""
    found = [json.loads(payload) for payload in agent.mirror.replay(0).payloads]
    return [event for event in found if event["type"] == type_]
