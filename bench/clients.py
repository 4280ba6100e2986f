"""The three kinds of client connection the scenarios open.

- ``Observer``: an observe socket that counts frames, optionally samples
  latency (server ``ts`` to receipt, one frame in N), or stalls (never reads).
- ``AttachProbe``: an observe socket timed from connect start until the hello
  and the replayed history have arrived.
- ``Driver``: a perturb socket that sends requests and matches replies by id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.wsclient import READ_SIZE, WebSocketClient


class Observer(WebSocketClient):
    """Counts frames; samples latencies into ``sink``; or, when ``stall``, never reads."""

    def __init__(
        self,
        host: str,
        path: str,
        *,
        sink: list[float],
        stall: bool = False,
    ) -> None:
        super().__init__(host, path)
        self.sink = sink
        self.stall = stall

    def on_open(self) -> None:
        if self.stall and self.transport is not None:
            self.transport.pause_reading()

    def on_message(self, payload: bytes) -> None:
        ts = json.loads(payload).get("ts")
        if isinstance(ts, float):
            self.sink.append(self.now - ts)


class AttachProbe(WebSocketClient):
    """Done once the hello and every replayed event (seq up to the hello's seq) arrived.

    The time taken is when the read that completed the replay arrived, not
    when this client finished parsing it: the JSON decoding of a hundred
    events is the client's cost, not the server's.
    """

    parse_all = True

    def __init__(self, host: str, path: str) -> None:
        super().__init__(host, path)
        self.started = time.perf_counter()
        self.upgraded_at = 0.0
        self.done_at = 0.0
        self.read_at = 0.0
        self.target: int | None = None
        self.replayed = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_open(self) -> None:
        self.upgraded_at = self.read_at

    def data_received(self, data: bytes) -> None:
        self.read_at = time.perf_counter()
        super().data_received(data)

    def on_message(self, payload: bytes) -> None:
        message = json.loads(payload)
        if self.target is None:
            if message.get("type") == "hello":
                self.target = int(message.get("seq", 0))
                if self.target == 0:
                    self._finish()
            return
        seq = message.get("seq")
        if isinstance(seq, int):
            if seq <= self.target:
                self.replayed += 1
            if seq >= self.target:
                self._finish()

    def _finish(self) -> None:
        self.parse_all = False
        if not self.done.done():
            self.done_at = self.read_at
            self.done.set_result(None)


class Driver(WebSocketClient):
    """Sends ``{"id", "data"}`` requests; replies resolve ``replies[id]`` or go to ``on_reply``.

    A resolved reply stays in ``replies`` until its reader pops it, so a reply
    that arrives before anyone waits for it is not lost.
    """

    parse_all = True

    def __init__(self, host: str, path: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(host, path, headers)
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.on_reply: Callable[[dict[str, Any]], None] | None = None
        self._next = 0

    def request(self, data: Any, *, wait: bool = True) -> str:
        """Send one request; with ``wait``, its reply will resolve ``replies[id]``."""
        self._next += 1
        cid = str(self._next)
        if wait:
            self.replies[cid] = asyncio.get_running_loop().create_future()
        self.send(json.dumps({"id": cid, "data": data}).encode())
        return cid

    def on_message(self, payload: bytes) -> None:
        reply = json.loads(payload)
        future = self.replies.get(str(reply.get("id")))
        if future is not None:
            if not future.done():
                future.set_result(reply)
        elif self.on_reply is not None:
            self.on_reply(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for future in self.replies.values():
            if not future.done():
                future.set_exception(ConnectionError("perturb socket closed"))
                future.exception()  # retrieved: nobody may be waiting for this reply


class Sink(asyncio.BufferedProtocol):
    """A plain TCP peer that reads and counts bytes: the send-floor probe's observers."""

    _read_buffer = memoryview(bytearray(READ_SIZE))

    def __init__(self) -> None:
        self.received = 0
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.received += nbytes

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
