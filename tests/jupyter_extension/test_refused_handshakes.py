"""Refused observe handshakes leave nothing behind on the server.

Anyone may knock on ``{base}terrarium/observe/{agent_id}`` (it is public by
default): a plain GET without ``Upgrade`` is answered 400, a WebSocket
handshake from a foreign ``Origin`` 403. Each such request runs the handler's
``prepare``, which sets up an observer for the upgrade to come; when the
upgrade never comes, that observer and its handler must go with the request,
or every refused knock is memory the server never gets back.

Two views of it: in process, the context's ``observers`` map and the live
``ObserveHandler`` instances go back to what they were; out of process, a
child ``jupyter terrarium`` does not grow its resident memory.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections import Counter
from pathlib import Path

import pytest

from jupyter_extension.app import TerrariumApp
from jupyter_extension.handlers.observe import ObserveHandler
from tests.jupyter_extension.helpers import READ_TIMEOUT, Gateway
from tests.launcher import TerrariumProcess

#: Refused handshakes of each kind per test.
KNOCKS = 5000
#: Connections knocking at once.
CONCURRENCY = 8
FOREIGN_ORIGIN = "http://evil.example"
#: (kind, the status it is refused with)
KINDS = [
    pytest.param("plain-get", 400, id="plain-get"),
    pytest.param("foreign-origin", 403, id="foreign-origin"),
]


def knock_request(kind: str, port: int, path: str) -> bytes:
    """A plain GET (no ``Upgrade``), or a WebSocket handshake from a foreign ``Origin``."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if kind == "plain-get":
        lines.append("Connection: close")
    else:
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            f"Origin: {FOREIGN_ORIGIN}",
        ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def knock(port: int, request: bytes) -> int:
    """Send ``request`` on a fresh connection, read the whole response, close; its status."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        async with asyncio.timeout(READ_TIMEOUT):
            await loop.sock_connect(sock, ("127.0.0.1", port))
            await loop.sock_sendall(sock, request)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = await loop.sock_recv(sock, 65536)
                if not chunk:
                    raise ConnectionError(f"closed mid-response: {received!r}")
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            headers = {name.strip().lower(): value.strip() for name, value in fields.items()}
            length = int(headers.get(b"content-length", b"0"))
            while len(body) < length:
                chunk = await loop.sock_recv(sock, 65536)
                if not chunk:
                    break
                body += chunk
    return int(head.split()[1])


async def knock_many(kind: str, port: int, path: str, count: int) -> Counter[int]:
    """``count`` refused handshakes, ``CONCURRENCY`` at a time; how many got each status."""
    request = knock_request(kind, port, path)
    statuses: Counter[int] = Counter()

    async def worker(share: int) -> None:
        for _ in range(share):
            statuses[await knock(port, request)] += 1

    shares = [count // CONCURRENCY + (index < count % CONCURRENCY) for index in range(CONCURRENCY)]
    await asyncio.gather(*(worker(share) for share in shares))
    return statuses


def live_observe_handlers() -> int:
    gc.collect()
    return sum(isinstance(item, ObserveHandler) for item in gc.get_objects())


@pytest.mark.parametrize(("kind", "status"), KINDS)
async def test_refused_handshakes_leave_no_observer_and_no_handler_behind(
    gateway: Gateway, extension: TerrariumApp, kind: str, status: int
) -> None:
    observers = extension.context.observers
    handlers_before = live_observe_handlers()
    observers_before = len(observers)

    statuses = await knock_many(kind, gateway.port, gateway.path("observe", "echo"), KNOCKS)

    assert statuses == {status: KNOCKS}
    # At most as many as before: handlers of earlier tests may be freed meanwhile.
    assert live_observe_handlers() <= handlers_before
    assert len(observers) == observers_before
    # And the socket still opens for a real observer.
    _, hello = await gateway.observe_hello("echo")
    assert hello["agent_id"] == "echo"
    assert len(observers) == observers_before + 1


# -- out of process: the resident memory of a child server ---------------------------------

#: Requests before the first reading, so lazily built state is already there.
WARM_UP = 200
#: Growth allowed over KNOCKS refused handshakes (leaking, it was about 34-40 MiB).
RSS_ALLOWANCE = 8 * 1024 * 1024


def resident_bytes(pid: int) -> int:
    """``VmRSS`` of the process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
@pytest.mark.parametrize(("kind", "status"), KINDS)
async def test_out_of_process_refused_handshakes_do_not_grow_the_servers_memory(
    tmp_path: Path, kind: str, status: int
) -> None:
    """A child ``jupyter terrarium``, stopped when the test ends, read through /proc."""
    with TerrariumProcess(tmp_path) as server:
        await server.healthy()
        assert server.process is not None
        pid = server.process.pid
        path = "/terrarium/observe/echo"

        warm = await knock_many(kind, server.port, path, WARM_UP)
        assert warm == {status: WARM_UP}
        before = resident_bytes(pid)

        statuses = await knock_many(kind, server.port, path, KNOCKS)

        assert statuses == {status: KNOCKS}
        assert server.process.poll() is None, server.log.read_text()
        growth = resident_bytes(pid) - before
        assert growth < RSS_ALLOWANCE, f"VmRSS grew by {growth / 2**20:.1f} MiB"
