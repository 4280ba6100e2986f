"""Publish a kernel's agent on a Terrarium server: the kernel keeps it, the server shows it.

``client.publish(agent)`` opens ``{base}terrarium/publish/{agent_id}``. The
server registers a proxy agent of that id whose every invocation comes over
this socket; the kernel hands it to its own agent (through the agent's queue,
so its source, priorities and mirror work as usual) and answers. Results and
errors the agent produces from its own source travel the other way, so the
server's mirror shows them. When the socket closes (``close()``, or the
kernel dies) the server removes the proxy. The wire contract is
docs/PROTOCOL.md, section 8.

``client.publish(pipeline)`` publishes each stage of a kernel pipeline so,
and the first stage's socket also carries the pipeline, so that the server
lists it (``GET api/pipelines``) with the kernel's live edge figures
(``PipelinePublication``).

Server -> kernel: ``{"type": "invoke", "call": N, "data": any}``;
``{"type": "pipeline_listed", "id": str}`` or
``{"type": "pipeline_refused", "id": str | null, "error": str, "message": str}``
in answer to each ``pipeline`` frame.
Kernel -> server: ``{"type": "return", "call": N, "output": any}``,
``{"type": "raise", "call": N, "error_type": str, "message": str}``,
``{"type": "event", "event_type": "result" | "error", "data": {...}}``,
``{"type": "pipeline", "pipeline": PIPELINE}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Generator
from typing import Any, Protocol, Self

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from terrarium import protocol
from terrarium.errors import AgentError, PerturbationError
from terrarium.events import to_json
from terrarium.flux import AgentState, Ejected, FluxAgent
from terrarium.mirror import plain_frames
from terrarium.pipeline import Pipeline
from terrarium.purgatory.decisions import NotPending, UnknownToken


class Located(Protocol):
    """Where the server is: its URL, for messages."""

    @property
    def url(self) -> str: ...


class PublishingClient(Protocol):
    """What a publication needs of a client (``TerrariumClient`` is one): declared here,
    where it is used, so this module needs no client."""

    @property
    def server(self) -> Located: ...

    async def open_socket(self, *parts: str, **query: Any) -> ClientConnection: ...


log = logging.getLogger(__name__)

#: Messages waiting for the socket before the agent's mirror holds back its events.
OUTBOX_LIMIT = 1024
#: The server's answers to a ``pipeline`` frame.
PIPELINE_ANSWERS = ("pipeline_listed", "pipeline_refused")


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


class _Handle:
    """What both publications share: a task on the kernel's loop and a ``ready`` future.

    ``await`` it (or ``ready()``) to wait until the server serves what is
    published, ``close()`` / ``await aclose()`` / leaving ``async with`` to
    unpublish. Subclasses name themselves (``what``), say the word of their
    live state (``live``) and run the socket work in ``_run``.
    """

    #: The word ``state`` says while the publication is served.
    live = "published"

    def __init__(self) -> None:
        #: Why the publication failed or ended early, if it did.
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None

    @property
    def what(self) -> str:
        """What is published, for messages."""
        raise NotImplementedError

    @property
    def task_name(self) -> str:
        raise NotImplementedError

    async def _run(self) -> None:
        raise NotImplementedError

    @property
    def state(self) -> str:
        """``connecting``, the live word (``published``, ``listed``), ``failed`` or ``closed``."""
        if self._task is None or self._ready is None:
            return "closed"
        if not self._ready.done():
            return "connecting"
        if self._ready.cancelled() or self._ready.exception() is not None:
            return "failed"
        return "closed" if self._task.done() else self.live

    def start(self) -> Self:
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
        self._task = loop.create_task(self._run(), name=self.task_name)
        return self

    async def ready(self) -> Self:
        """Wait until the server serves it; raises why it will not."""
        if self._ready is None:
            raise RuntimeError("start() the publication first")
        await asyncio.shield(self._ready)
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self.ready().__await__()

    async def __aenter__(self) -> Self:
        return await self.ready()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def close(self) -> None:
        """Unpublish: close the socket (the server lets go of it). Returns at once."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()  # the task may be cancelled before it ever ran

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
            log.warning("terrarium: publishing %s failed: %s", self.what, error)


