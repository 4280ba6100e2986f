"""Agents for the server tests, loaded through ``TerrariumApp.agents``.

Each one makes a single behaviour of the protocol easy to provoke on demand:
``gate`` holds perturbations until the test lets them through, ``boom``
raises, ``chatty`` reflects many large events in batches the test paces, and
``fragile`` collapses as soon as it starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from terrarium.flux import FluxAgent, FluxConfig

GATE_BUFFER = 8


class Gate:
    """Answers with its input; ``{"hold": true}`` waits until the test calls ``release``."""

    genus_name = "gate"

    def __init__(self) -> None:
        self.entered: asyncio.Queue[Any] = asyncio.Queue()
        self._opened = asyncio.Semaphore(0)

    async def invoke(self, data: Any) -> Any:
        if isinstance(data, dict) and data.get("hold"):
            self.entered.put_nowait(data)
            await self._opened.acquire()
        return data

    async def held(self) -> Any:
        """Wait until a held perturbation is being served; returns its data."""
        return await asyncio.wait_for(self.entered.get(), 10)

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._opened.release()


class Chatty:
    """``{"events": K, "bytes": B, "batch": N}``: K results of B characters, N at a time.

    Between batches it waits for a credit from ``grant()``, so a test decides
    how fast events are produced without looking at any clock.
    """

    genus_name = "chatty"

    def __init__(self) -> None:
        self.agent: FluxAgent | None = None
        self._credits = asyncio.Semaphore(0)

    async def invoke(self, data: dict[str, int]) -> dict[str, int]:
        assert self.agent is not None
        events, batch = data["events"], data.get("batch", data["events"])
        output = "x" * data["bytes"]
        for index in range(events):
            if index and index % batch == 0:
                await self._credits.acquire()
            self.agent.mirror.reflect("result", {"output": output, "perturbation_id": None})
        return {"emitted": events}

    def grant(self) -> None:
        self._credits.release()


async def _boom(data: Any) -> Any:
    raise ValueError(f"boom: {data!r}")


async def _failing_source() -> AsyncIterator[int]:
    raise RuntimeError("the source broke")
    yield 0  # pragma: no cover - makes this an async generator


async def _identity(data: Any) -> Any:
    return data


def make_test_agents() -> list[FluxAgent]:
    chatty = Chatty()
    chatty_agent = FluxAgent(chatty, agent_id="chatty", config=FluxConfig(perturbation_timeout=600))
    chatty.agent = chatty_agent
    return [
        FluxAgent(Gate(), agent_id="gate", config=FluxConfig(buffer_size=GATE_BUFFER)),
        FluxAgent(_boom, agent_id="boom"),
        chatty_agent,
        FluxAgent(_identity, agent_id="fragile", source=_failing_source()),
    ]
