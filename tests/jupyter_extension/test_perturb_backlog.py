"""The Beam holds back both ways: a client that sends and never reads is not read either.

Once a perturb socket's unsent replies pass ``perturb_backlog_bytes``, the
server stops reading its requests until they drain, so what such a client
costs the server is bounded by configuration, not by what it sends.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from terrarium.registry import AgentRegistry
from tests.jupyter_extension.helpers import Gateway, RawWebSocket

BACKLOG = 256 * 1024
#: Each reply carries this much output (the echo agent answers with its input).
REPLY = 64 * 1024
#: Far more than the backlog and every kernel buffer on the way can hold.
REQUESTS = 400

pytestmark = pytest.mark.terrarium(perturb_backlog_bytes=BACKLOG, mirror_max_bytes=1024 * 1024)


def request(index: int) -> bytes:
    return json.dumps({"id": str(index), "data": "x" * REPLY}).encode()


async def served(registry: AgentRegistry) -> int:
    """How many perturbations the echo agent has answered, once that count stops moving."""
    mirror = registry.get("echo").mirror
    last, still = -1, 0
    while still < 20:
        await asyncio.sleep(0.02)
        still = still + 1 if mirror.last_seq == last else 0
        last = mirror.last_seq
    # Each answered perturbation is reflected twice: accepted, then its result.
    return (last - 1) // 2


async def test_a_client_that_never_reads_is_not_read_until_it_does(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    raw = await RawWebSocket.connect(
        gateway.port,
        gateway.path("perturb", "echo"),
        rcvbuf=4096,
        headers={"Authorization": f"token {gateway.token}"},
    )
    gateway.raw_sockets.append(raw)

    async def send_all() -> None:
        for index in range(REQUESTS):
            await raw._send(0x1, request(index))

    sender = asyncio.create_task(send_all())
    try:
        answered = await served(registry)
        # The server stopped reading: the client's sends are stuck in its socket.
        assert not sender.done()
        assert 0 < answered < REQUESTS // 2, answered

        # Reading the replies lets the server read on, and every request is answered in order.
        for index in range(REQUESTS):
            reply = (await raw.read_message()).json()
            assert reply["type"] == "result", reply["type"]
            assert reply["id"] == str(index)
            assert len(reply["output"]) == REPLY
        await asyncio.wait_for(sender, 10)
    finally:
        sender.cancel()

    health = await gateway.get("api", "health")
    assert health.code == 200


async def test_a_reading_client_is_never_held_back(gateway: Gateway) -> None:
    """Replies that leave as they are written never count against the backlog."""
    beam = await gateway.beam("echo")
    for index in range(3 * BACKLOG // REPLY):
        beam.write_message(request(index).decode())
        reply = json.loads(await asyncio.wait_for(beam.read_message(), 10))
        assert (reply["type"], reply["id"]) == ("result", str(index))
