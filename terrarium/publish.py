"""Publish a kernel's agent on a Terrarium server: the kernel keeps it, the server shows it.

``client.publish(agent)`` opens ``{base}terrarium/publish/{agent_id}``. The
server registers a proxy agent of that id whose every invocation comes over
this socket; the kernel hands it to its own agent (through the agent's queue,
so its source, priorities and mirror work as usual) and answers. Results and
errors the agent produces from its own source travel the other way, so the
server's mirror shows them. When the socket closes (``close()``, or the
kernel dies) the server removes the proxy. The wire contract is in the
README ("Publishing a kernel agent").

Server -> kernel: ``{"type": "invoke", "call": N, "data": any}``.
Kernel -> server: ``{"type": "return", "call": N, "output": any}``,
``{"type": "raise", "call": N, "error_type": str, "message": str}``,
``{"type": "event", "event_type": "result" | "error", "data": {...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from terrarium.errors import AgentError, PerturbationError
from terrarium.events import to_json
from terrarium.flux import AgentState, Ejected, FluxAgent
from terrarium.mirror import plain_frames
from terrarium.purgatory import NotPending, UnknownToken

if TYPE_CHECKING:
    from terrarium.client import TerrariumClient

log = logging.getLogger(__name__)

#: Messages waiting for the socket before the agent's mirror holds back its events.
OUTBOX_LIMIT = 1024


class _SourceObserver:
    """Watches the kernel agent's mirror and forwards what its own source produced.

    Results and errors of invocations from the server are not forwarded: the
    server's proxy reflects those itself.
    """

    __slots__ = ("_publication",)

    def __init__(self, publication: Publication) -> None:
        self._publication = publication

    def send(self, data: bytes) -> None:
        for frame in plain_frames(data):
            if not isinstance(frame, dict) or frame.get("type") not in ("result", "error"):
                continue
            event = frame.get("data")
            if isinstance(event, dict) and event.get("perturbation_id") is None:
                message = {"type": "event", "event_type": frame["type"], "data": event}
                self._publication.post(message)

    def backlogged(self) -> bool:
        return self._publication.backlogged()

    def close(self, code: int, reason: str) -> None:
        # The agent left its kernel registry: it leaves the server too.
        self._publication.close()


class Publication:
    """A kernel agent served through a server, for as long as this handle is open.

    ``await publication`` (or ``await publication.ready()``) waits until the
    server has registered it and raises the server's refusal (``ServerError``
    409 when the id is taken). ``close()`` / ``await aclose()`` / leaving
    ``async with`` unpublishes it.
    """

    def __init__(self, client: TerrariumClient, agent: FluxAgent) -> None:
        if not isinstance(agent, FluxAgent):
            raise TypeError(f"publish() needs a FluxAgent, not {type(agent).__name__}")
        self.client = client
        self.agent = agent
        #: Why the publication failed or ended early, if it did.
        self.error: BaseException | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._held = False
        self._calls: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<Publication {self.agent.id} on {self.client.server.url}: {self.state}>"

    @property
    def state(self) -> str:
        """``connecting``, ``published``, ``failed`` or ``closed``."""
        if self._task is None or self._ready is None:
            return "closed"
        if not self._ready.done():
            return "connecting"
        if self._ready.cancelled() or self._ready.exception() is not None:
            return "failed"
        return "closed" if self._task.done() else "published"

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> Publication:
        """Start publishing as a task on the running loop (a kernel's, in a notebook)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "publish() runs on an event loop: call it in a notebook cell or in async code"
            ) from None
        if self._task is not None:
            raise RuntimeError("this publication was already started")
        self._ready = loop.create_future()
        self._ready.add_done_callback(self._report)
        self._task = loop.create_task(self._run(), name=f"terrarium-publish-{self.agent.id}")
        return self

    async def ready(self) -> Publication:
        """Wait until the server serves the agent; raises why it will not."""
        if self._ready is None:
            raise RuntimeError("start() the publication first")
        await asyncio.shield(self._ready)
        return self

    def __await__(self) -> Generator[Any, None, Publication]:
        return self.ready().__await__()

    async def __aenter__(self) -> Publication:
        return await self.ready()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def close(self) -> None:
        """Unpublish: close the socket (the server removes its proxy). Returns at once."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        """Unpublish and wait until the socket is closed."""
        self.close()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the publication ends (closed here, by the server, or the network)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    def _report(self, ready: asyncio.Future[None]) -> None:
        # Mark the outcome as seen, and say it: a sync cell may never await it.
        error = None if ready.cancelled() else ready.exception()
        if error is not None:
            log.warning("terrarium: publishing %r failed: %s", self.agent.id, error)

    # -- the socket ----------------------------------------------------------------

    async def _run(self) -> None:
        assert self._ready is not None
        config = self.agent.config
        try:
            socket = await self.client.open_socket(
                "publish",
                self.agent.id,
                buffer_size=config.buffer_size,
                perturbation_timeout=config.perturbation_timeout,
            )
        except Exception as error:
            self.error = error
            self._ready.set_exception(error)
            return
        except asyncio.CancelledError:
            self._ready.cancel()
            raise
        try:
            await self._serve(socket)
        except ConnectionClosed as closed:
            self.error = closed
        finally:
            if not self._ready.done():
                self._ready.set_exception(self.error or ConnectionError("publication closed"))
            for call in list(self._calls):
                call.cancel()

    async def _serve(self, socket: ClientConnection) -> None:
        assert self._ready is not None
        async with socket:
            if self.agent.state is AgentState.DORMANT:
                self.agent.start()
            mirror = self.agent.mirror
            observer = _SourceObserver(self)
            mirror.attach(observer, mirror.last_seq)
            writer = asyncio.get_running_loop().create_task(self._write(socket))
            self._ready.set_result(None)
            log.info("terrarium: %r published on %s", self.agent.id, self.client.server.url)
            try:
                async for message in socket:
                    self._receive(message)
            finally:
                mirror.detach(observer)
                writer.cancel()
        if socket.close_code not in (None, 1000, 1001):
            log.warning(
                "terrarium: the server closed the publication of %r (%s %s)",
                self.agent.id,
                socket.close_code,
                socket.close_reason,
            )

    async def _write(self, socket: ClientConnection) -> None:
        while True:
            text = await self._outbox.get()
            await socket.send(text)
            if self._held and self._outbox.qsize() < OUTBOX_LIMIT:
                self._held = False
                self.agent.mirror.wake()

    def post(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(to_json(message))

    def backlogged(self) -> bool:
        self._held = self._outbox.qsize() >= OUTBOX_LIMIT
        return self._held

    def _receive(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            frame = None
        if not (isinstance(frame, dict) and frame.get("type") == "invoke"):
            bad = "terrarium: ignoring a frame the server sent %r: %.200r"
            log.warning(bad, self.agent.id, message)
            return
        call = frame.get("call")
        task = asyncio.get_running_loop().create_task(self._invoke(call, frame.get("data")))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _invoke(self, call: Any, data: Any) -> None:
        """Run one invocation through the agent's own queue and answer it."""
        try:
            output = await self.agent.perturb(data, by="server")
            if isinstance(output, Ejected):
                with contextlib.suppress(NotPending, UnknownToken):
                    self.agent.purgatory.cancel(output.token.id)
                raise AgentError(
                    "SemaphoreNotPublished",
                    "the agent asked a human; semaphores of a published agent are not "
                    "forwarded to the server yet (the token was cancelled)",
                )
        except PerturbationError as error:
            error_type = error.error_type if isinstance(error, AgentError) else type(error).__name__
            self.post(
                {"type": "raise", "call": call, "error_type": error_type, "message": str(error)}
            )
        else:
            self.post({"type": "return", "call": call, "output": output})
