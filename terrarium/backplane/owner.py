"""The owner's side of routed commands: one consumer-group reader per owned agent.

Commands reach the owner through the agent's command stream, read with
``XREADGROUP`` in the group ``owner``. An entry stays pending in the group
until its answer is written: the reply and the ``XACK`` go out in the same
pipeline, after the perturbation was answered (or refused) or the semaphore
was resolved. So an owner that restarts finds what it had accepted but not
answered (it claims the group's pending entries first), and a Redis restart
loses nothing that was acknowledged as added. Delivery is at least once: an
owner killed between the answer and the ack serves that command again.

A command whose deadline passed while nobody was reading it is answered
``timeout`` without reaching the agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from terrarium.backplane.keys import OWNER_GROUP, Keys
from terrarium.backplane.messages import Command, Reply, error_body
from terrarium.backplane.retry import CONNECTION_ERRORS, Backoff
from terrarium.backplane.writer import Message, StreamWriter
from terrarium.errors import AgentUnavailable, PerturbationTimeout
from terrarium.flux import Ejected, FluxAgent
from terrarium.perturbation import DEFAULT_PRIORITY

log = logging.getLogger(__name__)


class CommandServer:
    """Serves one owned agent's command stream until cancelled."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        agent: FluxAgent,
        replica_id: str,
        writer: StreamWriter,
        *,
        reply_maxlen: int = 10_000,
        block_ms: int = 2000,
        batch: int = 64,
    ) -> None:
        self._client = client
        self._keys = keys
        self._agent = agent
        self._replica_id = replica_id
        self._writer = writer
        self._stream = keys.commands(agent.id)
        self._reply_maxlen = reply_maxlen
        self._block_ms = block_ms
        self._batch = batch
        #: Entries being served by this process: never served twice by it.
        self._in_flight: set[str] = set()

    async def run(self) -> None:
        backoff = Backoff()
        claimed = False
        while True:
            try:
                if not claimed:
                    await self._ensure_group()
                    await self._claim_pending()
                    claimed = True
                answer: Any = await self._client.xreadgroup(
                    OWNER_GROUP,
                    self._replica_id,
                    {self._stream: ">"},
                    count=self._batch,
                    block=self._block_ms,
                )
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium commands of %s: %s; retrying", self._agent.id, error)
                await backoff.wait()
                continue
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                claimed = False  # Redis lost the group (a restart without persistence)
                continue
            backoff.reset()
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    self._serve(_text(entry_id), fields)

    async def _ensure_group(self) -> None:
        try:
            await self._client.xgroup_create(self._stream, OWNER_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _claim_pending(self) -> None:
        """Take over what a previous owner accepted and never answered."""
        start = "0-0"
        while True:
            answer: Any = await self._client.xautoclaim(
                self._stream, OWNER_GROUP, self._replica_id, 0, start_id=start, count=100
            )
            start = _text(answer[0])
            for entry_id, fields in answer[1]:
                if fields:
                    self._serve(_text(entry_id), fields)
            if start == "0-0":
                return

    def _serve(self, entry_id: str, fields: dict[Any, Any]) -> None:
        if entry_id in self._in_flight:
            return
        try:
            command = Command.parse(fields)
        except (ValueError, KeyError) as error:
            log.error("Terrarium: dropping a malformed command for %s: %s", self._agent.id, error)
            self._writer.send(Message(None, {}, 0, self._ack(entry_id)))
            return
        self._in_flight.add(entry_id)
        try:
            if command.kind == "perturb":
                self._perturb(entry_id, command)
            elif command.kind == "resolve":
                token = self._agent.purgatory.resolve(
                    str(command.body.get("token_id")),
                    command.body.get("human_input"),
                    by=command.body.get("by"),
                )
            else:
                token = self._agent.purgatory.cancel(str(command.body.get("token_id")))
            if command.kind != "perturb":
                reply = Reply(command.request, "token", {"token": token.to_record()})
                self._reply(entry_id, command, reply)
        except Exception as error:
            self._reply(entry_id, command, Reply(command.request, "error", error_body(error)))

    def _perturb(self, entry_id: str, command: Command) -> None:
        remaining = command.deadline - time.time()
        if remaining <= 0:
            raise PerturbationTimeout("the deadline passed before the owner read the perturbation")
        body = command.body
        requested = body.get("timeout")
        timeout = remaining if requested is None else min(float(requested), remaining)
        perturbation = self._agent.submit(
            body.get("data"),
            priority=body.get("priority", DEFAULT_PRIORITY),
            timeout=timeout,
            by=body.get("by"),
            perturbation_id=command.request,
        )
        assert perturbation.future is not None
        perturbation.future.add_done_callback(
            lambda future: self._answered(entry_id, command, future)
        )

    def _answered(self, entry_id: str, command: Command, future: asyncio.Future[Any]) -> None:
        error = AgentUnavailable("cancelled") if future.cancelled() else future.exception()
        if error is not None:
            self._reply(entry_id, command, Reply(command.request, "error", error_body(error)))
            return
        output = future.result()
        if isinstance(output, Ejected):
            token = output.token.to_record()
            self._reply(entry_id, command, Reply(command.request, "semaphore", {"token": token}))
            output.resolution.add_done_callback(
                lambda resolution: self._resumed(command, resolution)
            )
        else:
            self._reply(entry_id, command, Reply(command.request, "result", {"output": output}))

    def _resumed(self, command: Command, resolution: asyncio.Future[Any]) -> None:
        """The human answered and ``resume`` ran: the follow-up result of a semaphore."""
        if resolution.cancelled():
            reply = Reply(command.request, "error", error_body(AgentUnavailable("cancelled")))
        elif resolution.exception() is not None:
            error = resolution.exception()
            assert error is not None
            reply = Reply(command.request, "error", error_body(error))
        else:
            reply = Reply(command.request, "result", {"output": resolution.result()})
        self._writer.send(
            Message(self._keys.replies(command.reply_to), reply.fields(), self._reply_maxlen)
        )

    def _reply(self, entry_id: str, command: Command, reply: Reply) -> None:
        self._in_flight.discard(entry_id)
        self._writer.send(
            Message(
                self._keys.replies(command.reply_to),
                reply.fields(),
                self._reply_maxlen,
                self._ack(entry_id),
            )
        )

    def _ack(self, entry_id: str) -> tuple[str, str, str]:
        return (self._stream, OWNER_GROUP, entry_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
