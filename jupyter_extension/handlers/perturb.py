"""The Beam: ``GET {base}terrarium/perturb/{agent_id}`` (WebSocket).

Authenticated injection into the agent's priority queue. Each request frame
is answered exactly once, by id: a result, or an error with the protocol's
code; or, when the agent asks a human, a ``semaphore`` now and the result
once the token is resolved. Requests are submitted at once and answered when their future settles,
so several may be in flight on one socket. For an agent another replica owns,
the request is routed to its owner through the bus and answered the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado.concurrent import future_set_result_unless_cancelled
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketHandler

from jupyter_extension.context import TokenBucket
from jupyter_extension.handlers.base import TerrariumMixin
from jupyter_extension.wire import buffered_input, stream_of, text_frame
from terrarium.errors import AgentUnavailable, BadRequest, PerturbationError, RateLimited
from terrarium.events import parse_json, to_json
from terrarium.flux import Ejected
from terrarium.perturbation import DEFAULT_PRIORITY, Perturbation
from terrarium.served import ServedAgent


def parse_request(raw: str | bytes) -> tuple[Any, dict[str, Any]]:
    """Validate a Beam frame; returns its id and the frame, or raises ``BadRequest``.

    The id is extracted before anything else is checked, so even a frame with
    a bad priority is answered under its own id.
    """
    frame = parse_json(raw)
    if not isinstance(frame, dict):
        raise BadRequest("frame must be a JSON object")
    return frame.get("id"), frame


def check_request(frame: dict[str, Any]) -> tuple[int, float | None]:
    if not isinstance(frame.get("id"), str):
        raise BadRequest("id must be a string (your correlation id)")
    if "data" not in frame:
        raise BadRequest("missing data")
    # An absent or null priority is the default, as an absent or null timeout is.
    priority = frame.get("priority")
    priority = Perturbation.check_priority(DEFAULT_PRIORITY if priority is None else priority)
    return priority, Perturbation.check_timeout(frame.get("timeout"))


def error_reply(cid: Any, error: PerturbationError) -> dict[str, Any]:
    return {"type": "error", "id": cid, "code": error.code, "message": str(error)}


class PerturbHandler(TerrariumMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    agent: ServedAgent | None = None
    bucket: TokenBucket | None = None
    #: Who perturbs through this socket (the Jupyter user, fixed for the connection).
    by: str | None = None
    #: Requests on this socket not answered yet (a semaphore's stays until its resolution).
    in_flight = 0
    #: Bytes of replies written to the stream that have not left it yet.
    unsent = 0
    #: While ``unsent`` is above the context's ``perturb_backlog_bytes``: resolves once
    #: the replies drain (or the socket closes), and Tornado reads no frame until then.
    drained: asyncio.Future[None] | None = None

    @property
    def max_message_size(self) -> int:
        return self.context.max_message_size

    @ws_authenticated
    @authorized("execute")  # type: ignore[untyped-decorator]
    async def get(  # type: ignore[override]
        self, agent_id: str, *args: Any, **kwargs: Any
    ) -> None:
        self.refuse_unless_websocket()
        self.agent = await self.locate(agent_id)
        self.bucket = self.context.bucket()
        self.by = self.who()
        await super().get(agent_id, *args, **kwargs)

    def on_message(self, message: str | bytes) -> asyncio.Future[None] | None:
        """Submit the request; its reply is written when its perturbation settles.

        A lone request (nothing else in flight on this socket, no further
        frame already read) to a local agent holds Tornado's reading back for
        one loop iteration: the agent's task, woken by the submit, runs first,
        and the reply leaves before Tornado tries the socket again (a ``recv``
        that finds nothing, and a change to the loop's interest list). Frames
        of a pipelined burst are parsed on at once.
        """
        cid: Any = None
        try:
            cid, frame = parse_request(message)
            if not isinstance(cid, str):
                cid = None
            assert self.bucket is not None
            if not self.bucket.take():
                raise RateLimited(f"more than {self.context.perturb_rate_limit:g} requests/s")
            priority, timeout = check_request(frame)
            assert self.agent is not None
            submitted = self.agent.perturb(
                frame["data"], priority=priority, timeout=timeout, by=self.by
            )
        except PerturbationError as error:
            self.reply(error_reply(cid, error))
            return self.drained
        self.context.audit(
            {
                "agent_id": self.agent.id,
                "perturbation_id": submitted.perturbation_id,
                "priority": priority,
                "by": self.by,
                "via": "websocket",
            }
        )
        self.in_flight += 1
        perturbation_id = submitted.perturbation_id
        submitted.when_settled(lambda done: self.answer(cid, perturbation_id, done))
        if self.drained is not None:
            return self.drained
        if self.in_flight == 1 and self.agent.local and not buffered_input(stream_of(self)):
            return self.agent_turn()
        return None

    def agent_turn(self) -> asyncio.Future[None]:
        """A future that resolves in the next loop iteration, after the agent's step.

        The submit woke the agent's task before this callback was scheduled,
        and the loop runs callbacks in order.
        """
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        loop.call_soon(future_set_result_unless_cancelled, turn, None)
        return turn

    def answer(self, cid: str, perturbation_id: str, future: asyncio.Future[Any]) -> None:
        error = AgentUnavailable("cancelled") if future.cancelled() else future.exception()
        if error is None and isinstance(future.result(), Ejected):
            ejected: Ejected = future.result()
            self.reply(
                {
                    "type": "semaphore",
                    "id": cid,
                    "perturbation_id": perturbation_id,
                    "token": ejected.token.as_protocol(),
                }
            )
            ejected.resolution.add_done_callback(
                lambda resolution: self.answer(cid, perturbation_id, resolution)
            )
            return
        self.in_flight -= 1
        if error is None:
            self.reply(
                {
                    "type": "result",
                    "id": cid,
                    "perturbation_id": perturbation_id,
                    "output": future.result(),
                }
            )
        elif isinstance(error, PerturbationError):
            self.reply(error_reply(cid, error))
        else:
            self.reply({"type": "error", "id": cid, "code": "agent_error", "message": str(error)})

    def reply(self, message: dict[str, Any]) -> None:
        """Frame the reply once and queue it on the stream.

        ``write_message`` would also wrap each write in a Task of its own; a
        reply needs none (nothing awaits it), and a round trip is short enough
        for that Task to show.
        """
        if self.ws_connection is None or self.ws_connection.is_closing():
            self.log.debug("perturb socket closed before its reply %s", message.get("id"))
            return
        frame = text_frame(to_json(message).encode())
        stream = stream_of(self)
        try:
            written = stream.write(frame)
        except StreamClosedError:
            self.log.debug("perturb socket closed before its reply %s", message.get("id"))
            return
        if stream.writing():
            self.hold(len(frame), written)

    def hold(self, size: int, written: asyncio.Future[None]) -> None:
        """Count a reply the client has not taken yet; past the bound, stop reading.

        A client that sends and never reads would otherwise make the server
        hold every reply. Once the unsent replies pass ``perturb_backlog_bytes``,
        ``on_message`` hands Tornado the ``drained`` future, and Tornado reads no
        further frame until the replies have left (the client's own sends then
        block in its socket).
        """
        self.unsent += size
        written.add_done_callback(lambda _: self.release(size))
        if self.drained is None and self.unsent > self.context.perturb_backlog_bytes:
            self.drained = asyncio.get_running_loop().create_future()

    def release(self, size: int) -> None:
        self.unsent -= size
        drained = self.drained
        if drained is not None and self.unsent <= self.context.perturb_backlog_bytes:
            self.drained = None
            future_set_result_unless_cancelled(drained, None)

    def on_close(self) -> None:
        # Tornado fails the pending writes when the stream closes, which releases
        # their bytes; this only makes sure nothing is left waiting on them.
        drained, self.drained = self.drained, None
        if drained is not None:
            future_set_result_unless_cancelled(drained, None)
