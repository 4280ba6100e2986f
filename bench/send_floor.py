"""The floor under one-send-per-delivery fan-out, measured on the server's core.

``python -m bench.send_floor --port P --count N --seconds S --mode M [--cpu C]``
listens on 127.0.0.1:P, accepts N connections (the fleet's sinks, which read
as the saturation observers read), tunes each socket as the
observe socket is tuned (``SO_SNDBUF`` 128 KiB, ``TCP_NODELAY``), runs for S
seconds and prints what it managed as one JSON line. Two modes:

- ``send``: a bare loop sending one pre-built 208-byte WebSocket frame to
  each socket in turn. Any server that writes each delivery with its own
  ``send()`` cannot deliver more per second on this core.
- ``loop``: the saturation scenario's "one event per loop iteration" with
  nothing else: the shared emission loop on asyncio, each event serialised
  and framed once and sent to every socket, no mirror, no framework. Any
  server in that mode that has no backlog to join pays at least this.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import time

from bench.baseline_common import Channel
from bench.emission import MAX_EVENTS, EmitRequest, emit_events
from bench.probes import StopSignal
from bench.procs import pin

#: The observe socket's tuning (``jupyter_extension.wire``), repeated so the floor needs no server.
SNDBUF = 128 * 1024
#: A 204-byte event in an unmasked text frame: the saturation scenario's delivery.
FRAME = b"\x81\x7e\x00\xcc" + b"x" * 204
#: Characters of ``output`` that make the 204-byte event of the saturation scenario.
EVENT_OUTPUT = 84


def accept(listener: socket.socket, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        conn, _ = listener.accept()
        conn.setblocking(False)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sockets.append(conn)
    return sockets


def text_frame(payload: bytes) -> bytes:
    """An unmasked text frame (payloads here are 126-65535 bytes)."""
    return struct.pack("!BBH", 0x81, 126, len(payload)) + payload


def measure_sends(sockets: list[socket.socket], seconds: float) -> dict[str, float]:
    sends = refused = 0
    frame = FRAME
    started, cpu = time.perf_counter(), time.process_time()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for conn in sockets:
            try:
                conn.send(frame)
                sends += 1
            except BlockingIOError:
                refused += 1
    elapsed = time.perf_counter() - started
    return _figures(sends, refused, elapsed, time.process_time() - cpu)


async def _emit_for(sockets: list[socket.socket], seconds: float) -> tuple[int, int]:
    channel, output, stop = Channel(), "x" * EVENT_OUTPUT, StopSignal()
    counts = [0, 0]

    def emit() -> None:
        frame = text_frame(channel.event(output).encode())
        for conn in sockets:
            try:
                conn.send(frame)
                counts[0] += 1
            except BlockingIOError:
                counts[1] += 1

    asyncio.get_running_loop().call_later(seconds, stop.stop)
    await emit_events(emit, EmitRequest(MAX_EVENTS, EVENT_OUTPUT, burst=1), stop)
    return counts[0], counts[1]


def measure_loop(sockets: list[socket.socket], seconds: float) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    sends, refused = asyncio.run(_emit_for(sockets, seconds))
    elapsed = time.perf_counter() - started
    return _figures(sends, refused, elapsed, time.process_time() - cpu)


def _figures(sends: int, refused: int, elapsed: float, cpu: float) -> dict[str, float]:
    return {
        "sends_s": sends / elapsed,
        "us_per_send": 1e6 * elapsed / max(sends, 1),
        "refused": refused,
        "cpu": 100 * cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--mode", choices=("send", "loop"), default="send")
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    pin(args.cpu)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.port))
        listener.listen(args.count)
        print("listening", flush=True)
        sockets = accept(listener, args.count)
        measure = measure_sends if args.mode == "send" else measure_loop
        print(json.dumps(measure(sockets, args.seconds)), flush=True)
        for conn in sockets:
            conn.close()


if __name__ == "__main__":
    main()
