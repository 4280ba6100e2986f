"""WebSocket framing for the mirror, and the one place that touches Tornado's stream.

The mirror frames each event once as an RFC 6455 text frame and writes the
same bytes to every observer's ``IOStream``. Tornado exposes the stream only
as ``handler.ws_connection.stream``, and neither the count of bytes it has
read but not parsed nor a way to drop the response headers of an open
WebSocket at all; ``stream_of``, ``buffered_input`` and
``release_response_headers`` are the only code that touches those
attributes, and tests fail loudly if Tornado moves them.
"""

from __future__ import annotations

import socket
import struct
import weakref
from typing import Protocol

from tornado.httputil import HTTPHeaders
from tornado.iostream import IOStream, SSLIOStream
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from terrarium.mirror import Framing, HolographicBuffer

#: Kernel send buffer per observer socket: bounds what a stalled reader costs the kernel.
OBSERVER_SNDBUF = 128 * 1024

_TEXT = 0x81  # FIN + text opcode


def text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed server-to-client text frame."""
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", _TEXT, length) + payload
    if length < 65536:
        return struct.pack("!BBH", _TEXT, 126, length) + payload
    return struct.pack("!BBQ", _TEXT, 127, length) + payload


def text_payload(frame: bytes) -> bytes:
    """The payload of a frame ``text_frame`` made (``b""`` for ``b""``)."""
    if not frame:
        return b""
    length = frame[1]
    return frame[2 if length < 126 else 4 if length == 126 else 10 :]


#: The mirror's framing on a WebSocket: frames are written to the stream as they are.
WEBSOCKET_TEXT = Framing(text_frame, text_payload)


def stream_of(handler: WebSocketHandler) -> IOStream:
    """The open WebSocket's stream (Tornado keeps it on ``ws_connection``)."""
    connection = handler.ws_connection
    stream = getattr(connection, "stream", None)
    if not isinstance(stream, IOStream):
        raise RuntimeError("tornado's WebSocket connection no longer exposes its IOStream")
    return stream


def buffered_input(stream: IOStream) -> int:
    """Bytes Tornado has read off the socket and not yet parsed: frames already here.

    Tornado keeps no public count of them; a test fails loudly if this one goes.
    """
    return stream._read_buffer_size


def release_response_headers(handler: RequestHandler) -> None:
    """Let go of the response headers an open WebSocket's handler still holds.

    They left with the 101 and are never read again, yet Tornado keeps them
    (with jupyter_server's security headers) for the life of the connection:
    1.3 KiB of an idle observer's 13. Tornado keeps them in ``_headers``; a
    test fails loudly if they move.
    """
    if isinstance(getattr(handler, "_headers", None), HTTPHeaders):
        handler._headers = HTTPHeaders()


def handshake_refusal(handler: WebSocketHandler) -> tuple[int, str] | None:
    """What Tornado's ``WebSocketHandler.get`` would refuse, as (status, reason), or None.

    Tornado answers those refusals in plain text; asked first, the handlers
    answer them in the protocol's JSON instead. The upgrade headers are
    public; the cross-origin rule is Tornado's own ``_check_cross_origin``
    (Sec-Fetch-Site, then Origin against Host and ``check_origin``), which a
    test pins so a Tornado that moves it fails loudly.
    """
    headers = handler.request.headers
    if headers.get("Upgrade", "").lower() != "websocket":
        return 400, 'this route takes a WebSocket upgrade only ("Upgrade: websocket")'
    if "upgrade" not in (part.strip().lower() for part in headers.get("Connection", "").split(",")):
        return 400, 'a WebSocket upgrade needs "Connection: Upgrade"'
    if handler._check_cross_origin(handler.check_origin) is not None:
        return 403, "cross-origin WebSocket refused"
    return None


def tune_observer_socket(stream: IOStream, size: int = OBSERVER_SNDBUF) -> None:
    """Cap the kernel send buffer (a stalled reader costs at most ``size``) and turn off
    Nagle's algorithm, which otherwise holds small live frames back for an ACK."""
    sock = stream.socket
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    stream.set_nodelay(True)


class _Closable(Protocol):
    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class WebSocketObserver:
    """A mirror observer writing pre-framed bytes straight to a WebSocket's stream.

    Made when the request is accepted and connected to the stream once the
    WebSocket is open; until then nothing is sent. It holds its handler only
    weakly: the handlers' map of observers is keyed weakly by the handler, and
    a value that held its key would keep every refused handshake alive.
    """

    __slots__ = ("_direct", "_handler", "_stream", "_waiting", "mirror")

    def __init__(self, handler: _Closable, mirror: HolographicBuffer) -> None:
        self._handler = weakref.ref(handler)
        self.mirror = mirror
        self._stream: IOStream | None = None
        self._direct: socket.socket | None = None
        self._waiting = False

    def connect(self, stream: IOStream) -> None:
        self._stream = stream
        # A plain TCP stream with nothing queued can take the bytes straight into the
        # kernel: no Future, no callback per delivery. TLS streams always go through
        # Tornado, which encrypts.
        self._direct = None if isinstance(stream, SSLIOStream) else stream.socket

    def send(self, data: bytes) -> None:
        stream = self._stream
        if stream is None or stream.closed():
            return
        sock = self._direct
        if sock is not None and not stream.writing():
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # the peer is gone; Tornado notices on its side and closes
            if sent == len(data):
                return
            data = data[sent:]
        future = stream.write(data)
        if stream.writing() and not self._waiting:
            self._waiting = True
            future.add_done_callback(self._drained)

    def _drained(self, _: object) -> None:
        self._waiting = False
        if self._stream is not None and not self._stream.closed():
            self.mirror.wake()

    def backlogged(self) -> bool:
        stream = self._stream
        if stream is None or not stream.writing():
            return False
        if not self._waiting:
            # Data we did not write (a ping, a pong) is pending: an empty write
            # resolves once everything before it has left, and wakes us then.
            self._waiting = True
            stream.write(b"").add_done_callback(self._drained)
        return True

    def close(self, code: int, reason: str) -> None:
        handler = self._handler()
        if handler is not None:
            handler.close(code, reason)
