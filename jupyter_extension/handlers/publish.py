"""Publishing: ``GET {base}terrarium/publish/{agent_id}`` (WebSocket), a kernel's agent served here.

A kernel opens this socket to make an agent it runs appear in the registry.
The server registers a proxy ``FluxAgent`` whose handler forwards each
invocation to the kernel and waits for its answer, so queueing, priorities,
timeouts, refusals and the mirror all work here with the usual semantics.
Events the kernel agent produces from its own source come back as ``event``
frames and are relayed into the proxy's mirror. When the socket closes, the
proxy is unregistered: what was queued or in flight is refused with
``agent_unavailable`` and observers are closed with 4004.

A kernel that publishes a pipeline publishes each stage so, and one of the
stages' sockets carries the pipeline too: the server lists it (with the
kernel's live edge figures) under ``api/pipelines`` until that socket or any
stage's closes (``jupyter_extension.published_pipeline``).

Server -> kernel: ``{"type": "invoke", "call": N, "data": any}``;
``{"type": "pipeline_listed", "id": str}`` or
``{"type": "pipeline_refused", "id": str | null, "error": str, "message": str}``
in answer to each ``pipeline`` frame.
Kernel -> server: ``{"type": "return", "call": N, "output": any}``,
``{"type": "raise", "call": N, "error_type": str, "message": str}``,
``{"type": "event", "event_type": "result" | "error", "data": {...}}``,
``{"type": "pipeline", "pipeline": PIPELINE}``.
Anything else from the kernel is ignored with a warning in the server log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jupyter_extension.handlers.base import ApiError, TerrariumMixin
from jupyter_extension.published_pipeline import PipelineRefused, PublishedPipeline, list_pipeline
from terrarium.errors import AgentError, BadRequest, UnknownAgent
from terrarium.events import parse_json, to_json
from terrarium.flux import FluxAgent, FluxConfig
from terrarium.names import NAME_RULE, is_name
from terrarium.pipeline import UnknownPipeline

#: Close code when the id was taken between the handshake and the registration.
CLOSE_TAKEN = 4409


class KernelAgent:
    """The proxy's handler: each invocation is a ``call`` the kernel must answer.

    ``publisher`` is who opened the socket (the holder of the server token,
    or the user): a pipeline frame may name as stages only agents its own
    publisher publishes.
    """

    def __init__(self, send: Callable[[dict[str, Any]], None], publisher: str) -> None:
        self._send = send
        self.publisher = publisher
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._numbers = itertools.count(1)

    async def invoke(self, data: Any) -> Any:
        call = next(self._numbers)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call] = future
        try:
            self._send({"type": "invoke", "call": call, "data": data})
            # A timeout or the kernel leaving cancels this wait (the flux agent's doing).
            return await future
        finally:
            self._calls.pop(call, None)

    def answer(self, frame: dict[str, Any]) -> bool:
        """Settle a call from a ``return``/``raise`` frame; False if nobody waits for it."""
        call = frame.get("call")
        # JSON true is no call number, though Python takes it for 1.
        if isinstance(call, bool) or not isinstance(call, int):
            return False
        future = self._calls.get(call)
        if future is None or future.done():
            return False
        if frame["type"] == "return":
            future.set_result(frame.get("output"))
        else:
            error_type = frame.get("error_type")
            future.set_exception(
                AgentError(
                    error_type if isinstance(error_type, str) else "Exception",
                    str(frame.get("message", "")),
                )
            )
        return True


def parse_config(handler: JupyterHandler) -> FluxConfig:
    """The proxy's queue capacity and default timeout, as the kernel's agent has them."""
    try:
        buffer_size = int(handler.get_query_argument("buffer_size", "1024"))
        timeout = float(handler.get_query_argument("perturbation_timeout", "30"))
    except ValueError:
        message = "buffer_size and perturbation_timeout must be numbers"
        raise ApiError(400, "bad_request", message) from None
    if not 1 <= buffer_size <= 1_000_000 or not 0 < timeout < 86400:
        raise ApiError(
            400, "bad_request", "buffer_size must be 1..1000000 and perturbation_timeout 0..86400"
        )
    return FluxConfig(buffer_size=buffer_size, perturbation_timeout=timeout)


class PublishHandler(TerrariumMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    proxy: FluxAgent | None = None
    kernel: KernelAgent | None = None
    flux_config: FluxConfig | None = None
    closing: asyncio.Task[None] | None = None
    #: The pipeline this socket carries, once listed.
    listed: PublishedPipeline | None = None

    @ws_authenticated
    @authorized("execute")  # type: ignore[untyped-decorator]
    async def get(  # type: ignore[override]
        self, agent_id: str, *args: Any, **kwargs: Any
    ) -> None:
        self.refuse_unless_websocket()
        if not is_name(agent_id):
            raise ApiError(400, "bad_request", f"{agent_id!r} is not an agent id: {NAME_RULE}")
        if agent_id in self.context.registry:
            raise ApiError(409, "conflict", f"an agent {agent_id!r} already exists")
        self.flux_config = parse_config(self)
        await super().get(agent_id, *args, **kwargs)

    def open(self, agent_id: str, *args: Any, **kwargs: Any) -> None:
        super().open(agent_id, *args, **kwargs)
        assert self.flux_config is not None
        self.kernel = KernelAgent(self.send_frame, self.rate_key())
        proxy = FluxAgent(self.kernel, agent_id=agent_id, config=self.flux_config)
        try:
            self.context.registry.register(proxy)
        except ValueError as error:
            self.close(CLOSE_TAKEN, str(error))
            return
        self.proxy = proxy
        self.log.info("Terrarium: a kernel published agent %r (%s)", agent_id, self.username())

    def send_frame(self, frame: dict[str, Any]) -> None:
        # A closed socket is not an error here: on_close unregisters the proxy,
        # which refuses the waiting call with agent_unavailable.
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(to_json(frame))

    def on_message(self, message: str | bytes) -> None:
        proxy, kernel = self.proxy, self.kernel
        if proxy is None or kernel is None:
            return
        try:
            frame = parse_json(message)
        except BadRequest:
            frame = None
        kind = frame.get("type") if isinstance(frame, dict) else None
        if isinstance(frame, dict) and kind in ("return", "raise"):
            if not kernel.answer(frame):
                late = "Terrarium: the kernel of %s answered call %r, which no longer waits"
                self.log.debug(late, proxy.id, frame.get("call"))
            return
        if (
            isinstance(frame, dict)
            and kind == "event"
            and frame.get("event_type") in ("result", "error")
            and isinstance(frame.get("data"), dict)
        ):
            proxy.relay(frame["event_type"], frame["data"])
            return
        if isinstance(frame, dict) and kind == "pipeline":
            self.list_pipeline(proxy, kernel, frame.get("pipeline"))
            return
        bad = "Terrarium: ignoring a bad frame from the kernel of %s: %.200r"
        self.log.warning(bad, proxy.id, message)

    def list_pipeline(self, proxy: FluxAgent, kernel: KernelAgent, data: Any) -> None:
        """Take a ``pipeline`` frame: list or update the pipeline, or refuse it, and say which."""

        def published(agent: FluxAgent) -> bool:
            handler = agent.handler
            return isinstance(handler, KernelAgent) and handler.publisher == kernel.publisher

        registry = self.context.registry
        try:
            listed = list_pipeline(
                registry, data, carrier=proxy, current=self.listed, published=published
            )
        except PipelineRefused as refused:
            pipeline_id = data.get("id") if isinstance(data, dict) else None
            refusal = "Terrarium: refused the pipeline frame of the kernel of %s: %s"
            self.log.warning(refusal, proxy.id, refused.message)
            self.send_frame(
                {
                    "type": "pipeline_refused",
                    "id": pipeline_id if isinstance(pipeline_id, str) else None,
                    "error": refused.code,
                    "message": refused.message,
                }
            )
            return
        if self.listed is None:
            self.log.info("Terrarium: the kernel of %r lists pipeline %r", proxy.id, listed.id)
        self.listed = listed
        self.send_frame({"type": "pipeline_listed", "id": listed.id})

    def on_close(self) -> None:
        proxy = self.proxy
        self.proxy = None
        if proxy is None:
            return
        registry = self.context.registry
        # The pipelines this socket carries or is a stage of go first, then the proxy.
        leaving = [
            pipeline_id
            for pipeline_id, pipeline in registry.pipelines.items()
            if isinstance(pipeline, PublishedPipeline) and proxy in pipeline
        ]
        ours = proxy.id in registry and registry.get(proxy.id) is proxy
        if ours:
            self.log.info("Terrarium: the kernel of %r left; unregistering it", proxy.id)
        if ours or leaving:
            self.closing = asyncio.get_running_loop().create_task(
                self._unregister(proxy if ours else None, leaving)
            )

    async def _unregister(self, proxy: FluxAgent | None, pipelines: list[str]) -> None:
        registry = self.context.registry
        for pipeline_id in pipelines:
            with contextlib.suppress(UnknownPipeline):
                await registry.unregister_pipeline(pipeline_id, drain=False)
        if proxy is not None:
            with contextlib.suppress(UnknownAgent):
                await registry.unregister(proxy.id)
