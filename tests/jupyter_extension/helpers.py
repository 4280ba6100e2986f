"""Clients for the server tests: frame readers, a gateway wrapper and a raw WebSocket.

``Gateway`` opens every socket through one place and closes them all when the
test ends. ``RawWebSocket`` speaks RFC 6455 over a plain socket, so a test
decides exactly when bytes are read (or never reads them at all).
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.httputil import HTTPHeaders
from tornado.websocket import WebSocketClientConnection, websocket_connect

from terrarium import protocol

#: Generous guard against hangs; no test relies on it for timing.
READ_TIMEOUT = 10.0

FRAME_TYPES = {"hello", "gap", "pong"}
#: The protocol's own key sets (terrarium.protocol), not copies of them.
EVENT_KEYS = set(protocol.Event.__required_keys__)
STATUS_KEYS = set(protocol.Status.__required_keys__)

Frame = dict[str, Any]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def strict_json(text: str | bytes) -> Any:
    """Parse JSON as a strict client would: NaN and Infinity are errors."""
    return json.loads(text, parse_constant=_reject_constant)


# -- reading frames from tornado's client ------------------------------------------------


async def receive(ws: WebSocketClientConnection, timeout: float = READ_TIMEOUT) -> Frame | None:
    """The next frame, parsed; None once the socket is closed."""
    message = await asyncio.wait_for(ws.read_message(), timeout)
    if message is None:
        return None
    frame = strict_json(message)
    assert isinstance(frame, dict), frame
    return frame


async def receive_many(ws: WebSocketClientConnection, count: int) -> list[Frame]:
    """The next ``count`` frames; fails if the socket closes first."""
    frames: list[Frame] = []
    for _ in range(count):
        frame = await receive(ws)
        assert frame is not None, f"socket closed after {frames}"
        frames.append(frame)
    return frames


async def until(
    ws: WebSocketClientConnection,
    predicate: Callable[[Frame], bool],
    timeout: float = READ_TIMEOUT,
) -> list[Frame]:
    """Read frames up to and including the first that matches ``predicate``."""
    frames: list[Frame] = []
    while True:
        frame = await receive(ws, timeout)
        if frame is None:
            raise AssertionError(f"socket closed before the awaited frame; got {frames}")
        frames.append(frame)
        if predicate(frame):
            return frames


def is_type(kind: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("type") == kind


def is_seq(seq: int) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("seq") == seq and frame.get("type") not in FRAME_TYPES


def events_of(frames: Iterable[Frame]) -> list[Frame]:
    """The events among frames (hello, gap and pong are not events)."""
    return [frame for frame in frames if frame.get("type") not in FRAME_TYPES]


def seqs_of(frames: Iterable[Frame]) -> list[int]:
    return [frame["seq"] for frame in events_of(frames)]


def assert_contiguous(seqs: list[int], first: int | None = None) -> None:
    assert seqs, "no events"
    start = seqs[0] if first is None else first
    assert seqs == list(range(start, start + len(seqs))), seqs


def assert_event_shape(frame: Frame, agent_id: str) -> None:
    assert set(frame) == EVENT_KEYS, frame
    assert isinstance(frame["seq"], int) and frame["seq"] >= 1
    assert isinstance(frame["ts"], float)
    assert frame["agent_id"] == agent_id
    assert isinstance(frame["type"], str)
    assert isinstance(frame["data"], dict)


# -- a WebSocket client that reads only when told to ---------------------------------------


class HandshakeRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status


@dataclass(frozen=True)
class RawFrame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        if self.opcode != 0x8 or len(self.payload) < 2:
            return None
        code: int = struct.unpack("!H", self.payload[:2])[0]
        return code

    def json(self) -> Frame:
        frame = strict_json(self.payload)
        assert isinstance(frame, dict)
        return frame


_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawWebSocket:
    """RFC 6455 over a non-blocking socket on the running loop; nothing is read unasked."""

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self.sock = sock
        self._buffer = bytearray(buffered)

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str,
        *,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawWebSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                # Before connect, so the advertised window stays this small.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), READ_TIMEOUT)
            key = base64.b64encode(os.urandom(16)).decode()
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: 127.0.0.1:{port}",
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
                    raise ConnectionError("closed during the handshake")
                received += chunk
            head, _, rest = received.partition(b"\r\n\r\n")
            status = int(head.split()[1])
            if status != 101:
                raise HandshakeRefused(status)
            fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            accept = {name.strip().lower(): value.strip() for name, value in fields.items()}
            expected = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
            assert accept.get(b"sec-websocket-accept") == expected, head
        except BaseException:
            sock.close()
            raise
        return cls(sock, rest)

    async def _fill(self, size: int) -> None:
        loop = asyncio.get_running_loop()
        while len(self._buffer) < size:
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), READ_TIMEOUT)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buffer += chunk

    async def _take(self, size: int) -> bytes:
        await self._fill(size)
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    async def read_frame(self) -> RawFrame:
        first, second = await self._take(2)
        assert first & 0x80, "server frames here are never fragmented"
        assert not second & 0x80, "server frames must not be masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._take(8))
        return RawFrame(first & 0x0F, await self._take(length))

    async def read_message(self) -> RawFrame:
        """The next text or close frame (control pings and pongs are skipped)."""
        while True:
            frame = await self.read_frame()
            if frame.opcode in (0x1, 0x8):
                return frame

    async def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        await asyncio.get_running_loop().sock_sendall(self.sock, header + mask + masked)

    async def close(self, code: int = 1000) -> None:
        if self.sock.fileno() != -1:
            with contextlib.suppress(OSError):
                await self._send(0x8, struct.pack("!H", code))
            self.sock.close()

    def abort(self) -> None:
        self.sock.close()


# -- the gateway under test -----------------------------------------------------------------


@dataclass
class Reply:
    code: int
    body: Any
    headers: HTTPHeaders


@dataclass(frozen=True)
class Session:
    """What a browser holds after logging in: the login cookie and the XSRF cookie."""

    cookies: dict[str, str]

    def headers(self, *, xsrf: bool = True, origin: str | None = None) -> dict[str, str]:
        headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}
        if xsrf:
            headers["X-XSRFToken"] = self.cookies["_xsrf"]
        if origin is not None:
            headers["Origin"] = origin
        return headers


@dataclass
class Gateway:
    """The Terrarium routes of one running test server, reached like any outside client."""

    port: int
    base_url: str
    token: str
    sockets: list[WebSocketClientConnection] = field(default_factory=list)
    raw_sockets: list[RawWebSocket] = field(default_factory=list)

    def path(self, *parts: str, **params: Any) -> str:
        path = self.base_url + "terrarium/" + "/".join(parts)
        query = {name: value for name, value in params.items() if value is not None}
        return path + ("?" + urlencode(query) if query else "")

    def _headers(self, auth: bool, headers: dict[str, str] | None) -> dict[str, str]:
        merged = {"Authorization": f"token {self.token}"} if auth else {}
        merged.update(headers or {})
        return merged

    async def _websocket(
        self, path: str, auth: bool, headers: dict[str, str] | None
    ) -> WebSocketClientConnection:
        request = HTTPRequest(
            f"ws://127.0.0.1:{self.port}{path}",
            headers=self._headers(auth, headers),
            connect_timeout=READ_TIMEOUT,
            request_timeout=READ_TIMEOUT,
        )
        ws = await websocket_connect(request)
        self.sockets.append(ws)
        return ws

    async def observe(
        self,
        agent_id: str,
        *,
        since: int | str | None = None,
        auth: bool = False,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> WebSocketClientConnection:
        """The Reflection; anonymous unless ``auth``."""
        path = self.path("observe", agent_id, since=since, **params)
        return await self._websocket(path, auth, headers)

    async def observe_hello(
        self, agent_id: str, **options: Any
    ) -> tuple[WebSocketClientConnection, Frame]:
        """Observe, and read the first frame, which must be ``hello``."""
        ws = await self.observe(agent_id, **options)
        hello = await receive(ws)
        assert hello is not None and hello["type"] == "hello", hello
        return ws, hello

    async def beam(
        self,
        agent_id: str,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> WebSocketClientConnection:
        """The Beam; with the token in the Authorization header unless told otherwise."""
        return await self._websocket(self.path("perturb", agent_id, **params), auth, headers)

    async def raw_observe(
        self,
        agent_id: str,
        *,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> RawWebSocket:
        raw = await RawWebSocket.connect(
            self.port, self.path("observe", agent_id, **params), rcvbuf=rcvbuf, headers=headers
        )
        self.raw_sockets.append(raw)
        return raw

    async def fetch(
        self,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        raw_body: bytes | None = None,
        auth: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A request to ``path`` (base included); error statuses are returned, not raised."""
        if raw_body is None and body is not None:
            raw_body = json.dumps(body).encode()
        if method == "POST" and raw_body is None:
            raw_body = b""
        request = HTTPRequest(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            body=raw_body,
            headers=self._headers(auth, headers),
            follow_redirects=False,
            request_timeout=READ_TIMEOUT,
        )
        client = AsyncHTTPClient()
        try:
            response: HTTPResponse = await client.fetch(request)
        except HTTPClientError as error:
            if error.response is None:
                raise
            response = error.response
        text = response.body.decode() if response.body else ""
        content_type = response.headers.get("Content-Type", "")
        parsed: Any = strict_json(text) if "json" in content_type and text else text
        return Reply(response.code, parsed, response.headers)

    async def get(self, *parts: str, auth: bool = False, **params: Any) -> Reply:
        return await self.fetch(self.path(*parts, **params), auth=auth)

    async def post(self, *parts: str, body: Any = None, auth: bool = True, **options: Any) -> Reply:
        return await self.fetch(self.path(*parts), method="POST", body=body, auth=auth, **options)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def login(self) -> Session:
        """Log in once with the token, as a browser would, and keep the cookies."""
        cookies: dict[str, str] = {}
        for reply in (
            await self.fetch(self.base_url + "api/me", auth=True),
            await self.fetch(self.base_url + "login", auth=False),
        ):
            for header in reply.headers.get_list("Set-Cookie"):
                name, _, rest = header.partition("=")
                cookies[name] = rest.split(";", 1)[0]
        assert "_xsrf" in cookies, cookies
        assert any(name.startswith("username-") for name in cookies), cookies
        return Session(cookies)

    def close_all(self) -> None:
        for ws in self.sockets:
            ws.close()
        for raw in self.raw_sockets:
            raw.abort()
