"""Properties of the perturbation queue and of how a flux agent serves it.

Two state machines:

- ``PerturbationQueue`` alone against a list: higher priority first, FIFO
  within a priority, ``QueueFull`` at capacity (never a silent drop; ``force``
  is never refused), ``take_due`` takes exactly what is due, ``drain`` gives
  everything in service order.
- A ``FluxAgent`` whose handler the machine holds and releases, on an event
  loop whose clock only moves when the machine says so (``VirtualClockLoop``):
  deadlines are then exact, and nothing sleeps. Perturbations are submitted in
  batches (with callers awaiting them, as ``perturb`` does), released,
  failed, cancelled by their caller, timed out, and the agent is killed.

What must hold: a full queue refuses with ``QueueFull`` exactly when
``buffer_size`` perturbations wait (cancelled ones that still wait count);
the agent picks, each time it picks, the highest priority and then the
earliest of those waiting and not settled; every accepted perturbation is
settled exactly once, with its result, ``AgentError``, ``PerturbationTimeout``
(exactly when its own deadline has passed, and never before), the caller's
own cancellation (then it is never handled, or its answer is dropped), or
``AgentUnavailable`` when the agent is killed; each outcome but cancellation
is reflected once to the mirror; nothing waits while the agent idles.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from terrarium.errors import (
    AgentError,
    AgentUnavailable,
    BadRequest,
    PerturbationTimeout,
    QueueFull,
)
from terrarium.flux import FluxAgent, FluxConfig
from terrarium.perturbation import Perturbation, PerturbationQueue

#: ``TERRARIUM_PROPERTY_SCALE=10`` runs ten times the examples (a deeper search by hand).
SCALE = max(1, int(os.environ.get("TERRARIUM_PROPERTY_SCALE", "1")))


def machine_settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        stateful_step_count=steps,
        deadline=None,
        print_blob=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


#: Few distinct priorities, so ties (FIFO) are common.
PRIORITIES = st.sampled_from([1, 50, 100, 100, 150, 199])


def service_key(priority: int, order: int) -> tuple[int, int]:
    return (-priority, order)


# -- the queue alone ----------------------------------------------------------------------


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.queue: PerturbationQueue
        self.model: list[tuple[int, int, Perturbation]] = []
        self.counter = itertools.count()
        self.capacity = 0

    @initialize(capacity=st.integers(1, 5))
    def build(self, capacity: int) -> None:
        self.capacity = capacity
        self.queue = PerturbationQueue(capacity)

    @rule(
        priority=st.one_of(PRIORITIES, st.just(200)),
        deadline=st.one_of(st.none(), st.integers(0, 12).map(float)),
        force=st.booleans(),
    )
    def push(self, priority: int, deadline: float | None, force: bool) -> None:
        order = next(self.counter)
        perturbation = Perturbation(order, priority=priority, deadline=deadline)
        if len(self.model) >= self.capacity and not force:
            with pytest.raises(QueueFull):
                self.queue.push(perturbation)
        else:
            self.queue.push(perturbation, force=force)
            self.model.append((priority, order, perturbation))

    @precondition(lambda self: self.model)
    @rule()
    def pop(self) -> None:
        best = min(self.model, key=lambda entry: service_key(entry[0], entry[1]))
        assert self.queue.pop() is best[2]
        self.model.remove(best)

    @rule(now=st.integers(0, 12).map(float))
    def take_due(self, now: float) -> None:
        due = self.queue.take_due(now)
        expected = [e[2] for e in self.model if e[2].deadline is not None and e[2].deadline <= now]
        assert sorted(p.data for p in due) == sorted(p.data for p in expected)
        assert len({id(p) for p in due}) == len(due)
        self.model = [e for e in self.model if e[2] not in expected]

    @rule()
    def drain(self) -> None:
        served = sorted(self.model, key=lambda entry: service_key(entry[0], entry[1]))
        assert self.queue.drain() == [entry[2] for entry in served]
        self.model = []

    @invariant()
    def agrees(self) -> None:
        assert len(self.queue) == len(self.model)
        deadlines = [e[2].deadline for e in self.model if e[2].deadline is not None]
        assert self.queue.earliest_deadline() == (min(deadlines) if deadlines else None)


QueueMachine.TestCase.settings = machine_settings(150, 40)
TestPerturbationQueueProperties = QueueMachine.TestCase
# A search of hundreds of machines: on a loaded machine it may outlast the suite's
# 120 s guard against hangs without anything being wrong.
pytestmark = pytest.mark.timeout(600)


# -- the agent -------------------------------------------------------------------------------


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when told: timers fire exactly, nothing waits.

    The machine only ever runs it for a few iterations with callbacks ready, so
    it never blocks in ``select`` waiting for a timer.
    """

    virtual_now = 1000.0

    def time(self) -> float:
        return self.virtual_now


