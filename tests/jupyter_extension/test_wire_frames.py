"""``jupyter_extension.wire.text_frame`` as a real WebSocket client reads it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import socket
import struct

import pytest
from tornado.iostream import IOStream
from tornado.websocket import websocket_connect

from jupyter_extension.wire import WEBSOCKET_TEXT, buffered_input, text_frame

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Every boundary of the three length encodings of RFC 6455.
LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def payload_of(length: int) -> bytes:
    """``length`` bytes of UTF-8, mostly two-byte characters: lengths count bytes."""
    return ("é" * (length // 2) + "a" * (length % 2)).encode()


async def serve_frames(frames: list[bytes]) -> asyncio.Server:
    """A one-shot WebSocket server: handshake, the given bytes, then a normal close."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        found = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", request)
        assert found is not None
        accept = base64.b64encode(hashlib.sha1(found.group(1) + GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        for frame in frames:
            writer.write(frame)
        writer.write(struct.pack("!BBH", 0x88, 2, 1000))
        await writer.drain()
        await reader.read()  # the client's close frame, then its end of stream
        writer.close()
        await writer.wait_closed()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("length", LENGTHS)
async def test_text_frame_is_read_back_whole_by_tornados_client(length: int) -> None:
    payload = payload_of(length)
    assert len(payload) == length
    server = await serve_frames([text_frame(payload), text_frame(b'{"after": true}')])
    port = server.sockets[0].getsockname()[1]
    try:
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/", max_message_size=1 << 20)
        try:
            message = await asyncio.wait_for(ws.read_message(), 10)
            after = await asyncio.wait_for(ws.read_message(), 10)
            end = await asyncio.wait_for(ws.read_message(), 10)
        finally:
            ws.close()
    finally:
        server.close()
        await server.wait_closed()

    assert message == payload.decode()
    assert after == '{"after": true}'
    assert end is None
    assert ws.close_code == 1000


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_text_frame_uses_the_shortest_length_encoding(length: int, header: bytes) -> None:
    frame = text_frame(b"a" * length)

    assert frame == header + b"a" * length


async def test_buffered_input_counts_what_tornado_read_but_did_not_hand_out() -> None:
    """The Beam reads on at once when more frames are already here: Tornado must count them."""
    ours, theirs = socket.socketpair()
    stream = IOStream(ours)
    try:
        assert buffered_input(stream) == 0
        theirs.sendall(b"0123456789")
        assert await asyncio.wait_for(stream.read_bytes(2), 10) == b"01"
        assert buffered_input(stream) == 8
        assert await asyncio.wait_for(stream.read_bytes(8), 10) == b"23456789"
        assert buffered_input(stream) == 0
    finally:
        stream.close()
        theirs.close()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_the_mirror_reads_a_payload_back_out_of_its_frame(size: int) -> None:
    """The mirror keeps only frames, so the framing must give every payload back."""
    payload = b"x" * size
    assert WEBSOCKET_TEXT.payload(WEBSOCKET_TEXT.frame(payload)) == payload


def test_tornados_cross_origin_rule_is_where_handshake_refusal_asks_for_it() -> None:
    """``handshake_refusal`` asks Tornado's own cross-origin rule first, to answer in JSON;
    a Tornado that moves it must fail here, not let foreign pages in."""
    from tornado.websocket import WebSocketHandler

    assert callable(getattr(WebSocketHandler, "_check_cross_origin", None))
