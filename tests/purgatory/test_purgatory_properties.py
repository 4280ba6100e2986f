"""Properties of Purgatory: every semaphore token is settled exactly once, restarts included.

A hypothesis state machine runs a flux agent whose handler ejects tokens
(with no deadline, a deadline hours away, or one already past) and whose
``resume`` reports each call, with its tokens in a real ``SQLiteTokenStore``
on a temporary file or in a ``MemoryTokenStore``. Humans resolve and cancel
tokens (settled or not, known or not; an answer of ``again`` makes the
resume eject a new token, to which the caller's wait passes), deadlines
pass, the agent is kept busy by a held perturbation, and the process
restarts: the registry is closed as the gateway does on shutdown
(``AgentRegistry.close`` kills the agent), the SQLite store is closed and
reopened on the same file, and a new registry on it registers a new agent,
which restores what the store holds as it starts (``AgentRegistry.register``
-> ``FluxAgent.start`` -> ``Purgatory.restore``), as on a real restart. The
memory store outlives only an in-process restart (an agent registered anew).

Time is virtual, so deadlines are exact and nothing sleeps: the event loop's
clock (``VirtualClockLoop``) and the wall clock Purgatory reads (``utc_now``
in ``terrarium.purgatory`` and ``terrarium.purgatory.tokens``) are one clock that
moves only when the machine says so, downtime between two lifetimes
included.

What must hold: ``resolve`` succeeds at most once per token, and only while
it is pending; ``resolve``/``cancel`` of a token that is not pending raise
``NotPending``, of an unknown one ``UnknownToken``; a token is voided exactly
when its deadline passes while it is pending (by its timer, at a restart, or
when listed); the stored status is the model's (an answered token is
``resuming`` until its resume has run, then ``resolved``); ``pending()``
lists exactly the pending ones; each settlement is reflected once
(``semaphore_resolved``/``cancelled``/``voided``); the agent's ``resume``
runs exactly once per successful resolve, with the state the token froze,
the human's answer and the token id as ``idempotency_key``: in the lifetime
that resolved it, or, if that one stopped first, in the next; never for
anything else; the ejecting caller's ``resolution`` is settled once, with
the resume's output, ``SemaphoreCancelled`` or ``PerturbationTimeout``; and
the SQLite file passes ``PRAGMA integrity_check`` after every lifetime.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from unittest import mock

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import terrarium.purgatory.decisions
import terrarium.purgatory.tokens
from terrarium.errors import PerturbationTimeout
from terrarium.flux import Ejected, FluxAgent
from terrarium.purgatory import NotPending, SemaphoreCancelled, UnknownToken
from terrarium.purgatory.stores import MemoryTokenStore, SQLiteTokenStore, TokenStore
from terrarium.purgatory.tokens import SemaphoreToken, eject
from terrarium.registry import AgentRegistry

#: ``TERRARIUM_PROPERTY_SCALE=10`` runs ten times the examples (a deeper search by hand).
SCALE = max(1, int(os.environ.get("TERRARIUM_PROPERTY_SCALE", "1")))

PURGATORY_SETTINGS = settings(
    max_examples=400 * SCALE,
    stateful_step_count=30,
    deadline=None,
    print_blob=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: Where the virtual wall clock starts; loop time 0 is this moment.
ORIGIN = datetime(2030, 1, 1, tzinfo=UTC)
HOUR = 3600.0
#: A held perturbation waits this long (under the one-day bound) before its own timeout.
HOLD_TIMEOUT = 86000.0
#: The agent's perturbation timeout (``FluxConfig``'s default), a reentry's too.
REENTRY_TIMEOUT = 30.0

#: ``resuming``: answered, the agent's resume owed; ``resolved`` once it has run.
Status = Literal["pending", "resuming", "resolved", "cancelled", "voided"]
StoreKind = Literal["sqlite", "memory"]


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when told: timers fire exactly, nothing waits.

    It is only ever run for a few iterations with callbacks ready, so it never
    blocks in ``select`` waiting for a timer.
    """

    virtual_now = 0.0

    def time(self) -> float:
        return self.virtual_now

    def utc_now(self) -> datetime:
        """The wall clock Purgatory reads, on the same virtual time as the loop."""
        return ORIGIN + timedelta(seconds=self.virtual_now)


def at(moment: datetime | None) -> float | None:
    """A token's deadline as loop time."""
    return None if moment is None else (moment - ORIGIN).total_seconds()