Fate = Literal["result", "agent_error", "timeout", "cancelled", "unavailable"]


@dataclass(eq=False)
class Submission:
    label: int
    priority: int
    timeout: float | None
    deadline: float
    fails: bool
    order: int
    gate: asyncio.Event
    perturbation: Perturbation
    caller: asyncio.Task[Any]
    #: What must become of it, once the model knows (None: still waiting or in flight).
    fate: Fate | None = None
    handled: int = 0
    handler_cancelled: bool = False
    refused_after_cancel: bool = False
    settled: list[str] = field(default_factory=list)
    #: ``result``/``error`` events the mirror carried for it.
    reflected: list[str] = field(default_factory=list)

    @property
    def future(self) -> asyncio.Future[Any]:
        assert self.perturbation.future is not None
        return self.perturbation.future

    @property
    def live(self) -> bool:
        return not self.future.done()


def retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a caller's outcome as seen (a machine cut short by a failure leaves some unread)."""
    if not task.cancelled():
        task.exception()


class AgentMachine(RuleBasedStateMachine):
    """One flux agent, a held handler, a clock that moves on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = VirtualClockLoop()
        self.subs: dict[int, Submission] = {}
        self.by_id: dict[str, Submission] = {}
        #: Accepted and not yet taken out of the agent's queue (cancelled ones included).
        self.waiting: list[Submission] = []
        self.inflight: Submission | None = None
        self.labels = itertools.count()
        self.orders = itertools.count()
        self.settle_log: list[tuple[Submission, str]] = []
        self.accepted_events = 0
        self.violations: list[str] = []
        self.killed = False
        self.agent: FluxAgent
        self.buffer_size = 0
        self.default_timeout = 0.0

    def teardown(self) -> None:
        if not self.killed and hasattr(self, "agent"):
            self.run(self.agent.kill())
            self.killed = True
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.settle()
        self.loop.close()

    # -- plumbing --------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def settle(self) -> None:
        """Run the loop until what was set in motion is done (no time passes).

        An idle agent has passed over every cancelled perturbation it held, and
        must not leave a live one waiting.
        """
        for _ in range(8):
            self.run(asyncio.sleep(0))
        if self.inflight is None and not self.killed:
            idle_with = [s.label for s in self.waiting if s.live]
            if idle_with:
                self.violation(f"the agent idles while {idle_with} wait")
            self.waiting = [s for s in self.waiting if s.live]

    def violation(self, message: str) -> None:
        self.violations.append(message)

    async def handler(self, label: int) -> Any:
        sub = self.subs[label]
        self.picked(sub)
        self.inflight = sub
        try:
            await sub.gate.wait()
        except asyncio.CancelledError:
            sub.handler_cancelled = True
            raise
        finally:
            self.inflight = None
        if sub.fate is None:
            sub.fate = "agent_error" if sub.fails else "result"
        if sub.fails:
            raise RuntimeError(f"perturbation {label} fails")
        return {"label": label}

    def picked(self, sub: Submission) -> None:
        """The agent took ``sub`` to handle it: it must be the first of those waiting."""
        sub.handled += 1
        if sub.handled > 1:
            self.violation(f"{sub.label} handled twice")
        if not sub.live:
            self.violation(f"{sub.label} handled though already settled")
        if self.inflight is not None:
            self.violation(f"{sub.label} handled while {self.inflight.label} is in flight")
        if sub not in self.waiting:
            self.violation(f"{sub.label} handled though not waiting")
            return
        ahead = sorted(self.waiting, key=lambda s: service_key(s.priority, s.order))
        ahead = ahead[: ahead.index(sub)]
        for other in ahead:
            if other.live:
                self.violation(
                    f"picked {sub.label} (priority {sub.priority}, #{sub.order}) while "
                    f"{other.label} (priority {other.priority}, #{other.order}) waited"
                )
            self.waiting.remove(other)  # a cancelled one is passed over
        self.waiting.remove(sub)

    def on_settled(self, sub: Submission, future: asyncio.Future[Any]) -> None:
        if not future.done():
            self.violation(f"{sub.label}: on_settled before its future resolved")
        outcome = "result" if future.exception() is None else type(future.exception()).__name__
        sub.settled.append(outcome)
        self.settle_log.append((sub, outcome))
        if len(sub.settled) > 1:
            self.violation(f"{sub.label} settled twice: {sub.settled}")

    def on_event(self, seq: int, payload: bytes) -> None:
        reflected = json.loads(payload)
        kind, data = reflected["type"], reflected["data"]
        if kind == "perturbation":
            self.accepted_events += 1
        elif kind in ("result", "error") and data.get("perturbation_id") is not None:
            sub = self.by_id.get(data["perturbation_id"])
            if sub is None:
                self.violation(f"{kind} for an unknown perturbation {data}")
            else:
                sub.reflected.append(kind if kind == "result" else data["error_type"])

    # -- rules -----------------------------------------------------------------------------

    @initialize(
        buffer_size=st.integers(1, 4),
        default_timeout=st.sampled_from([6.0, 50.0]),
    )
    def build(self, buffer_size: int, default_timeout: float) -> None:
        self.buffer_size = buffer_size
        self.default_timeout = default_timeout
        config = FluxConfig(buffer_size=buffer_size, perturbation_timeout=default_timeout)
        self.agent = FluxAgent(self.handler, agent_id="queued", config=config)
        self.agent.mirror.tap = self.on_event

        async def start() -> None:
            self.agent.start()

        self.run(start())
        self.settle()

    @rule(
        batch=st.lists(
            st.tuples(
                st.one_of(PRIORITIES, PRIORITIES, st.sampled_from([0, 200])),
                st.sampled_from([None, None, 1.0, 2.0, 3.0, 5.0, 8.0]),
                st.booleans(),  # the handler fails
                st.booleans(),  # the handler answers at once (its gate is open)
            ),
            min_size=1,
            max_size=5,
        )
    )
    def submit(self, batch: list[tuple[int, float | None, bool, bool]]) -> None:
        """Submit a batch in one step: the agent sees all of it when it next looks."""

        async def submit_all() -> None:
            for priority, timeout, fails, at_once in batch:
                self.submit_one(priority, timeout, fails, at_once)

        self.run(submit_all())
        self.settle()

    def submit_one(self, priority: int, timeout: float | None, fails: bool, at_once: bool) -> None:
        label = next(self.labels)
        events_before = self.accepted_events
        if self.killed:
            # A bad request is told as such first; a good one finds the agent gone.
            refusal = AgentUnavailable if 1 <= priority <= 199 else BadRequest
            with pytest.raises(refusal):
                self.agent.submit(label, priority=priority, timeout=timeout)
            assert self.accepted_events == events_before
            return
        try:
            perturbation = self.agent.submit(label, priority=priority, timeout=timeout)
        except BadRequest:
            assert not 1 <= priority <= 199, priority
            assert self.accepted_events == events_before
            return
        except QueueFull:
            event("queue_full")
            assert len(self.waiting) >= self.buffer_size, "refused below buffer_size"
            assert self.accepted_events == events_before, "a refused perturbation was reflected"
            return
        assert 1 <= priority <= 199, f"priority {priority} accepted"
        assert len(self.waiting) < self.buffer_size, (
            f"accepted with {len(self.waiting)} waiting (buffer_size {self.buffer_size})"
        )
        assert self.accepted_events == events_before + 1
        gate = asyncio.Event()
        if at_once:
            gate.set()

        async def caller() -> Any:
            assert perturbation.future is not None
            return await perturbation.future

        sub = Submission(
            label=label,
            priority=priority,
            timeout=timeout,
            deadline=self.loop.time() + (timeout or self.default_timeout),
            fails=fails,
            order=next(self.orders),
            gate=gate,
            perturbation=perturbation,
            caller=self.loop.create_task(caller()),
        )
        sub.caller.add_done_callback(retrieve)
        assert perturbation.deadline == sub.deadline
        perturbation.on_settled = lambda future: self.on_settled(sub, future)
        self.subs[label] = sub
        self.by_id[perturbation.id] = sub
        self.waiting.append(sub)

    @precondition(lambda self: self.inflight is not None)
    @rule()
    def release(self) -> None:
        sub = self.inflight
        assert sub is not None
        if sub.live:
            sub.fate = "agent_error" if sub.fails else "result"
        sub.gate.set()
        self.settle()
        assert self.inflight is not sub

    @precondition(lambda self: any(s.live for s in self.subs.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """The caller gives up (its task is cancelled, as a closed connection's would be)."""
        sub = data.draw(st.sampled_from([s for s in self.subs.values() if s.live]))
        sub.caller.cancel()
        assert sub.future.cancelled(), "cancelling the caller cancels what it awaits"
        sub.fate = "cancelled"
        event("cancelled in flight" if sub is self.inflight else "cancelled while waiting")
        self.settle()

    @rule(
        step=st.one_of(
            st.sampled_from([0.5, 1.0, 2.0, 4.0, 10.0, 60.0]),
            st.just("next"),
        )
    )
    def advance(self, step: float | str) -> None:
        """Move the clock: on to the next deadline, or by a step past any number of them."""
        now = self.loop.time()
        unsettled = [s for s in self.subs.values() if s.fate is None and s.live]
        if step == "next":
            if not unsettled:
                return
            to = min(s.deadline for s in unsettled)
        else:
            assert isinstance(step, float)
            to = now + step
        due = [s for s in unsettled if s.deadline <= to]
        for sub in due:
            sub.fate = "timeout"
        # Everything waiting that is due leaves the queue, cancelled or not.
        self.waiting = [s for s in self.waiting if s.deadline > to]
        inflight = self.inflight
        cut = inflight is not None and inflight.deadline <= to
        logged = len(self.settle_log)
        self.loop.virtual_now = to
        self.settle()
        if cut:
            assert inflight is not None and inflight.handler_cancelled, "a due handler runs on"
            assert self.inflight is not inflight
        timed_out = [s for s, out in self.settle_log[logged:] if out == "PerturbationTimeout"]
        assert sorted(s.label for s in timed_out) == sorted(s.label for s in due)
        if len(due) > 1:
            event("several perturbations due at once")
        # Several due in one firing (the clock jumped, as a stalled loop's does) are
        # answered earliest deadline first (found by this machine, fixed:
        # test_timeouts_due_together_are_answered_in_deadline_order).
        deadlines = [s.deadline for s in timed_out]
        assert deadlines == sorted(deadlines), [(s.label, s.deadline) for s in timed_out]

    @precondition(lambda self: not self.killed)
    @rule()
    def kill(self) -> None:
        for sub in self.subs.values():
            if sub.live and sub.fate is None:
                sub.fate = "unavailable"
        logged = len(self.settle_log)
        queued = sorted(
            (s for s in self.waiting if s.live), key=lambda s: service_key(s.priority, s.order)
        )
        inflight = self.inflight
        refused_too = [inflight] if inflight is not None and inflight.live else []
        for sub in self.waiting:
            # Still in the queue though its caller gave up: the refusal is reflected
            # (nobody is answered). A timeout of a cancelled one is not: see the report.
            sub.refused_after_cancel = not sub.live
        self.run(self.agent.kill())
        self.killed = True
        self.settle()
        if inflight is not None:
            assert inflight.handler_cancelled
        refused = [s for s, _ in self.settle_log[logged:]]
        expected = queued + refused_too
        assert refused == expected, "refused in service order, then the one in flight"
        self.waiting = []

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def every_perturbation_is_settled_once_as_it_should(self) -> None:
        assert self.violations == [], self.violations
        expected_error = {
            "agent_error": AgentError,
            "timeout": PerturbationTimeout,
            "unavailable": AgentUnavailable,
        }
        reflected = {
            "result": ["result"],
            "agent_error": ["RuntimeError"],
            "timeout": ["PerturbationTimeout"],
            "unavailable": ["AgentUnavailable"],
            "cancelled": [],
        }
        for sub in self.subs.values():
            future = sub.future
            if sub.fate is None:
                assert not future.done(), (sub.label, future)
                # Nothing waits while the agent idles: it is in flight or behind the one that is.
                assert sub is self.inflight or (self.inflight is not None and sub in self.waiting)
                continue
            assert future.done(), (sub.label, sub.fate)
            assert sub.caller.done()
            if sub.fate == "cancelled":
                assert future.cancelled() and sub.caller.cancelled()
                assert sub.settled == []
            elif sub.fate == "result":
                assert future.result() == {"label": sub.label}
                assert sub.caller.result() == {"label": sub.label}
                assert sub.settled == ["result"]
            else:
                error = future.exception()
                assert isinstance(error, expected_error[sub.fate]), (sub.fate, error)
                assert sub.caller.exception() is error
                assert sub.settled == [type(error).__name__]
            expected = reflected[sub.fate]
            if sub.refused_after_cancel:
                expected = ["AgentUnavailable"]
            assert sub.reflected == expected, (sub.label, sub.fate, sub.reflected)
            if sub.fate == "timeout":
                assert sub.deadline <= self.loop.time()
        if not self.killed:
            assert self.agent.counters().queue_depth == len(self.waiting)
            if self.inflight is None:
                assert self.waiting == []

    @invariant()
    def no_timeout_before_its_deadline(self) -> None:
        for sub, outcome in self.settle_log:
            if outcome == "PerturbationTimeout":
                assert sub.deadline <= self.loop.time()


AgentMachine.TestCase.settings = machine_settings(400, 30)
TestFluxQueueProperties = AgentMachine.TestCase


# -- failures found, kept as regressions -----------------------------------------------------


@pytest.mark.parametrize(
    ("behind_a_held_one", "first", "second"),
    [
        # Found by the machine (shrunk): "first" is in flight, "second" waits behind it.
        pytest.param(False, (100, 1.0), (100, 2.0), id="in-flight-first"),
        # Both wait behind a held one; the higher priority has the later deadline.
        pytest.param(True, (150, 2.0), (100, 1.0), id="both-waiting"),
    ],
)
def test_timeouts_due_together_are_answered_in_deadline_order(
    behind_a_held_one: bool, first: tuple[int, float], second: tuple[int, float]
) -> None:
    """When one expiry finds several perturbations due, the earliest deadline is answered first."""
    loop = VirtualClockLoop()
    answered: list[str] = []
    never = asyncio.Event()

    async def held(data: Any) -> Any:
        await never.wait()
        return data

    agent = FluxAgent(held, agent_id="held", config=FluxConfig(perturbation_timeout=50.0))

    async def scenario() -> None:
        agent.start()
        blocker = agent.submit("blocker") if behind_a_held_one else None
        await asyncio.sleep(0)
        for name, (priority, timeout) in (("first", first), ("second", second)):
            perturbation = agent.submit(name, priority=priority, timeout=timeout)
            perturbation.on_settled = lambda future, name=name: answered.append(name)
            await asyncio.sleep(0)  # the agent takes "first" if nothing holds it
        loop.virtual_now += 3.0  # both deadlines pass before the loop looks again
        for _ in range(4):
            await asyncio.sleep(0)
        await agent.kill()
        if blocker is not None:
            assert blocker.future is not None
            assert isinstance(blocker.future.exception(), AgentUnavailable)

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    deadlines = {"first": first[1], "second": second[1]}
    assert sorted(answered) == ["first", "second"]
    assert answered == sorted(answered, key=deadlines.__getitem__)
