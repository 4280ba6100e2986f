"""The demo agents that ``jupyter terrarium`` runs: echo, heartbeat and slow.

Each factory returns a fresh, dormant ``FluxAgent``; the gateway registers and
starts it. ``firehose`` is the bench agent (PROTOCOL.md section 6), loaded only
when ``TerrariumApp.bench_agents`` is on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from terrarium.flux import FluxAgent, FluxConfig
from terrarium.sources import ticks

SLOW_DEFAULT_SECONDS = 0.2
FIREHOSE_MAX_EVENTS = 1_000_000
FIREHOSE_MAX_BYTES = 65_536


async def _echo(data: Any) -> Any:
    return data


def echo_agent() -> FluxAgent:
    """Returns its input unchanged: the simplest round trip through the Beam."""
    return FluxAgent(_echo, agent_id="echo")


async def _beat(data: Any) -> dict[str, Any]:
    return {"beat": data, "at": round(time.time(), 3)}


def heartbeat_agent(interval: float = 0.5) -> FluxAgent:
    """Flowing from a periodic source: a ``result`` event every ``interval`` seconds."""
    return FluxAgent(_beat, agent_id="heartbeat", source=ticks(interval))


async def _slow(data: Any) -> float:
    seconds = data.get("seconds", SLOW_DEFAULT_SECONDS) if isinstance(data, dict) else data
    if seconds is None:
        seconds = SLOW_DEFAULT_SECONDS
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError('slow takes {"seconds": number}')
    if not 0 <= seconds <= 60:
        raise ValueError("seconds must be between 0 and 60")
    await asyncio.sleep(seconds)
    return float(seconds)


def slow_agent() -> FluxAgent:
    """Sleeps ``data["seconds"]`` (default 0.2) and returns it; its queue holds 16."""
    return FluxAgent(_slow, agent_id="slow", config=FluxConfig(buffer_size=16))


def demo_agents() -> list[FluxAgent]:
    """The three agents of the demo set, as ``jupyter terrarium`` loads them."""
    return [echo_agent(), heartbeat_agent(), slow_agent()]


class Firehose:
    """Reflects K results of B characters as fast as it can, for fan-out benchmarks."""

    genus_name = "firehose"

    def __init__(self) -> None:
        self.agent: FluxAgent | None = None

    async def invoke(self, data: Any) -> dict[str, int]:
        if not isinstance(data, dict):
            raise TypeError('firehose takes {"events": K, "bytes": B}')
        events, size = data.get("events", 1), data.get("bytes", 0)
        for name, value, top in (
            ("events", events, FIREHOSE_MAX_EVENTS),
            ("bytes", size, FIREHOSE_MAX_BYTES),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise ValueError(f"{name} must be an integer from 0 to {top}")
        assert self.agent is not None
        reflect = self.agent.mirror.reflect
        output = "x" * size
        for index in range(events):
            reflect("result", {"output": output, "perturbation_id": None})
            if index % 64 == 63:
                await asyncio.sleep(0)
        return {"emitted": events}


def firehose_agent() -> FluxAgent:
    handler = Firehose()
    agent = FluxAgent(handler, agent_id="firehose", config=FluxConfig(perturbation_timeout=600))
    handler.agent = agent
    return agent
