"""The caller's side of routed commands: send to the owner, wait for the reply.

A replica that receives a perturbation (or a semaphore answer) for an agent
it does not own adds a command to the agent's command stream and waits on a
future. One reader per replica (``XREAD BLOCK`` on its own reply stream)
settles those futures. Adding the command is the moment of acceptance: if
Redis cannot take it, the caller is answered ``agent_unavailable`` at once,
and once it is taken, the owner answers it even across restarts of Redis or
of the owner. A perturbation that gets no reply within its timeout (plus a
little for the trip) answers ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis

from terrarium.backplane.keys import Keys
from terrarium.backplane.messages import Command, CommandKind, Reply, error_of
from terrarium.backplane.retry import CONNECTION_ERRORS, Backoff
from terrarium.backplane.streams import last_id
from terrarium.errors import AgentUnavailable, PerturbationTimeout
from terrarium.flux import Ejected
from terrarium.perturbation import new_perturbation_id
from terrarium.purgatory.tokens import SemaphoreToken
from terrarium.served import Submitted

log = logging.getLogger(__name__)


class Router:
    """Routes commands to owners and matches their replies to the waiting callers."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        replica_id: str,
        *,
        command_maxlen: int = 10_000,
        trip: float = 2.0,
        block_ms: int = 2000,
    ) -> None:
        self._client = client
        self._keys = keys
        self.replica_id = replica_id
        self._stream = keys.replies(replica_id)
        self._command_maxlen = command_maxlen
        #: Seconds a reply may take to travel back, beyond the owner's own deadline.
        self.trip = trip
        self._block_ms = block_ms
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._after: str | None = None

    async def prepare(self) -> None:
        """Note where this replica's reply stream ends: older replies are not ours to take."""
        self._after = await last_id(self._client, self._stream)

    # -- sending ------------------------------------------------------------------

    def perturb(
        self,
        agent_id: str,
        data: Any,
        *,
        priority: int,
        timeout: float | None,
        by: str | None,
        default_timeout: float,
    ) -> Submitted:
        """Route a perturbation; its future settles as a local one's would."""
        loop = asyncio.get_running_loop()
        request = new_perturbation_id()
        future: asyncio.Future[Any] = loop.create_future()
        budget = timeout if timeout is not None else default_timeout
        command = Command(
            "perturb",
            request,
            self.replica_id,
            time.time() + budget,
            {"data": data, "priority": priority, "timeout": timeout, "by": by},
        )
        self._wait(request, future, budget + self.trip)
        sending = loop.create_task(self._send(agent_id, command, future))
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)
        return Submitted(request, priority, future, future.add_done_callback)

    async def request(
        self, agent_id: str, kind: CommandKind, body: dict[str, Any], within: float
    ) -> Any:
        """Route a Purgatory command and wait ``within`` seconds for its answer (a token)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        command = Command(kind, new_perturbation_id(), self.replica_id, time.time() + within, body)
        self._wait(command.request, future, within + self.trip)
        await self._send(agent_id, command, future)
        return await future

    def _wait(self, request: str, future: asyncio.Future[Any], within: float) -> None:
        self._waiting[request] = future
        timer = asyncio.get_running_loop().call_later(within, self._expire, request, future)
        future.add_done_callback(lambda _: timer.cancel())

    def _expire(self, request: str, future: asyncio.Future[Any]) -> None:
        if self._waiting.get(request) is future:
            del self._waiting[request]
        if not future.done():
            future.set_exception(PerturbationTimeout("no answer from the agent's owner in time"))

    async def _send(self, agent_id: str, command: Command, future: asyncio.Future[Any]) -> None:
        try:
            await self._client.xadd(
                self._keys.commands(agent_id),
                command.fields(),
                maxlen=self._command_maxlen,
                approximate=True,
            )
        except CONNECTION_ERRORS as error:
            self._waiting.pop(command.request, None)
            if not future.done():
                future.set_exception(AgentUnavailable(f"the backplane is unreachable: {error}"))

    # -- receiving ------------------------------------------------------------------

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                if self._after is None:
                    await self.prepare()
                assert self._after is not None
                answer: Any = await self._client.xread(
                    {self._stream: self._after}, count=256, block=self._block_ms
                )
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium replies: %s; retrying", error)
                await backoff.wait()
                continue
            backoff.reset()
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    self._after = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    try:
                        self._settle(Reply.parse(fields))
                    except (ValueError, KeyError) as error:
                        log.error("Terrarium: dropping a malformed reply: %s", error)

    def _settle(self, reply: Reply) -> None:
        future = self._waiting.pop(reply.request, None)
        if future is None or future.done():
            return
        body = reply.body
        if reply.kind == "result":
            future.set_result(body.get("output"))
        elif reply.kind == "semaphore":
            token = SemaphoreToken.from_record(body["token"])
            resolution: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            # The follow-up result comes when a human answers: no deadline of ours applies.
            self._waiting[reply.request] = resolution
            resolution.add_done_callback(lambda _: self._waiting.pop(reply.request, None))
            future.set_result(Ejected(token, resolution))
        elif reply.kind == "token":
            future.set_result(SemaphoreToken.from_record(body["token"]))
        else:
            future.set_exception(error_of(body))

    def close(self) -> None:
        """Refuse whatever is still waiting: this replica is going away."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(AgentUnavailable("this gateway replica is stopping"))