class Publication(_Handle):
    """A kernel agent served through a server, for as long as this handle is open.

    ``await publication`` (or ``await publication.ready()``) waits until the
    server has registered it and raises the server's refusal (``ServerError``
    409 when the id is taken). ``close()`` / ``await aclose()`` / leaving
    ``async with`` unpublishes it.
    """

    def __init__(self, client: PublishingClient, agent: FluxAgent) -> None:
        if not isinstance(agent, FluxAgent):
            raise TypeError(f"publish() needs a FluxAgent, not {type(agent).__name__}")
        super().__init__()
        self.client = client
        self.agent = agent
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._held = False
        self._calls: set[asyncio.Task[None]] = set()
        #: Where the server's answers to ``pipeline`` frames go, on a socket that carries one.
        self.pipeline_answers: asyncio.Queue[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"<Publication {self.agent.id} on {self.client.server.url}: {self.state}>"

    @property
    def what(self) -> str:
        return repr(self.agent.id)

    @property
    def task_name(self) -> str:
        return f"terrarium-publish-{self.agent.id}"

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
        answers = self.pipeline_answers
        if (
            isinstance(frame, dict)
            and frame.get("type") in PIPELINE_ANSWERS
            and answers is not None
        ):
            answers.put_nowait(frame)
            return
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


class PipelineRefused(Exception):
    """The server would not list the pipeline: ``code`` is ``bad_request`` or ``conflict``
    (its answer, PROTOCOL.md section 8), or ``timeout`` when it gave none."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class PipelinePublication(_Handle):
    """A kernel pipeline served through a server, for as long as this handle is open.

    Every stage is published as ``publish(agent)`` publishes one (a socket
    each, in ``stages``, upstream first). Once all are served, the first
    stage's socket carries the pipeline: ``Pipeline.describe()``, sent at
    once and again whenever it changes, at most once per ``interval``
    seconds, so the server lists the graph and its live edge figures.

    ``await publication`` waits until the server lists the pipeline and
    raises why it will not: ``ServerError`` for a stage it refused (409 when
    an id is taken), ``PipelineRefused`` for the pipeline. ``close()`` /
    ``await aclose()`` / leaving ``async with`` unpublishes the whole; so
    does any stage's socket closing. The pipeline keeps running in the
    kernel: stop it with ``await pipeline.stop()``.
    """

    def __init__(
        self,
        client: PublishingClient,
        pipeline: Pipeline,
        *,
        interval: float = 1.0,
        answer_timeout: float = 30.0,
    ) -> None:
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"publish_pipeline() needs a Pipeline, not {type(pipeline).__name__}")
        if interval <= 0 or answer_timeout <= 0:
            raise ValueError("interval and answer_timeout must be positive")
        stages = pipeline.stages
        if not stages:
            raise ValueError(f"pipeline {pipeline.id!r} has no stages")
        agents = [stage for stage in stages if isinstance(stage, FluxAgent)]
        if len(agents) != len(stages):
            raise TypeError("only FluxAgent stages can be published")
        super().__init__()
        self.client = client
        self.pipeline = pipeline
        self.interval = interval
        self.answer_timeout = answer_timeout
        #: One publication per stage, upstream first; the first carries the pipeline.
        self.stages = [Publication(client, agent) for agent in agents]
        #: ``pipeline`` frames the server has listed.
        self.listed = 0

    def __repr__(self) -> str:
        url = self.client.server.url
        return f"<PipelinePublication {self.pipeline.id} on {url}: {self.state}>"

    live = "listed"

    @property
    def what(self) -> str:
        return f"pipeline {self.pipeline.id!r}"

    @property
    def task_name(self) -> str:
        return f"terrarium-publish-pipeline-{self.pipeline.id}"

    def close(self) -> None:
        """Unpublish every stage (the server drops the pipeline and them). Returns at once."""
        super().close()
        for stage in self.stages:
            stage.close()

    async def wait_closed(self) -> None:
        """Wait until the publication and every stage's socket are closed."""
        await super().wait_closed()
        for stage in self.stages:
            await stage.wait_closed()

    # -- the stages and the pipeline frames -----------------------------------------

    async def _run(self) -> None:
        assert self._ready is not None
        for stage in self.stages:
            stage.start()
        carrier = self.stages[0]
        answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        carrier.pipeline_answers = answers
        loop = asyncio.get_running_loop()
        ended = [loop.create_task(stage.wait_closed()) for stage in self.stages]
        describing = loop.create_task(self._keep_describing(carrier, answers))
        try:
            await asyncio.wait([describing, *ended], return_when=asyncio.FIRST_COMPLETED)
            # It only ends by failing (a refusal, a stage refused) or by a stage's cancelling.
            failed = describing.done() and not describing.cancelled()
        except asyncio.CancelledError:
            if not self._ready.done():
                self._ready.cancel()
            raise
        finally:
            describing.cancel()
            for stage in self.stages:
                stage.close()
            for task in ended:
                task.cancel()
        if failed:
            self.error = describing.exception()
        else:
            self.error = next((stage.error for stage in self.stages if stage.error), None)
        if not self._ready.done():
            self._ready.set_exception(self.error or ConnectionError("publication closed"))

    async def _keep_describing(
        self, carrier: Publication, answers: asyncio.Queue[dict[str, Any]]
    ) -> None:
        """Once every stage is served, describe the pipeline; then each time that changed,
        at most once per ``interval``."""
        assert self._ready is not None
        await asyncio.gather(*(stage.ready() for stage in self.stages))
        sent = self.pipeline.describe()
        await self._describe(carrier, answers, sent)
        self._ready.set_result(None)
        url = self.client.server.url
        log.info("terrarium: pipeline %r listed on %s", self.pipeline.id, url)
        while True:
            await asyncio.sleep(self.interval)
            now = self.pipeline.describe()
            if now != sent:
                await self._describe(carrier, answers, now)
                sent = now

    async def _describe(
        self,
        carrier: Publication,
        answers: asyncio.Queue[dict[str, Any]],
        description: protocol.Pipeline,
    ) -> None:
        """Send one ``pipeline`` frame and wait for the server's answer."""
        carrier.post({"type": "pipeline", "pipeline": description})
        try:
            answer = await asyncio.wait_for(answers.get(), self.answer_timeout)
        except TimeoutError:
            raise PipelineRefused(
                "timeout",
                f"no answer to the pipeline frame in {self.answer_timeout:g} s "
                "(a server that predates publishing pipelines never answers it)",
            ) from None
        if answer.get("type") == "pipeline_refused":
            error = PipelineRefused(str(answer.get("error")), str(answer.get("message", "")))
            if self.listed:
                log.warning(
                    "terrarium: the server refused pipeline %r: %s", self.pipeline.id, error
                )
            raise error
        self.listed += 1