def integrity(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchall()


@dataclass(eq=False)
class TokenModel:
    id: str
    n: int
    deadline: float | None
    lifetime: int
    #: The ejecting caller's future (handed on to the token a resume ejects), if it is
    #: this token's to settle; a restart leaves it behind, unsettled.
    resolution: asyncio.Future[Any] | None
    status: Status = "pending"
    answer: Any = None
    #: The lifetime in which it was resolved, and the loop time its reentry times out.
    resolved_in: int | None = None
    reentry_deadline: float | None = None
    #: A restart came while its resume was owed: the next lifetime owes it.
    owed_across_restart: bool = False
    resumes: list[tuple[int, Any, Any, Any]] = field(default_factory=list)
    #: Settlement events the mirrors carried (``semaphore_*``), over all lifetimes.
    events: list[str] = field(default_factory=list)
    #: The token its resume ejected in turn (the human answered "again").
    handed_to: TokenModel | None = None

    def waits_here(self, lifetime: int) -> bool:
        """Its caller's future is this lifetime's, and still this token's to settle."""
        return self.resolution is not None and self.lifetime == lifetime and not self.handed_to


class Asker:
    """Asks a human for each ``ask``, holds on ``hold``; ``resume`` reports to the machine."""

    def __init__(self, machine: PurgatoryMachine) -> None:
        self.machine = machine

    async def invoke(self, data: dict[str, Any]) -> Any:
        if data["kind"] == "hold":
            await self.machine.gate.wait()
            return "held"
        return eject(
            f"ask {data['n']}",
            options=("yes", "no"),
            state={"n": data["n"]},
            timeout=data["timeout"],
        )

    async def resume(self, state: Any, human_input: Any, idempotency_key: str | None = None) -> Any:
        self.machine.resumed(state, human_input, idempotency_key)
        if human_input["answer"] == "again":
            n = next(self.machine.asks)
            token = eject(f"again {n}", state={"n": n}, timeout=2 * HOUR if n % 2 else None)
            self.machine.chained(state["n"], token)
            return token
        return {"n": state["n"], "answer": human_input}


def retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an outcome as seen (a machine cut short by a failure leaves some unread)."""
    if not future.cancelled():
        future.exception()


class PurgatoryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = VirtualClockLoop()
        #: What the loop would log, kept out of the test output (see the report).
        self.loop_errors: list[str] = []
        self.loop.set_exception_handler(
            lambda loop, context: self.loop_errors.append(context["message"])
        )
        self.patches = [
            mock.patch.object(terrarium.purgatory.decisions, "utc_now", self.loop.utc_now),
            mock.patch.object(terrarium.purgatory.tokens, "utc_now", self.loop.utc_now),
        ]
        for patch in self.patches:
            patch.start()
        self.directory = Path(tempfile.mkdtemp(prefix="terrarium-purgatory-"))
        self.path = self.directory / "purgatory.sqlite"
        self.kind: StoreKind = "sqlite"
        self.store: TokenStore
        self.registry: AgentRegistry | None = None
        self.agent: FluxAgent
        self.lifetime = 0
        self.tokens: dict[str, TokenModel] = {}
        self.by_n: dict[int, TokenModel] = {}
        self.asks = itertools.count()
        self.answers = itertools.count()
        self.gate = asyncio.Event()
        self.hold: asyncio.Future[Any] | None = None
        self.violations: list[str] = []

    def teardown(self) -> None:
        try:
            if self.registry is not None:
                self.shut_down()
        finally:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.run_until_complete(asyncio.sleep(0))
            self.loop.close()
            for patch in self.patches:
                patch.stop()
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- plumbing --------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def settle(self) -> None:
        """Run the loop until what was set in motion is done (no time passes).

        By then a pending token whose deadline is not later than now is voided:
        by its timer, or by ``restore`` arming it for at once.
        """
        for _ in range(8):
            self.run(asyncio.sleep(0))
        now = self.loop.time()
        for token in self.tokens.values():
            if token.status == "pending" and token.deadline is not None and token.deadline <= now:
                token.status = "voided"
                event("a token voided")

    def call(self, function: Any, *args: Any) -> Any:
        """Call on the loop, as a request handler would; returns the result or the exception."""

        async def call() -> Any:
            try:
                return function(*args)
            except Exception as error:
                return error

        return self.run(call())

    @property
    def busy(self) -> bool:
        return self.hold is not None and not self.hold.done()

    def violation(self, message: str) -> None:
        self.violations.append(message)

    # -- what the agent tells --------------------------------------------------------------

    def resumed(self, state: Any, human_input: Any, key: str | None) -> None:
        token = self.by_n.get(state["n"]) if isinstance(state, dict) else None
        if token is None:
            self.violation(f"resume for a token never ejected: {state}")
            return
        token.resumes.append((self.lifetime, state, human_input, key))
        if token.status != "resuming":
            self.violation(f"resume of {token.n}, which is {token.status}")
        if len(token.resumes) > 1:
            self.violation(f"resume of {token.n} ran {len(token.resumes)} times")
        token.status = "resolved"

    def chained(self, n: int, token: SemaphoreToken) -> None:
        """The resume of token ``n`` ejects ``token``: its caller now waits on that one."""
        old = self.by_n[n]
        model = TokenModel(
            id=token.id,
            n=token.frozen_state["n"],
            deadline=at(token.deadline),
            lifetime=self.lifetime,
            resolution=old.resolution if old.waits_here(self.lifetime) else None,
        )
        old.handed_to = model
        self.tokens[model.id] = model
        self.by_n[model.n] = model
        event("a resume ejected again")

    def on_event(self, seq: int, payload: bytes) -> None:
        reflected = json.loads(payload)
        kind, data = reflected["type"], reflected["data"]
        if kind == "semaphore_ejected":
            return
        if kind.startswith("semaphore_"):
            token = self.tokens.get(data["token_id"])
            if token is None:
                self.violation(f"{kind} for an unknown token {data}")
            else:
                token.events.append(kind.removeprefix("semaphore_"))

    def on_ask_settled(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # timed out behind a held perturbation, or refused at a restart
        ejected = future.result()
        if not isinstance(ejected, Ejected):
            self.violation(f"an ask answered {ejected!r}")
            return
        token = ejected.token
        model = TokenModel(
            id=token.id,
            n=token.frozen_state["n"],
            deadline=at(token.deadline),
            lifetime=self.lifetime,
            resolution=ejected.resolution,
        )
        ejected.resolution.add_done_callback(retrieve)
        self.tokens[token.id] = model
        self.by_n[model.n] = model

    # -- lifetimes -------------------------------------------------------------------------

    def start_agent(self) -> None:
        """A new registry on the store registers (so starts) the agent: the store restored."""
        self.lifetime += 1
        registry = self.registry = AgentRegistry(token_store=self.store)

        async def register() -> FluxAgent:
            agent = registry.register(FluxAgent(Asker(self), agent_id="asker"))
            # Restored deadlines fire from the next iteration on: the tap sees them.
            agent.mirror.tap = self.on_event
            return agent

        self.agent = self.run(register())
        self.settle()

    def shut_down(self) -> None:
        """As the gateway stops: the registry kills its agents, then the store is closed."""
        assert self.registry is not None
        self.run(self.registry.close())
        self.settle()
        if self.kind == "sqlite":
            self.store.close()
            assert integrity(self.path) == [("ok",)]

    @initialize(kind=st.sampled_from(["sqlite", "memory"]))
    def build(self, kind: StoreKind) -> None:
        self.kind = kind
        self.store = SQLiteTokenStore(self.path) if kind == "sqlite" else MemoryTokenStore()
        event(f"{kind} store")
        self.start_agent()

    @rule(downtime=st.sampled_from([0.0, 0.0, HOUR, 10 * HOUR]))
    def restart(self, downtime: float) -> None:
        """Shut down, let time pass, reopen the store, start a new agent on it."""
        for token in self.tokens.values():
            if token.status == "resuming":
                # Its reentry waits behind the held perturbation: kill() refuses it, and
                # the next lifetime owes the resume.
                token.owed_across_restart = True
                event("a resume owed across a restart")
        self.shut_down()
        if self.hold is not None:
            assert self.hold.done()
        self.gate = asyncio.Event()
        self.loop.virtual_now += downtime
        if self.kind == "sqlite":
            self.store = SQLiteTokenStore(self.path)
        # (the memory store lives as long as the process: the same one is used again)
        self.start_agent()

    # -- the agent's side ------------------------------------------------------------------

    @rule(
        timeout=st.sampled_from([None, None, -1.0, HOUR, 2 * HOUR, 5 * HOUR]),
        then_hold=st.booleans(),
    )
    def ask(self, timeout: float | None, then_hold: bool) -> None:
        """The agent ejects a token (once it gets to it); maybe it then keeps busy."""
        n = next(self.asks)
        perturbation = self.call(self.agent.submit, {"kind": "ask", "n": n, "timeout": timeout})
        assert perturbation.future is not None
        perturbation.future.add_done_callback(self.on_ask_settled)
        self.settle()
        if then_hold and not self.busy:
            self.hold_agent()

    @precondition(lambda self: not self.busy)
    @rule()
    def hold_agent(self) -> None:
        self.gate = asyncio.Event()
        perturbation = self.call(lambda: self.agent.submit({"kind": "hold"}, timeout=HOLD_TIMEOUT))
        self.hold = perturbation.future
        assert self.hold is not None
        self.hold.add_done_callback(retrieve)
        self.settle()

    @precondition(lambda self: self.busy)
    @rule()
    def release(self) -> None:
        self.gate.set()
        self.settle()
        assert not self.busy

    # -- the humans' side ------------------------------------------------------------------

    @precondition(lambda self: self.tokens)
    @rule(data=st.data(), answer=st.sampled_from(["yes", "no", {"note": "why"}, "again"]))
    def resolve(self, data: st.DataObject, answer: Any) -> None:
        token = data.draw(st.sampled_from(list(self.tokens.values())))
        answer = {"answer": answer, "n": next(self.answers)}
        before = token.status
        if before == "pending":
            # The resume may run before the call returns: the model moves first.
            token.status = "resuming"
            token.answer = answer
            token.resolved_in = self.lifetime
            token.reentry_deadline = self.loop.time() + REENTRY_TIMEOUT
        outcome = self.call(self.agent.purgatory.resolve, token.id, answer)
        if before != "pending":
            assert isinstance(outcome, NotPending), (before, outcome)
            assert outcome.token.id == token.id
            return
        assert isinstance(outcome, SemaphoreToken), outcome
        assert outcome.id == token.id and outcome.status == "resuming", outcome
        if self.busy:
            event("resolved while the agent is busy")
        self.settle()
        if not self.busy:
            assert len(token.resumes) == 1, "an idle agent resumes at once"

    @precondition(lambda self: self.tokens)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(list(self.tokens.values())))
        before = token.status
        outcome = self.call(self.agent.purgatory.cancel, token.id)
        if before != "pending":
            assert isinstance(outcome, NotPending), (before, outcome)
            return
        assert isinstance(outcome, SemaphoreToken) and outcome.status == "cancelled", outcome
        token.status = "cancelled"
        self.settle()

    @rule(which=st.sampled_from(["resolve", "cancel", "get"]))
    def unknown_token(self, which: str) -> None:
        purgatory = self.agent.purgatory
        calls = {
            "resolve": (purgatory.resolve, "no-such-token", "yes"),
            "cancel": (purgatory.cancel, "no-such-token"),
            "get": (purgatory.get, "no-such-token"),
        }
        function, *args = calls[which]
        assert isinstance(self.call(function, *args), UnknownToken)

    @rule()
    def list_pending(self) -> None:
        listed = self.call(self.agent.purgatory.pending)
        expected = {t.id for t in self.tokens.values() if t.status == "pending"}
        assert {token.id for token in listed} == expected
        assert all(token.status == "pending" for token in listed)

    # -- time ------------------------------------------------------------------------------

    @rule(step=st.sampled_from([REENTRY_TIMEOUT, 600.0, HOUR, 2 * HOUR, 6 * HOUR, 30 * HOUR]))
    def advance(self, step: float) -> None:
        # A reentry waits behind a busy agent as long as it must: never timed out queued.
        now = self.loop.time() + step
        self.loop.virtual_now = now
        self.settle()

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def every_token_is_settled_exactly_once(self) -> None:
        assert self.violations == [], self.violations
        purgatory = self.agent.purgatory
        for token in self.tokens.values():
            stored = purgatory.get(token.id)
            assert at(stored.deadline) == token.deadline
            waiting_here = token.waits_here(self.lifetime)
            resolution = token.resolution if waiting_here else None
            assert stored.status == token.status, (token.n, stored.status, token.status)
            if token.status == "pending":
                assert token.events == [] and token.resumes == []
                assert resolution is None or not resolution.done()
            elif token.status == "resuming":
                # Owed: its reentry waits behind the held perturbation.
                assert self.busy and token.resumes == [] and token.events == [], token
                assert resolution is None or not resolution.done()
            elif token.status == "resolved":
                ((lifetime, state, answer, key),) = token.resumes
                assert token.resolved_in is not None
                if token.owed_across_restart:
                    assert lifetime > token.resolved_in, "an owed resume runs after the restart"
                else:
                    assert lifetime == token.resolved_in, "resumed in another lifetime"
                assert state == {"n": token.n} and answer == token.answer
                assert key == token.id, "the token id is the resume's idempotency key"
                assert token.events == ["resolved"], token.events
                assert (token.handed_to is not None) == (answer["answer"] == "again")
                if resolution is not None and token.handed_to is None:
                    assert resolution.result() == {"n": token.n, "answer": answer}
            else:
                assert token.resumes == []
                assert token.events == [token.status], (token.n, token.events)
                if resolution is not None:
                    expected = (
                        SemaphoreCancelled if token.status == "cancelled" else PerturbationTimeout
                    )
                    assert isinstance(resolution.exception(), expected), token.status


PurgatoryMachine.TestCase.settings = PURGATORY_SETTINGS
TestPurgatoryProperties = PurgatoryMachine.TestCase


# -- failures found, kept as regressions -----------------------------------------------------


class Scene:
    """One agent like the machine's, on a virtual clock, for a regression by hand."""

    def __init__(self, store: TokenStore | None = None) -> None:
        self.loop = VirtualClockLoop()
        self.gate = asyncio.Event()
        self.resumes: list[tuple[Any, Any]] = []
        self.store = store if store is not None else MemoryTokenStore()

    def agent(self) -> tuple[AgentRegistry, FluxAgent]:
        scene = self

        class Agent:
            async def invoke(self, data: Any) -> Any:
                if data == "hold":
                    await scene.gate.wait()
                    return "held"
                return eject("Approve?", state={"n": 1})

            async def resume(self, state: Any, human_input: Any) -> Any:
                scene.resumes.append((state, human_input))
                return human_input

        registry = AgentRegistry(token_store=self.store)
        return registry, registry.register(FluxAgent(Agent(), agent_id="approver"))

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        try:
            return self.loop.run_until_complete(coroutine)
        finally:
            self.loop.close()


def test_an_answer_given_while_the_agent_is_busy_is_not_lost() -> None:
    """Found by the machine above (shrunk): resolve while a perturbation holds the agent.

    The reentry is queued behind it with the agent's ``perturbation_timeout``
    (30 s by default); if the agent is busy longer, the reentry is answered
    ``timeout`` in the queue, ``Purgatory.fail`` records the token
    ``resolved``, and the human's answer never reaches ``resume``.
    """
    scene = Scene()

    async def scenario() -> None:
        registry, agent = scene.agent()
        ejected = await agent.perturb("ask")
        assert isinstance(ejected, Ejected)
        hold = agent.submit("hold", timeout=HOLD_TIMEOUT)  # a long job, with its own timeout
        assert hold.future is not None
        hold.future.add_done_callback(retrieve)
        await asyncio.sleep(0)
        agent.purgatory.resolve(ejected.token.id, "Approve")
        scene.loop.virtual_now += REENTRY_TIMEOUT + 1  # the job takes a little longer
        for _ in range(4):
            await asyncio.sleep(0)
        scene.gate.set()
        for _ in range(4):
            await asyncio.sleep(0)
        status = agent.purgatory.get(ejected.token.id).status
        ejected.resolution.add_done_callback(retrieve)
        await registry.close()
        assert scene.resumes == [({"n": 1}, "Approve")], (scene.resumes, status)

    scene.run(scenario())


def test_an_answer_given_just_before_a_restart_is_resumed_after_it() -> None:
    """Found by the machine above before ``resuming`` existed: the answer was lost.

    The agent is busy, a human resolves, the server shuts down before the
    reentry runs: the next start owes that resume and runs it, once.
    """
    directory = Path(tempfile.mkdtemp(prefix="terrarium-purgatory-"))
    path = directory / "purgatory.sqlite"
    try:
        first = Scene(SQLiteTokenStore(path))

        async def before() -> str:
            registry, agent = first.agent()
            ejected = await agent.perturb("ask")
            hold = agent.submit("hold", timeout=HOLD_TIMEOUT)
            assert hold.future is not None
            hold.future.add_done_callback(retrieve)
            await asyncio.sleep(0)
            agent.purgatory.resolve(ejected.token.id, "Approve")
            ejected.resolution.add_done_callback(retrieve)
            await registry.close()
            return ejected.token.id

        token_id = first.run(before())
        first.store.close()
        assert first.resumes == []
        assert integrity(path) == [("ok",)]

        second = Scene(SQLiteTokenStore(path))

        async def after() -> str:
            registry, agent = second.agent()
            for _ in range(4):
                await asyncio.sleep(0)
            status = agent.purgatory.get(token_id).status
            await registry.close()
            return status

        assert second.run(after()) == "resolved"
        second.store.close()
        assert second.resumes == [({"n": 1}, "Approve")]
        assert integrity(path) == [("ok",)]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
