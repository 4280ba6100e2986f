"""The demo agents that ``jupyter terrarium`` runs: echo, heartbeat, slow and approver.

Each factory returns a fresh, dormant ``FluxAgent``; the gateway registers and
starts it. ``firehose`` is the bench agent (PROTOCOL.md section 6), loaded only
when ``TerrariumApp.bench_agents`` is on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from terrarium.flux import FluxAgent, FluxConfig
from terrarium.semaphore import SemaphoreReason, eject
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
    """The demo set, as ``jupyter terrarium`` loads it."""
    return [echo_agent(), heartbeat_agent(), slow_agent(), approver_agent()]


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


APPROVAL_THRESHOLD = 10
_REQUEST_SIZES = (3, 47, 8, 120)


def _request(n: int) -> dict[str, Any]:
    return {"request": n, "action": "delete", "records": _REQUEST_SIZES[n % len(_REQUEST_SIZES)]}


class Approver:
    """Deletes records on request; more than ``APPROVAL_THRESHOLD`` needs a human's yes.

    Instead of blocking its stream while it waits, it ejects a critical
    semaphore and carries on; ``resume`` acts on the answer.
    """

    def __init__(self, decision_seconds: float | None = 300.0) -> None:
        self.decision_seconds = decision_seconds

    async def invoke(self, request: Any) -> Any:
        if not isinstance(request, dict) or not isinstance(request.get("records"), int):
            raise TypeError('approver takes {"action": "delete", "records": N}')
        records = request["records"]
        if records <= APPROVAL_THRESHOLD:
            return {"deleted": records}
        return eject(
            f"Delete {records} records?",
            reason=SemaphoreReason.APPROVAL,
            options=("Approve", "Reject"),
            severity="critical",
            state={"records": records},
            timeout=request.get("decision_seconds", self.decision_seconds),
        )

    async def resume(self, state: Any, human_input: Any) -> dict[str, Any]:
        records = state["records"]
        if human_input == "Approve":
            return {"deleted": records, "approved": True}
        return {"deleted": 0, "kept": records, "approved": False}


def approver_agent(interval: float = 15.0) -> FluxAgent:
    """A stream of deletion requests, some of which wait for a human in Purgatory."""
    return FluxAgent(Approver(), agent_id="approver", source=ticks(interval, _request))
