"""The demo agents that ``jupyter terrarium`` runs: echo, heartbeat, slow and approver.

Each factory returns a fresh, dormant ``FluxAgent``; the gateway registers and
starts it. ``firehose`` is the bench agent (PROTOCOL.md section 6), loaded only
when ``TerrariumApp.bench_agents`` is on.

``heartbeat`` shows every metabolism figure move: it races for a while, then
rests, and its entropy budget makes its temperature rise while it races and
fall while it rests, well below the budget (where it would drain and stop).
``approver`` keeps at most ``APPROVER_MAX_PENDING`` of its own requests waiting
for a human.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from terrarium.flux import FluxAgent, FluxConfig
from terrarium.purgatory.tokens import SemaphoreReason, eject
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


#: The heartbeat's rhythm, in seconds: it races (beats twice as fast) for
#: HEARTBEAT_RACE_SECONDS, then rests (one beat every ``interval``) for
#: HEARTBEAT_REST_SECONDS, and again, from the moment it starts.
HEARTBEAT_RACE_SECONDS = 20.0
HEARTBEAT_REST_SECONDS = 40.0
HEARTBEAT_CYCLE_SECONDS = HEARTBEAT_RACE_SECONDS + HEARTBEAT_REST_SECONDS
#: Entropy the heartbeat spends per second at rest (each beat costs this times the
#: interval), and sheds per second (``FluxConfig.entropy_decay``): resting it cools by
#: 1 a second, racing (twice the spending) it warms by 1 a second, whatever the interval.
HEARTBEAT_RESTING_SPEND = 2.0
HEARTBEAT_ENTROPY_DECAY = 3.0
#: Its entropy budget: a race warms it by about 20 (temperature about 0.4), so at the
#: default interval 29 extra events at the hottest moment (someone perturbing it) still
#: leave it flowing; only a sustained flood drains it.
HEARTBEAT_ENTROPY_BUDGET = 50.0


def heartbeat_pace(elapsed: float, interval: float = 0.5) -> float:
    """Seconds from a beat ``elapsed`` seconds into the heartbeat's life to the next one."""
    racing = elapsed % HEARTBEAT_CYCLE_SECONDS < HEARTBEAT_RACE_SECONDS
    return interval / 2 if racing else interval


def heartbeat_config(interval: float = 0.5) -> FluxConfig:
    """The heartbeat's entropy budget, cost and decay for a resting ``interval``."""
    return FluxConfig(
        entropy_budget=HEARTBEAT_ENTROPY_BUDGET,
        entropy_cost=HEARTBEAT_RESTING_SPEND * interval,
        entropy_decay=HEARTBEAT_ENTROPY_DECAY,
    )


async def heartbeats(interval: float = 0.5) -> AsyncIterator[int]:
    """Beat numbers 1, 2, 3, ... in the heartbeat's rhythm (``heartbeat_pace``).

    Anchored to the loop clock, as ``ticks`` is, so a slow consumer does not
    make the rhythm drift.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    loop = asyncio.get_running_loop()
    start = loop.time()
    at = 0.0
    for n in itertools.count(1):
        yield n
        at += heartbeat_pace(at, interval)
        await asyncio.sleep(max(0.0, start + at - loop.time()))


def heartbeat_agent(interval: float = 0.5) -> FluxAgent:
    """Flowing from a periodic source: a ``result`` event at least every ``interval``
    seconds, twice as often while it races (see ``heartbeat_pace``), with an entropy
    budget so that its temperature follows its effort."""
    return FluxAgent(
        _beat,
        agent_id="heartbeat",
        source=heartbeats(interval),
        config=heartbeat_config(interval),
    )


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
#: The approver asks a human about a request from its own stream only while fewer
#: than this many of its decisions are pending; otherwise it decides itself.
APPROVER_MAX_PENDING = 3
_REQUEST_SIZES = (3, 47, 8, 120)


def _request(n: int) -> dict[str, Any]:
    return {"request": n, "action": "delete", "records": _REQUEST_SIZES[n % len(_REQUEST_SIZES)]}


class Approver:
    """Deletes records on request; more than ``APPROVAL_THRESHOLD`` needs a human's yes.

    Instead of blocking its stream while it waits, it ejects a critical
    semaphore and carries on; ``resume`` acts on the answer.

    Its own stream's requests (they carry their number as ``request``) ask a
    human only while fewer than ``max_pending`` of the agent's decisions are
    pending; beyond that it keeps the records itself (``"auto": true`` in the
    result), so an unattended demo never piles up decisions. A request someone
    sends through the Beam always asks.
    """

    def __init__(
        self, decision_seconds: float | None = 300.0, max_pending: int = APPROVER_MAX_PENDING
    ) -> None:
        self.decision_seconds = decision_seconds
        self.max_pending = max_pending
        #: The agent that runs this approver, whose pending decisions it counts
        #: (``approver_agent`` sets it; without it, every request asks).
        self.agent: FluxAgent | None = None

    def waiting(self) -> int:
        """How many of the agent's decisions are pending."""
        return 0 if self.agent is None else len(self.agent.purgatory.pending())

    async def invoke(self, request: Any) -> Any:
        if not isinstance(request, dict) or not isinstance(request.get("records"), int):
            raise TypeError('approver takes {"action": "delete", "records": N}')
        if request.get("action", "delete") != "delete":
            return {"action": request["action"], "done": True}  # only deletions are guarded
        records = request["records"]
        if records <= APPROVAL_THRESHOLD:
            return {"deleted": records}
        if "request" in request:
            waiting = self.waiting()
            if waiting >= self.max_pending:
                return {
                    "deleted": 0,
                    "kept": records,
                    "approved": False,
                    "auto": True,
                    "reason": f"{waiting} decisions already wait for a human",
                }
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


def approver_agent(interval: float = 15.0, requests: AsyncIterable[Any] | None = None) -> FluxAgent:
    """A stream of deletion requests (one every ``interval`` seconds, or ``requests``),
    some of which wait for a human in Purgatory: the stream asks only while fewer
    than ``APPROVER_MAX_PENDING`` of the approver's decisions are pending."""
    handler = Approver()
    source = ticks(interval, _request) if requests is None else requests
    agent = FluxAgent(handler, agent_id="approver", source=source)
    handler.agent = agent
    return agent
