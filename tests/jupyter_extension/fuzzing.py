"""Wire-level tools for the fuzzing tests: hand-built RFC 6455 frames and what came of them.

``WireSocket`` is a ``RawWebSocket`` that can send any frame a peer could put
on the wire (fragments, control frames, reserved bits and opcodes, unmasked
frames, a length that lies), and ``outcome`` reads what the server did about
it: a text reply, a close frame, or a connection dropped without one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jupyter_server.auth.authorizer import Authorizer
from tornado.websocket import WebSocketClientConnection

from tests.jupyter_extension.helpers import (
    READ_TIMEOUT,
    Frame,
    Gateway,
    RawFrame,
    RawWebSocket,
    receive,
    strict_json,
)

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
#: RFC 6455 section 1.3: appended to the key to compute Sec-WebSocket-Accept.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

T = TypeVar("T")


def wire_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length: int | None = None,
    mask: bytes | None = None,
) -> bytes:
    """One frame as a client would send it; ``length`` may lie about ``payload``.

    ``rsv`` is the three reserved bits (0..7); a 126-byte or longer control
    frame gets the extended length encoding it is not allowed to use.
    """
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode & 0x0F
    flag = 0x80 if masked else 0
    if size < 126:
        header = struct.pack("!BB", first, flag | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, flag | 126, size)
    else:
        header = struct.pack("!BBQ", first, flag | 127, size)
    if not masked:
        return header + payload
    key = os.urandom(4) if mask is None else mask
    return header + key + bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return (b"" if code is None else struct.pack("!H", code)) + reason


@dataclass(frozen=True)
class Outcome:
    """What the server did after a frame: ``kind`` is ``text``, ``binary``, ``close``
    (a close frame, then the end of the stream) or ``dropped`` (the stream ended
    with no close frame). ``pongs`` are the payloads of the pongs that came first."""

    kind: str
    payload: bytes = b""
    pongs: tuple[bytes, ...] = ()

    @property
    def close_code(self) -> int | None:
        if self.kind != "close" or len(self.payload) < 2:
            return None
        code: int = struct.unpack("!H", self.payload[:2])[0]
        return code

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:] if self.kind == "close" else b""

    def json(self) -> Frame:
        assert self.kind == "text", self
        frame = strict_json(self.payload)
        assert isinstance(frame, dict), frame
        return frame


class WireSocket(RawWebSocket):
    """A ``RawWebSocket`` that sends arbitrary frames and reports the server's answer."""

    @classmethod
    async def open(
        cls, gateway: Gateway, path: str, headers: dict[str, str] | None = None
    ) -> WireSocket:
        raw = await cls.connect(gateway.port, path, headers=headers)
        assert isinstance(raw, WireSocket)
        gateway.raw_sockets.append(raw)
        return raw

    async def read_frame(self) -> RawFrame:
        """The next frame; a ping from the server's keepalive is answered at once."""
        frame = await super().read_frame()
        if frame.opcode == PING:
            with contextlib.suppress(OSError):
                await self.send_raw(wire_frame(PONG, frame.payload))
        return frame

    async def send_raw(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def send_frames(self, frames: Iterable[bytes]) -> None:
        await self.send_raw(b"".join(frames))

    async def send_text(self, text: str) -> None:
        await self.send_raw(wire_frame(TEXT, text.encode()))

    async def send_json(self, value: Any) -> None:
        await self.send_text(json.dumps(value))

    async def ended(self) -> bool:
        """Whether the server ends the stream (EOF or reset) with nothing more to read.

        False if another byte arrives instead; fails after ``READ_TIMEOUT`` if
        the connection just stays open.
        """
        try:
            await self._fill(len(self._buffer) + 1)
        except TimeoutError:
            raise
        except OSError:  # ConnectionError included: EOF or a reset
            return True
        return False

    async def outcome(self, *, skip_pings: bool = True) -> Outcome:
        """Read up to the first text, binary or close frame, or the end of the stream.

        Pongs met on the way are kept; the server's own keepalive pings skipped.
        """
        pongs: list[bytes] = []
        while True:
            try:
                frame = await self.read_frame()
            except TimeoutError:
                raise
            except OSError:  # ConnectionError included: EOF or a reset
                return Outcome("dropped", pongs=tuple(pongs))
            if frame.opcode == PONG:
                pongs.append(frame.payload)
            elif frame.opcode == PING and skip_pings:
                continue
            elif frame.opcode == CLOSE:
                return Outcome("close", frame.payload, tuple(pongs))
            elif frame.opcode in (TEXT, BINARY):
                kind = "text" if frame.opcode == TEXT else "binary"
                return Outcome(kind, frame.payload, tuple(pongs))
            else:
                raise AssertionError(f"unexpected server frame {frame}")

    async def reply(self) -> Frame:
        """The next text frame, which must come (the socket must still be open)."""
        result = await self.outcome()
        assert result.kind == "text", result
        return result.json()


def run(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one example's coroutine on the server's loop (the loop is idle in between)."""
    return loop.run_until_complete(asyncio.wait_for(coroutine, 4 * READ_TIMEOUT))


@dataclass
class Liveness:
    """The server goes on: health answers, and the heartbeat agent's events still arrive."""

    gateway: Gateway
    observer: WebSocketClientConnection
    last_seq: int = 0
    checks: int = 0
    seen: list[int] = field(default_factory=list)

    @classmethod
    async def start(cls, gateway: Gateway) -> Liveness:
        observer = await gateway.observe("heartbeat")
        hello = await receive(observer)
        assert hello is not None and hello["type"] == "hello", hello
        return cls(gateway, observer, last_seq=hello["seq"])

    async def healthy(self) -> None:
        reply = await self.gateway.get("api", "health")
        assert reply.code == 200, reply
        assert reply.body["status"] == "ok", reply.body

    async def beating(self) -> None:
        """Wait for an event newer than any seen so far (the heartbeat ticks every 0.5 s).

        The history replayed after ``hello`` (seqs up to the hello's) comes first and
        only has to be in order; a live event must be newer than everything before it.
        """
        while True:
            frame = await receive(self.observer)
            assert frame is not None, "the heartbeat observer was closed"
            seq = frame.get("seq")
            if frame.get("type") == "gap":
                self.seen.append(frame["to"])
                continue
            if frame.get("type") in ("hello", "pong") or not isinstance(seq, int):
                continue
            assert not self.seen or seq > self.seen[-1], (seq, self.seen[-5:])
            self.seen.append(seq)
            if seq > self.last_seq:
                self.last_seq = seq
                return

    async def check(self, every: int = 1) -> None:
        """Health after every call; the heartbeat after every ``every``-th (a batch)."""
        await self.healthy()
        self.checks += 1
        if self.checks % every == 0:
            await self.beating()


async def beam_works(raw: WireSocket, cid: str = "alive") -> None:
    """A normal request on ``raw`` is answered: the Beam is open and serving."""
    await raw.send_json({"id": cid, "data": [cid]})
    reply = await raw.reply()
    assert reply == {
        "type": "result",
        "id": cid,
        "perturbation_id": reply.get("perturbation_id"),
        "output": [cid],
    }, reply
    assert isinstance(reply["perturbation_id"], str)


@dataclass
class Handshake:
    """A WebSocket handshake as the server answered it: status, raw head and body, and
    the open socket when it upgraded (101)."""

    status: int
    head: bytes
    body: bytes
    socket: WireSocket | None = None

    def text(self) -> str:
        return (self.head + b"\r\n\r\n" + self.body).decode("latin-1")


async def handshake(
    gateway: Gateway, path: str, headers: dict[str, str] | None = None
) -> Handshake:
    """Ask to upgrade ``path``; on 101 the socket is ``WireSocket`` (closed with the
    gateway), otherwise the refusal's body is read in full."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", gateway.port)), READ_TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{gateway.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Key: {key}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), READ_TIMEOUT)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {received!r}")
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        if status == 101:
            fields = [line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line]
            accept = {name.strip().lower(): value.strip() for name, value in fields}
            expected = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
            assert accept.get(b"sec-websocket-accept") == expected, head
            raw = WireSocket(sock, rest)
            gateway.raw_sockets.append(raw)
            return Handshake(status, head, b"", raw)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = rest
        while len(body) < length:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), READ_TIMEOUT)
            if not chunk:
                break
            body += chunk
        sock.close()
        return Handshake(status, head, body)
    except BaseException:
        sock.close()
        raise


async def closed_at_once(raw: WireSocket) -> int | None:
    """The close code if the server closes a freshly opened socket by itself; None if it
    stays open (a ping it must answer tells)."""
    with contextlib.suppress(OSError):
        await raw.send_raw(wire_frame(PING, b"open?"))
    while True:
        frame = await raw.read_frame()
        if frame.opcode == PONG:
            return None
        if frame.opcode == CLOSE:
            return frame.close_code
        assert frame.opcode == PING, f"unexpected frame on a fresh socket: {frame}"


class RendezvousAuthorizer(Authorizer):
    """Allows everything, but holds the first two ``execute`` checks of publish
    handshakes until both are waiting, so two publications of one id are both in
    flight, authorized, when they reach the handshake's check that the id is free."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._waiting = 0
        self._met: asyncio.Event | None = None

    async def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if action == "execute" and "/terrarium/publish/" in handler.request.path:
            if self._met is None:
                self._met = asyncio.Event()
            if not self._met.is_set():
                self._waiting += 1
                if self._waiting >= 2:
                    self._met.set()
                await asyncio.wait_for(self._met.wait(), READ_TIMEOUT)
        return True
