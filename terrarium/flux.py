"""Flux agents: an async callable run as a living stream processor.

A flux agent consumes its source through a pump task (so a source that pauses
is never mistaken for one that ended) and serves perturbations from a bounded
priority queue in between. Every lifecycle change, accepted perturbation,
result and error is reflected once into the agent's mirror; the agent never
knows who, if anyone, is watching.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from terrarium.deadlines import DeadlineWatch
from terrarium.errors import AgentError, AgentUnavailable, PerturbationTimeout
from terrarium.mirror import HolographicBuffer
from terrarium.names import NAME_RULE, is_name
from terrarium.perturbation import (
    DEFAULT_PRIORITY,
    REENTRY_PRIORITY,
    Perturbation,
    PerturbationQueue,
    new_perturbation_id,
)
from terrarium.pipeline.stage import OutputPolicy
from terrarium.purgatory.decisions import Purgatory
from terrarium.purgatory.stores import TokenStore
from terrarium.purgatory.tokens import ReentryContext, SemaphoreToken

if TYPE_CHECKING:
    from terrarium.pipeline import Pipeline


class AgentState(StrEnum):
    DORMANT = "dormant"
    FLOWING = "flowing"
    PERTURBED = "perturbed"
    DRAINING = "draining"
    STOPPED = "stopped"
    COLLAPSED = "collapsed"


@runtime_checkable
class Invocable(Protocol):
    """An agent object: ``invoke(data)`` handles one event (sync or async)."""

    def invoke(self, data: Any) -> Any: ...


Handler = Callable[[Any], Any] | Invocable


@dataclass
class FluxConfig:
    """How a flux agent breathes. Every default is a safe choice for a demo."""

    #: Capacity of the perturbation queue; one more is refused with ``queue_full``.
    buffer_size: int = 1024
    #: Seconds a perturbation may wait and run before its caller gets ``timeout``.
    perturbation_timeout: float = 30.0
    #: Stop consuming the source after this many source events, then drain and stop.
    max_events: int | None = None
    #: Entropy the agent may hold; each event costs ``entropy_cost``. None: unlimited.
    entropy_budget: float | None = None
    entropy_cost: float = 1.0
    #: Entropy released per second, so only sustained bursts exhaust the budget.
    entropy_decay: float = 0.0
    #: Source items read ahead by the pump before the source is held back.
    source_buffer: int = 64
    #: Capacity of each in-process output subscription (see ``FluxAgent.outputs``).
    output_buffer: int = 256
    #: What a full output subscription does: wait, or drop the oldest or newest output.
    output_policy: OutputPolicy = "block"

    def __post_init__(self) -> None:
        if self.buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        if self.perturbation_timeout <= 0:
            raise ValueError("perturbation_timeout must be positive")
        if self.max_events is not None and self.max_events < 0:
            raise ValueError("max_events must be >= 0")
        if self.entropy_budget is not None and self.entropy_budget <= 0:
            raise ValueError("entropy_budget must be positive")
        if self.output_policy not in ("block", "drop_oldest", "drop_newest"):
            raise ValueError("output_policy must be block, drop_oldest or drop_newest")


@dataclass(frozen=True, slots=True)
class Ejected:
    """A perturbation's answer when the agent asked a human instead.

    ``resolution`` resolves with the output of ``resume`` once the token is
    resolved, or with the reason it never will be (cancelled, voided).
    """

    token: SemaphoreToken
    resolution: asyncio.Future[Any]


@dataclass(frozen=True, slots=True)
class AgentCounters:
    """What the gateway reads to compute metrics; the agent only counts."""

    events: int
    errors: int
    queue_depth: int
    queue_capacity: int
    temperature: float


class FluxAgent:
    """Wraps a handler as a stream processor with a lifecycle and a perturbation queue.

    A finite source that ends leaves the agent flowing: it still serves
    perturbations until it is stopped (``max_events`` stops it after N events).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        agent_id: str,
        source: AsyncIterable[Any] | None = None,
        config: FluxConfig | None = None,
        genus: str | None = None,
    ) -> None:
        if not is_name(agent_id):
            raise ValueError(f"agent id {agent_id!r} must be {NAME_RULE}")
        self.id = agent_id
        self.handler = handler
        self.config = config or FluxConfig()
        self.genus = genus if genus is not None else getattr(handler, "genus_name", None)
        self.mirror = HolographicBuffer(agent_id)
        self.purgatory = self._new_purgatory(None)
        self._invoke = self._resolve_invoke(handler)
        self._source = source
        self._queue = PerturbationQueue(self.config.buffer_size)
        #: Answers ``timeout`` at each perturbation's deadline (made with the first one).
        self._deadlines: DeadlineWatch | None = None
        self._inbox: asyncio.Queue[Any] | None = None
        self._work: asyncio.Event | None = None
        self._lifecycle = AgentState.DORMANT
        self._busy = False
        #: The perturbation whose handler the run loop is awaiting, and the one whose
        #: deadline cut that await short (its timer cancelled the run task).
        self._awaiting: Perturbation | None = None
        self._cut_short: Perturbation | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._source_events = 0
        self._events = 0
        self._errors = 0
        self._entropy = 0.0
        self._entropy_at = time.monotonic()
        self._subscribers: list[asyncio.Queue[Any]] = []

    @staticmethod
    def _resolve_invoke(handler: Handler) -> Callable[[Any], Any]:
        if isinstance(handler, Invocable):
            return handler.invoke
        if callable(handler):
            return handler
        raise TypeError("a flux agent needs a callable or an object with invoke(data)")

    def __repr__(self) -> str:
        return f"<FluxAgent {self.id} {self.state}>"

    # -- state ------------------------------------------------------------------

    @property
    def state(self) -> AgentState:
        if self._busy and self._lifecycle is AgentState.FLOWING:
            return AgentState.PERTURBED
        return self._lifecycle

    @property
    def accepting(self) -> bool:
        return self._lifecycle in (AgentState.DORMANT, AgentState.FLOWING)

    def bind_mirror(self, mirror: HolographicBuffer) -> None:
        """Give the agent the mirror its gateway configured (before it starts)."""
        self.mirror = mirror

    def bind_token_store(self, store: TokenStore) -> None:
        """Keep this agent's semaphore tokens in the gateway's store (before it starts)."""
        self.purgatory = self._new_purgatory(store)

    def _new_purgatory(self, store: TokenStore | None) -> Purgatory:
        return Purgatory(self.id, store, reflect=self._reflect, reenter=self._reenter)

    def _reflect(self, type_: str, data: dict[str, Any]) -> int:
        return self.mirror.reflect(type_, data)

    def counters(self) -> AgentCounters:
        own = getattr(self.handler, "temperature", None)
        if isinstance(own, int | float) and not isinstance(own, bool):
            temperature = float(own)
        elif self.config.entropy_budget:
            temperature = self._current_entropy() / self.config.entropy_budget
        else:
            temperature = 0.0
        return AgentCounters(
            events=self._events,
            errors=self._errors,
            queue_depth=len(self._queue),
            queue_capacity=self._queue.capacity,
            temperature=min(1.0, max(0.0, temperature)),
        )

    def _set_lifecycle(self, state: AgentState) -> None:
        previous = self._lifecycle
        if previous is state:
            return
        self._lifecycle = state
        self.mirror.reflect("state", {"state": state.value, "previous": previous.value})

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Begin flowing on the running loop: the pump reads the source, the run loop serves."""
        if self._lifecycle is not AgentState.DORMANT:
            raise RuntimeError(f"agent {self.id} is {self._lifecycle.value}, not dormant")
        loop = asyncio.get_running_loop()
        self.mirror.bind_loop(loop)
        self._work = asyncio.Event()
        self._inbox = asyncio.Queue(self.config.source_buffer)
        self._stopped = loop.create_future()
        self._set_lifecycle(AgentState.FLOWING)
        self.purgatory.restore()
        self._run_task = loop.create_task(self._run(), name=f"terrarium-run-{self.id}")
        if self._source is not None:
            self._pump_task = loop.create_task(self._pump(), name=f"terrarium-pump-{self.id}")
        if len(self._queue):
            self._work.set()

    async def stop(self) -> None:
        """Stop reading the source, serve what is queued, then stop."""
        if self._lifecycle is AgentState.DORMANT:
            self._refuse_queued("agent stopped before it started")
            self._set_lifecycle(AgentState.STOPPED)
            return
        if self._lifecycle is AgentState.FLOWING:
            self._begin_draining()
        if self._stopped is not None:
            await asyncio.shield(self._stopped)

    async def kill(self) -> None:
        """Stop at once: queued perturbations are refused with ``agent_unavailable``."""
        self._refuse_queued("agent stopped")
        for task in (self._pump_task, self._run_task):
            if task is not None and not task.done():
                task.cancel()
                # Not ``await task``: that would take a cancellation of kill() itself for
                # the task's own and swallow it.
                await asyncio.wait([task])
        if self._lifecycle not in (AgentState.STOPPED, AgentState.COLLAPSED):
            self._set_lifecycle(AgentState.STOPPED)
        self._finish()

    def _begin_draining(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
        self._set_lifecycle(AgentState.DRAINING)
        if self._work is not None:
            self._work.set()

    def _finish(self) -> None:
        if self._deadlines is not None:
            self._deadlines.cancel()
        self.purgatory.close()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def _collapse(self, error: BaseException) -> None:
        self._errors += 1
        self.mirror.reflect(
            "error",
            {"error": str(error), "error_type": type(error).__name__, "perturbation_id": None},
        )
        if self._pump_task is not None:
            self._pump_task.cancel()
        self._refuse_queued(f"agent collapsed: {error}")
        self._set_lifecycle(AgentState.COLLAPSED)
        if self._run_task is not None and self._run_task is not asyncio.current_task():
            self._run_task.cancel()
        self._finish()

    def _refuse_queued(self, reason: str) -> None:
        for perturbation in self._queue.drain():
            error = AgentUnavailable(reason)
            self._reflect_error(error, "AgentUnavailable", perturbation.id)
            self._settle(perturbation, error=error)

    # -- perturbations --------------------------------------------------------------

    def submit(
        self,
        data: Any,
        *,
        priority: int = DEFAULT_PRIORITY,
        timeout: float | None = None,
        by: str | None = None,
        allow_reentry: bool = False,
        perturbation_id: str | None = None,
    ) -> Perturbation:
        """Queue a perturbation now, or raise ``QueueFull``/``AgentUnavailable`` now.

        The returned perturbation's ``future`` resolves with the output, or
        with the reason it was not served; it always resolves by its deadline.
        ``perturbation_id`` is for a perturbation routed from another replica,
        whose caller already told its client the id.
        """
        priority = Perturbation.check_priority(priority, allow_reentry=allow_reentry)
        timeout = Perturbation.check_timeout(timeout)
        return self._enqueue(data, priority, timeout, by, perturbation_id=perturbation_id)

    def _reenter(self, context: ReentryContext, by: str | None) -> None:
        """Queue a resolved token's reentry at the top priority, past the queue's capacity."""
        self._enqueue(context, REENTRY_PRIORITY, None, by, force=True)

    def _enqueue(
        self,
        data: Any,
        priority: int,
        timeout: float | None,
        by: str | None,
        force: bool = False,
        perturbation_id: str | None = None,
    ) -> Perturbation:
        if not self.accepting:
            raise AgentUnavailable(f"agent {self.id} is {self._lifecycle.value}")
        timeout = timeout or self.config.perturbation_timeout
        perturbation = Perturbation(
            data,
            priority=priority,
            timeout=timeout,
            by=by,
            id=perturbation_id or new_perturbation_id(),
        )
        deadlines = self._deadlines
        if deadlines is None:
            loop = asyncio.get_running_loop()
            deadlines = self._deadlines = DeadlineWatch(loop, self._expire_due)
        loop = deadlines.loop
        # A reentry waits in the queue as long as it must: a human's answer is never
        # dropped for the agent being busy. Its resume gets the timeout once it runs.
        if not isinstance(data, ReentryContext):
            perturbation.deadline = loop.time() + timeout
            deadlines.arm(perturbation.deadline)
        self._queue.push(perturbation, force=force)
        perturbation.future = loop.create_future()
        self.mirror.reflect(
            "perturbation",
            {"perturbation_id": perturbation.id, "priority": priority, "by": by},
        )
        if self._work is not None:
            self._work.set()
        return perturbation

    async def perturb(self, data: Any, **options: Any) -> Any:
        """Submit and wait for the output (raises the refusal's ``PerturbationError``)."""
        perturbation = self.submit(data, **options)
        assert perturbation.future is not None
        return await perturbation.future

    def _expire_due(self, now: float) -> float | None:
        """Answer ``timeout`` to every perturbation due by ``now``; the next deadline after.

        A queued one leaves the queue. One whose handler is being awaited has
        that await cancelled, as ``asyncio.timeout`` would: the run loop takes
        the cancellation back and goes on to the next perturbation.
        """
        due = self._queue.take_due(now)
        pending = [self._queue.earliest_deadline()]
        awaiting = self._awaiting
        if awaiting is not None and awaiting.deadline is not None:
            if awaiting.deadline > now:
                pending.append(awaiting.deadline)
            else:
                if self._run_task is not None:
                    self._cut_short = awaiting
                    self._run_task.cancel()
                due.append(awaiting)
        # Answered in the order their deadlines passed, whatever the queue's own order.
        due.sort(key=lambda perturbation: perturbation.deadline or now)
        for perturbation in due:
            self._time_out(perturbation)
        return min((deadline for deadline in pending if deadline is not None), default=None)

    def _time_out(self, perturbation: Perturbation) -> None:
        if perturbation.future is None or perturbation.future.done():
            return
        error = PerturbationTimeout(f"no answer within {perturbation.timeout:g} s")
        self._errors += 1
        self._reflect_error(error, "PerturbationTimeout", perturbation.id)
        self._settle(perturbation, error=error)

    def _settle(
        self,
        perturbation: Perturbation,
        output: Any = None,
        error: BaseException | None = None,
    ) -> None:
        if isinstance(perturbation.data, ReentryContext):
            token_id = perturbation.data.token.id
            if error is None:
                self.purgatory.settle(token_id, output)
            else:
                self.purgatory.fail(token_id, error)
        future = perturbation.future
        if future is None or future.done():
            return
        if error is None:
            future.set_result(output)
        else:
            future.set_exception(error)
        if perturbation.on_settled is not None:
            try:
                perturbation.on_settled(future)
            except Exception as failure:
                future.get_loop().call_exception_handler(
                    {"message": "on_settled callback failed", "exception": failure}
                )

    def _reflect_error(self, error: BaseException, error_type: str, pid: str | None) -> None:
        self.mirror.reflect(
            "error", {"error": str(error), "error_type": error_type, "perturbation_id": pid}
        )

    # -- the run loop -------------------------------------------------------------------

    async def _pump(self) -> None:
        assert self._source is not None and self._inbox is not None and self._work is not None
        try:
            async for item in self._source:
                await self._inbox.put(item)
                self._work.set()
        except Exception as error:
            self._collapse(error)

    async def _run(self) -> None:
        assert self._inbox is not None and self._work is not None
        try:
            while True:
                if len(self._queue):
                    await self._serve_perturbation(self._queue.pop())
                elif self._lifecycle is AgentState.DRAINING:
                    break
                elif not self._inbox.empty():
                    await self._serve_source(self._inbox.get_nowait())
                else:
                    self._work.clear()
                    await self._work.wait()
        except Exception as error:
            self._collapse(error)
            return
        self._set_lifecycle(AgentState.STOPPED)
        self._finish()

    def _start_call(self, data: Any) -> Any:
        """Run the handler up to its first await: its output, or an awaitable of it."""
        self._spend_entropy()
        self._events += 1
        if isinstance(data, ReentryContext):
            resume = getattr(self.handler, "resume", None)
            if resume is None:
                raise TypeError(f"agent {self.id} ejected a semaphore but has no resume()")
            if _takes_idempotency_key(resume):
                return resume(
                    data.token.frozen_state, data.human_input, idempotency_key=data.token.id
                )
            return resume(data.token.frozen_state, data.human_input)
        return self._invoke(data)

    async def _call(self, data: Any) -> Any:
        output = self._start_call(data)
        if inspect.isawaitable(output):
            output = await output
        return output

    async def _serve_perturbation(self, perturbation: Perturbation) -> None:
        future = perturbation.future
        if future is None or future.done():
            return
        self._busy = True
        if perturbation.deadline is None and perturbation.timeout is not None:
            # A reentry: its timeout runs from now (see ``_enqueue``).
            perturbation.deadline = asyncio.get_running_loop().time() + perturbation.timeout
            if self._deadlines is not None:
                self._deadlines.arm(perturbation.deadline)
        try:
            output = self._start_call(perturbation.data)
            if inspect.isawaitable(output):
                self._awaiting = perturbation
                try:
                    output = await output
                finally:
                    self._awaiting = None
        except asyncio.CancelledError:
            if not self._take_back_cut(perturbation):
                # kill() or a collapse cancelled the run loop mid-call: refuse now.
                if not future.done():
                    refusal = AgentUnavailable(f"agent {self.id} stopped")
                    self._reflect_error(refusal, "AgentUnavailable", perturbation.id)
                    self._settle(perturbation, error=refusal)
                raise
        except Exception as error:
            self._take_back_cut(perturbation)
            if not future.done():
                self._fail(perturbation, error)
        else:
            self._take_back_cut(perturbation)
            if not future.done():
                await self._deliver(perturbation, output)
        finally:
            self._busy = False
        self._check_budgets()

    def _take_back_cut(self, perturbation: Perturbation) -> bool:
        """Withdraw the cancellation ``perturbation``'s deadline made, if it made one.

        True when it was the only one, as ``asyncio.timeout`` decides: a
        cancellation from anywhere else (``kill``) still propagates. The
        perturbation was answered ``timeout`` when its deadline passed.
        """
        if self._cut_short is not perturbation:
            return False
        self._cut_short = None
        task = asyncio.current_task()
        return task is None or task.uncancel() == 0

    async def _deliver(self, perturbation: Perturbation, output: Any) -> None:
        data = perturbation.data
        if isinstance(output, SemaphoreToken):
            if isinstance(data, ReentryContext):
                # Resumed, and asked again: the first caller now waits on the new token.
                waiter = self.purgatory.waiter_of(data.token.id)
                token = self._eject(output, perturbation.id, data.token.original_event, waiter)
                self._settle(perturbation, {"semaphore": token.id})
            else:
                resolution = asyncio.get_running_loop().create_future()
                token = self._eject(output, perturbation.id, data, resolution)
                self._settle(perturbation, Ejected(token, resolution))
            return
        # The caller is answered first; the result event follows in the same step, so
        # anything the caller does next already finds it in the history.
        self._settle(perturbation, output)
        if not isinstance(data, ReentryContext):
            self.mirror.reflect("result", {"output": output, "perturbation_id": perturbation.id})
        await self._publish(output)

    def _eject(
        self,
        token: SemaphoreToken,
        perturbation_id: str | None,
        event: Any,
        waiter: asyncio.Future[Any] | None = None,
    ) -> SemaphoreToken:
        if token.original_event is None:
            try:
                token = replace(token, original_event=event)
            except ValueError:
                token = replace(token, original_event=repr(event))
        token = replace(token, agent_id=self.id, perturbation_id=perturbation_id)
        self.purgatory.hold(token, waiter)
        return token

    def _fail(self, perturbation: Perturbation, error: Exception) -> None:
        self._errors += 1
        # A handler that re-raises a failure from elsewhere (a kernel) keeps its type.
        error_type = error.error_type if isinstance(error, AgentError) else type(error).__name__
        self._reflect_error(error, error_type, perturbation.id)
        self._settle(perturbation, error=AgentError(error_type, str(error)))

    async def _serve_source(self, item: Any) -> None:
        max_events = self.config.max_events
        if max_events is not None and self._source_events >= max_events:
            self._begin_draining()
            return
        self._source_events += 1
        try:
            output = await self._call(item)
        except Exception as error:
            self._errors += 1
            self._reflect_error(error, type(error).__name__, None)
        else:
            if isinstance(output, SemaphoreToken):
                self._eject(output, None, item)
            else:
                self.mirror.reflect("result", {"output": output, "perturbation_id": None})
                await self._publish(output)
        self._check_budgets()

    def relay(self, type_: str, data: dict[str, Any]) -> int:
        """Reflect a ``result`` or ``error`` the agent produced elsewhere, counted as ours.

        A published kernel agent runs its source in the kernel; the server's
        proxy relays those events so its mirror and metrics follow the real
        activity. Returns the event's seq.
        """
        if type_ == "result":
            event: dict[str, Any] = {"output": data.get("output"), "perturbation_id": None}
        elif type_ == "error":
            self._errors += 1
            event = {
                "error": str(data.get("error", "")),
                "error_type": str(data.get("error_type", "Exception")),
                "perturbation_id": None,
            }
        else:
            raise ValueError(f"only result and error events can be relayed, not {type_!r}")
        self._events += 1
        return self.mirror.reflect(type_, event)

    def _check_budgets(self) -> None:
        if self._lifecycle is not AgentState.FLOWING:
            return
        max_events = self.config.max_events
        spent = max_events is not None and self._source_events >= max_events
        budget = self.config.entropy_budget
        exhausted = budget is not None and self._current_entropy() >= budget
        if spent or exhausted:
            self._begin_draining()

    def _current_entropy(self) -> float:
        now = time.monotonic()
        released = (now - self._entropy_at) * self.config.entropy_decay
        self._entropy = max(0.0, self._entropy - released)
        self._entropy_at = now
        return self._entropy

    def _spend_entropy(self) -> None:
        if self.config.entropy_budget is not None:
            self._entropy = self._current_entropy() + self.config.entropy_cost

    # -- in-process outputs ---------------------------------------------------------------

    async def _publish(self, output: Any) -> None:
        for queue in self._subscribers:
            if not queue.full():
                queue.put_nowait(output)
            elif self.config.output_policy == "drop_oldest":
                queue.get_nowait()
                queue.put_nowait(output)
            elif self.config.output_policy == "block":
                await queue.put(output)

    def outputs(self) -> OutputSubscription:
        """Every output from this call on, for in-process consumers (chaining agents, say).

        The subscription holds ``output_buffer`` outputs; when it is full the
        agent waits (``block``) or drops the oldest or newest, per
        ``output_policy``. ``aclose()`` it (or leave ``async with``) to unsubscribe.
        """
        queue: asyncio.Queue[Any] = asyncio.Queue(self.config.output_buffer)
        self._subscribers.append(queue)
        return OutputSubscription(queue, self._subscribers)

    def subscribe(self, queue: asyncio.Queue[Any]) -> OutputSubscription:
        """Every output from this call on, into a queue of the caller's making.

        A pipeline edge is such a queue: it counts what it drops, which a
        plain ``outputs()`` subscription cannot. A full ``queue`` is waited on
        or dropped from per ``output_policy``, as for ``outputs()``.
        """
        self._subscribers.append(queue)
        return OutputSubscription(queue, self._subscribers)

    # -- pipelines ----------------------------------------------------------------------------

    @property
    def source(self) -> AsyncIterable[Any] | None:
        return self._source

    def feed(self, source: AsyncIterable[Any]) -> None:
        """Give a dormant agent without a source the source it will consume (a pipeline stage)."""
        if self._lifecycle is not AgentState.DORMANT:
            raise ValueError(f"agent {self.id} is {self._lifecycle.value}, not dormant")
        if self._source is not None:
            raise ValueError(f"agent {self.id} already has a source")
        self._source = source

    async def drain(self, *, source_ends: bool = False) -> None:
        """Serve every source item already read, then stop: ``stop`` lets them go.

        The source is stopped now, or with ``source_ends`` read to its end
        first (a pipeline stage, whose source ends once its upstreams stopped).
        The agent then stops by itself once the items read are served, as
        ``max_events`` makes it (its config is replaced by one that says so).
        """
        pump = self._pump_task
        if pump is not None and not pump.done():
            if not source_ends:
                pump.cancel()
            await asyncio.wait([pump])
        inbox = self._inbox
        if self._lifecycle is not AgentState.FLOWING or inbox is None or inbox.empty():
            await self.stop()
            return
        read = self._source_events + inbox.qsize()
        if self.config.max_events is None or read < self.config.max_events:
            self.config = replace(self.config, max_events=read)
        assert self._stopped is not None
        await asyncio.shield(self._stopped)

    def __or__(self, other: FluxAgent | Pipeline) -> Pipeline:
        """``a | b``: a pipeline in which a's outputs are b's source (``terrarium.pipeline``)."""
        from terrarium.pipeline import pipeline  # the pipeline package imports this module

        return pipeline(self, other)


class OutputSubscription:
    """An async iterator over an agent's outputs, registered from the moment it exists."""

    def __init__(self, queue: asyncio.Queue[Any], subscribers: list[asyncio.Queue[Any]]) -> None:
        self._queue = queue
        self._subscribers = subscribers

    def __aiter__(self) -> OutputSubscription:
        return self

    async def __anext__(self) -> Any:
        return await self._queue.get()

    async def aclose(self) -> None:
        if self._queue in self._subscribers:
            self._subscribers.remove(self._queue)

    async def __aenter__(self) -> OutputSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def flux(
    agent_id: str,
    *,
    source: AsyncIterable[Any] | None = None,
    config: FluxConfig | None = None,
) -> Callable[[Callable[[Any], Awaitable[Any] | Any]], FluxAgent]:
    """Decorator form: ``@flux("echo")`` turns a function into a flux agent."""

    def wrap(function: Callable[[Any], Awaitable[Any] | Any]) -> FluxAgent:
        return FluxAgent(function, agent_id=agent_id, source=source, config=config)

    return wrap


def _takes_idempotency_key(resume: Callable[..., Any]) -> bool:
    """Whether ``resume`` accepts ``idempotency_key`` (by name, or through ``**kwargs``).

    A resume runs at least once: a server that stops after it ran but before
    its token was recorded ``resolved`` runs it again. The key (the token id)
    lets an agent that records it make the second run a no-op.
    """
    try:
        parameters = inspect.signature(resume).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        parameter.name == "idempotency_key" or parameter.kind is parameter.VAR_KEYWORD
        for parameter in parameters
    )
