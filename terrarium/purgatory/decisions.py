"""Purgatory: one agent's pending human decisions.

The agent ejects a token instead of blocking and carries on. Purgatory keeps
the token (in its store, so it survives a restart), reflects every change,
voids it when its deadline passes (a timer, nobody polls), and on resolution
hands a ``ReentryContext`` back to the agent exactly once.

An answer is recorded in the store (``resuming``, with the human's input)
before the human is told it was taken, and the token reads ``resolved`` only
once the agent's ``resume`` has run. A server that stops in between owes that
resume: ``restore`` queues it again when the agent starts, so an approval
answered 200 always acts. The resume then runs at least once; the token id,
passed to ``resume`` as ``idempotency_key`` where it accepts one, lets the
agent make it exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from terrarium.errors import AgentError, AgentUnavailable, PerturbationError, PerturbationTimeout
from terrarium.purgatory.stores import MemoryTokenStore, TokenStore
from terrarium.purgatory.tokens import ReentryContext, SemaphoreToken, utc_now

Reflect = Callable[[str, dict[str, Any]], object]
Reenter = Callable[[ReentryContext, str | None], None]


class UnknownToken(LookupError):
    """No token with this id for this agent."""


class NotPending(Exception):
    """The token was already resolved, cancelled or voided."""

    def __init__(self, token: SemaphoreToken) -> None:
        super().__init__(f"token {token.id} is {token.status}, not pending")
        self.token = token


class SemaphoreCancelled(PerturbationError):
    code = "agent_error"


class Purgatory:
    """Hold, list, resolve, cancel and void one agent's semaphore tokens."""

    def __init__(
        self,
        agent_id: str,
        store: TokenStore | None = None,
        *,
        reflect: Reflect,
        reenter: Reenter,
    ) -> None:
        self.agent_id = agent_id
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self._reflect = reflect
        self._reenter = reenter
        self._waiters: dict[str, asyncio.Future[Any]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # -- the agent's side -----------------------------------------------------

    def hold(self, token: SemaphoreToken, waiter: asyncio.Future[Any] | None = None) -> None:
        """Keep an ejected token, tell the observers, and arm its deadline."""
        self.store.save(token)
        if waiter is not None:
            self._waiters[token.id] = waiter
        self._reflect("semaphore_ejected", {"token": token.as_protocol()})
        self._arm(token)

    def restore(self) -> list[SemaphoreToken]:
        """Re-arm the deadlines of the tokens a previous run left pending, and queue
        the resumes it owed (answers recorded whose resume had not run)."""
        tokens = self.store.pending(self.agent_id)
        for token in tokens:
            self._arm(token)
        for owed in self.store.owed(self.agent_id):
            self._reenter(ReentryContext(owed, owed.human_input), owed.resolved_by)
        return tokens

    def settle(self, token_id: str, output: Any) -> None:
        """The agent's ``resume`` answered: record it, reflect it, tell the original waiter."""
        self._resumed(token_id)
        self._reflect("semaphore_resolved", {"token_id": token_id, "output": output})
        waiter = self._waiters.pop(token_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(output)

    def _resumed(self, token_id: str) -> None:
        token = self.store.get(token_id)
        if token is not None and token.owed:
            self.store.save(token.with_status("resolved"))

    def fail(self, token_id: str, error: BaseException) -> None:
        """The agent's ``resume`` failed, or the token will not be resumed: the original
        waiter gets the error. A resume that ran and raised has been had; one the agent
        refused (it stopped first) is still owed, and runs when the agent starts again."""
        if not isinstance(error, AgentUnavailable):
            self._resumed(token_id)
        waiter = self._waiters.pop(token_id, None)
        if waiter is not None and not waiter.done():
            if not isinstance(error, PerturbationError):
                error = AgentError(type(error).__name__, str(error))
            waiter.set_exception(error)

    def waiter_of(self, token_id: str) -> asyncio.Future[Any] | None:
        return self._waiters.pop(token_id, None)

    # -- the humans' side --------------------------------------------------------

    def pending(self) -> list[SemaphoreToken]:
        """Pending tokens; any whose deadline passed unseen (a stopped server's) is voided now."""
        tokens = self.store.pending(self.agent_id)
        now = utc_now()
        expired = [t for t in tokens if t.deadline is not None and t.deadline <= now]
        for token in expired:
            self._void(token.id)
        return [token for token in tokens if token not in expired] if expired else tokens

    def get(self, token_id: str) -> SemaphoreToken:
        token = self.store.get(token_id)
        if token is None or token.agent_id != self.agent_id:
            raise UnknownToken(f"no token {token_id!r} for agent {self.agent_id!r}")
        return token

    def _take_pending(self, token_id: str) -> SemaphoreToken:
        token = self.get(token_id)
        if not token.pending:
            raise NotPending(token)
        return token

    def resolve(self, token_id: str, human_input: Any, *, by: str | None = None) -> SemaphoreToken:
        """Record the answer (``resuming``) and queue the reentry, in one step.

        The reentry is queued before the answer is recorded, so an agent that
        cannot take it (stopped) leaves the token pending and resolvable later;
        the answer is in the store before this returns, so a restart runs the
        resume it owes.
        """
        token = self._take_pending(token_id)
        answered = token.answered(human_input, by)
        self._reenter(ReentryContext(answered, answered.human_input), by)
        self.store.save(answered)
        self._disarm(token_id)
        return answered

    def cancel(self, token_id: str) -> SemaphoreToken:
        token = self._take_pending(token_id)
        cancelled = token.with_status("cancelled")
        self.store.save(cancelled)
        self._disarm(token_id)
        self._reflect("semaphore_cancelled", {"token_id": token_id})
        self.fail(token_id, SemaphoreCancelled(f"semaphore {token_id} was cancelled"))
        return cancelled

    def close(self) -> None:
        """Stop the deadline timers; tokens stay pending in the store."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- deadlines ------------------------------------------------------------------

    def _arm(self, token: SemaphoreToken) -> None:
        if token.deadline is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, (token.deadline - utc_now()).total_seconds())
        self._timers[token.id] = loop.call_at(loop.time() + delay, self._void, token.id)

    def _disarm(self, token_id: str) -> None:
        timer = self._timers.pop(token_id, None)
        if timer is not None:
            timer.cancel()

    def _void(self, token_id: str) -> None:
        self._timers.pop(token_id, None)
        token = self.store.get(token_id)
        if token is None or not token.pending:
            return
        self.store.save(token.with_status("voided"))
        self._reflect("semaphore_voided", {"token_id": token_id, "reason": "deadline"})
        deadline: datetime | None = token.deadline
        self.fail(token_id, PerturbationTimeout(f"no human answered by {deadline}"))
