"""Baseline 1: a bare Tornado server that fans out the way jupyter_server does.

``python -m bench.baseline_tornado --port P [--cpu C]``. Its observe handler
keeps a set of ``WebSocketHandler``s, and emitting an event is
``for h in handlers: h.write_message(payload)``: the pattern of
jupyter_server's event and kernel sockets, with no backpressure and a Future
per message. A perturb socket takes the same ``{"events", "bytes", ...}``
requests as Terrarium's firehose and emits in the same rhythm
(``bench.emission``); ``/terrarium/perturb/echo`` is the bare echo the
/perturb round trip is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from tornado.web import Application
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from bench.baseline_common import (
    ECHO_PATH,
    OBSERVE_PATH,
    PERTURB_PATH,
    PONG,
    QUEUED_ECHO_PATH,
    Channel,
    error_reply,
    is_ping,
    parse_request,
    result_reply,
)
from bench.emission import EmitRequest, emit_events
from bench.probes import BenchProbes
from bench.procs import pin, raise_fd_limit
from bench.tornado_routes import ROUTE, BenchHandler


class Hub:
    """The observers, the stream, the probes, and one emission at a time."""

    def __init__(self) -> None:
        self.observers: set[ObserveHandler] = set()
        self.channel = Channel()
        self.probes = BenchProbes(lambda: len(self.observers))
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()

    def emit(self, output: str) -> None:
        payload = self.channel.event(output)
        for handler in self.observers:
            with contextlib.suppress(WebSocketClosedError):
                handler.write_message(payload)

    async def serve(self, request: EmitRequest) -> int:
        async with self.lock:
            output = "x" * request.size
            timed = self.probes.calls.wrap(self.emit)
            return await emit_events(lambda: timed(output), request, self.probes.stop)


class ObserveHandler(WebSocketHandler):
    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    def check_origin(self, origin: str) -> bool:
        return True

    def open(self, *args: Any, **kwargs: Any) -> None:
        channel = self.hub.channel
        self.write_message(channel.hello())
        for payload in channel.history:
            self.write_message(payload)
        self.hub.observers.add(self)

    def on_message(self, message: str | bytes) -> None:
        if is_ping(message):
            self.write_message(PONG)

    def on_close(self) -> None:
        self.hub.observers.discard(self)


class PerturbHandler(WebSocketHandler):
    """Firehose requests, served one at a time like an agent's queue; or a bare echo."""

    def initialize(self, hub: Hub, echo: bool = False) -> None:
        self.hub = hub
        self.echo = echo

    def check_origin(self, origin: str) -> bool:
        return True

    def on_message(self, message: str | bytes) -> None:
        cid, data = parse_request(message)
        if self.echo:
            self.write_message(result_reply(cid, data))
            return
        try:
            request = EmitRequest.parse(data)
        except (TypeError, ValueError) as error:
            self.write_message(error_reply(cid, str(error)))
            return
        task = asyncio.get_running_loop().create_task(self.serve(cid, request))
        self.hub.tasks.add(task)
        task.add_done_callback(self.hub.tasks.discard)

    async def serve(self, cid: str | None, request: EmitRequest) -> None:
        emitted = await self.hub.serve(request)
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(result_reply(cid, {"emitted": emitted}))


class QueuedEchoHandler(WebSocketHandler):
    """The echo through an ``asyncio.Queue`` and a consumer task, and nothing else.

    The least any server that honours the Beam's contract pays on top of a
    bare echo: the request is queued, and the agent's own task answers it.
    """

    def check_origin(self, origin: str) -> bool:
        return True

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.queue: asyncio.Queue[tuple[str | None, Any]] = asyncio.Queue()
        self.consumer = asyncio.get_running_loop().create_task(self.consume())

    async def consume(self) -> None:
        while True:
            cid, data = await self.queue.get()
            with contextlib.suppress(WebSocketClosedError):
                self.write_message(result_reply(cid, data))

    def on_message(self, message: str | bytes) -> None:
        self.queue.put_nowait(parse_request(message))

    def on_close(self) -> None:
        self.consumer.cancel()


def make_app(hub: Hub) -> Application:
    kwargs = {"hub": hub}
    return Application(
        [
            (OBSERVE_PATH, ObserveHandler, kwargs),
            (PERTURB_PATH, PerturbHandler, kwargs),
            (ECHO_PATH, PerturbHandler, {**kwargs, "echo": True}),
            (QUEUED_ECHO_PATH, QueuedEchoHandler),
            (ROUTE, BenchHandler, {"probes": hub.probes}),
        ]
    )


async def serve(port: int) -> None:
    hub = Hub()
    server = make_app(hub).listen(port, address="127.0.0.1")
    hub.probes.start()
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    pin(args.cpu)
    raise_fd_limit()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
