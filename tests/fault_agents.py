"""Agents for tests that run a child ``jupyter terrarium`` and break it on purpose.

Loaded into the child with ``--TerrariumApp.agents=tests.fault_agents:make_fault_agents``
(the child finds ``tests`` through ``PYTHONPATH``, which the tests set to the
repository's root).

``ledger`` ejects a semaphore for ``{"key": K}`` (with ``"deadline": seconds``
for a deadline) and answers anything else with its input. Its ``resume`` writes
JSON lines to the file named by ``TERRARIUM_FAULT_RESUME_LOG``, each flushed and
fsynced before it goes on, so a test can count resumes across processes, also
one killed with SIGKILL: ``start`` when it is called, then ``done`` when it has
had its effect, or ``repeat`` when the log shows that effect was already had
(a resume runs at least once: a server killed after a resume ran but before it
recorded so runs it again, and an agent makes the second run a no-op by its
own key, as ledger does with ``K``). With ``TERRARIUM_FAULT_HOLD_RESUMES`` set,
a resume never finishes: it is still owed when the server is killed.

``brittle`` ejects like ``ledger`` and collapses on ``{"collapse": "brittle"}``
(its source raises), so a test can reach a collapsed agent with a pending token.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from terrarium.flux import FluxAgent, FluxConfig
from terrarium.purgatory.tokens import SemaphoreReason, SemaphoreToken, eject

RESUME_LOG = "TERRARIUM_FAULT_RESUME_LOG"
HOLD_RESUMES = "TERRARIUM_FAULT_HOLD_RESUMES"
#: The ledger's queue: a burst of ejects and resolves never meets ``queue_full``.
LEDGER_BUFFER = 4096
COLLAPSE = {"collapse": "brittle"}


def record(phase: str, key: str, token: str | None = None) -> None:
    """Append ``{"phase", "key", "token", "pid"}`` to the resume log, durably."""
    path = os.environ.get(RESUME_LOG)
    if not path:
        return
    entry = {"phase": phase, "key": key, "token": token, "pid": os.getpid()}
    line = json.dumps(entry) + "\n"
    with open(path, "a", encoding="utf-8") as log:
        log.write(line)
        log.flush()
        os.fsync(log.fileno())


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete lines of a resume log (a line cut short by a kill is not a record)."""
    try:
        with open(path, encoding="utf-8") as log:
            text = log.read()
    except FileNotFoundError:
        return []
    records = []
    for line in text.split("\n")[:-1]:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def _ask(data: dict[str, Any]) -> SemaphoreToken:
    key = str(data["key"])
    return eject(
        f"Settle {key}?",
        reason=SemaphoreReason.CONFIRMATION,
        options=("yes", "no"),
        severity="warning",
        state={"key": key},
        timeout=data.get("deadline"),
    )


class Ledger:
    """Ejects on ``{"key": K}``; ``resume`` leaves a durable trace of every call."""

    async def invoke(self, data: Any) -> Any:
        if isinstance(data, dict) and "key" in data:
            return _ask(data)
        return data

    async def resume(
        self, state: Any, human_input: Any, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        key = state["key"]
        record("start", key, idempotency_key)
        if os.environ.get(HOLD_RESUMES):
            await asyncio.Event().wait()  # never set: the resume is still owed at the kill
        log = os.environ.get(RESUME_LOG)
        had = log is not None and any(
            entry["phase"] == "done" and entry["key"] == key for entry in read_log(log)
        )
        record("repeat" if had else "done", key, idempotency_key)
        return {"key": key, "answer": human_input}


class Brittle:
    """Ejects on ``{"key": K}``; ``{"collapse": "brittle"}`` makes its source fail."""

    def __init__(self) -> None:
        self.trigger = asyncio.Event()

    async def invoke(self, data: Any) -> Any:
        if data == COLLAPSE:
            self.trigger.set()
            return "collapsing"
        if isinstance(data, dict) and "key" in data:
            return _ask(data)
        return data

    async def resume(self, state: Any, human_input: Any) -> dict[str, Any]:
        return {"key": state["key"], "answer": human_input}

    async def source(self) -> AsyncIterator[int]:
        await self.trigger.wait()
        raise RuntimeError("brittle collapsed on request")
        yield 0  # pragma: no cover - makes this an async generator


def make_fault_agents() -> list[FluxAgent]:
    brittle = Brittle()
    return [
        FluxAgent(Ledger(), agent_id="ledger", config=FluxConfig(buffer_size=LEDGER_BUFFER)),
        FluxAgent(brittle, agent_id="brittle", source=brittle.source()),
    ]
