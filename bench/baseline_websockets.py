"""Baseline 2: a ``websockets`` server fanning out with ``websockets.broadcast()``.

``python -m bench.baseline_websockets --port P [--cpu C]``. Same routes and
same requests as the other servers; an event is serialised once and handed
to ``broadcast()``, which frames it per connection and writes it without
backpressure. Compression is off, as on the other servers. The ``/bench/*``
routes are answered from ``process_request``, before any handshake.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bench.baseline_common import (
    ECHO_PATH,
    OBSERVE_PATH,
    PERTURB_PATH,
    PONG,
    Channel,
    error_reply,
    is_ping,
    parse_request,
    result_reply,
)
from bench.emission import EmitRequest, emit_events
from bench.probes import BenchProbes
from bench.procs import pin, raise_fd_limit


class Hub:
    """The observers, the stream, the probes, and one emission at a time."""

    def __init__(self) -> None:
        self.observers: set[ServerConnection] = set()
        self.channel = Channel()
        self.probes = BenchProbes(lambda: len(self.observers))
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()

    def emit(self, output: str) -> None:
        broadcast(self.observers, self.channel.event(output))

    async def serve(self, request: EmitRequest) -> int:
        async with self.lock:
            output = "x" * request.size
            timed = self.probes.calls.wrap(self.emit)
            return await emit_events(lambda: timed(output), request, self.probes.stop)

    # -- connections -------------------------------------------------------------------

    async def handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        try:
            if path == OBSERVE_PATH:
                await self.observe(connection)
            elif path in (PERTURB_PATH, ECHO_PATH):
                await self.perturb(connection, echo=path == ECHO_PATH)
            else:
                await connection.close(4004, "no such agent")
        except ConnectionClosed:
            pass

    async def observe(self, connection: ServerConnection) -> None:
        await connection.send(self.channel.hello())
        for payload in list(self.channel.history):
            await connection.send(payload)
        self.observers.add(connection)
        try:
            async for message in connection:
                if is_ping(message):
                    await connection.send(PONG)
        finally:
            self.observers.discard(connection)

    async def perturb(self, connection: ServerConnection, *, echo: bool) -> None:
        async for message in connection:
            cid, data = parse_request(message)
            if echo:
                await connection.send(result_reply(cid, data))
                continue
            try:
                request = EmitRequest.parse(data)
            except (TypeError, ValueError) as error:
                await connection.send(error_reply(cid, str(error)))
                continue
            task = asyncio.get_running_loop().create_task(self.answer(connection, cid, request))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def answer(
        self, connection: ServerConnection, cid: str | None, request: EmitRequest
    ) -> None:
        emitted = await self.serve(request)
        with contextlib.suppress(ConnectionClosed):
            await connection.send(result_reply(cid, {"emitted": emitted}))

    def bench_route(self, connection: ServerConnection, request: Request) -> Response | None:
        if not request.path.startswith("/bench/"):
            return None
        body: dict[str, Any] | None = self.probes.route(request.path.removeprefix("/bench/"))
        if body is None:
            return connection.respond(404, "no such bench route\n")
        return connection.respond(200, json.dumps(body))


async def run(port: int) -> None:
    hub = Hub()
    async with serve(
        hub.handle,
        "127.0.0.1",
        port,
        process_request=hub.bench_route,
        compression=None,
        max_size=2**20,
    ) as server:
        hub.probes.start()
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    pin(args.cpu)
    raise_fd_limit()
    asyncio.run(run(args.port))


if __name__ == "__main__":
    main()
