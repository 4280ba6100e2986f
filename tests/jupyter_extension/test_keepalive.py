"""Observe sockets are pinged by one sweep, with jupyter_server's ``ws_ping_*`` settings.

A client that answers pings stays; one that never answers is closed with
1001 once ``ws_ping_timeout`` has passed, and the others are not disturbed.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from jupyter_extension.app import TerrariumApp
from tests.jupyter_extension.helpers import Gateway, is_type, until

PING_MS, TIMEOUT_MS = 100, 400

pytestmark = pytest.mark.jupyter_config(
    {
        "ServerApp": {
            "tornado_settings": {"ws_ping_interval": PING_MS, "ws_ping_timeout": TIMEOUT_MS}
        }
    }
)


async def test_silent_observer_is_pinged_then_closed_and_answering_ones_stay(
    gateway: Gateway, extension: TerrariumApp
) -> None:
    answering, _ = await gateway.observe_hello("echo")
    silent = await gateway.raw_observe("echo")
    assert (await silent.read_message()).json()["type"] == "hello"

    started = time.monotonic()
    pings = 0
    while True:
        frame = await asyncio.wait_for(silent.read_frame(), 5)
        if frame.opcode == 0x9:
            pings += 1
        if frame.opcode == 0x8:
            break
    waited = time.monotonic() - started
    assert frame.close_code == 1001
    assert pings >= 2
    assert waited >= TIMEOUT_MS / 1000

    # The answering client (Tornado's own, which pongs) is still open and still served.
    assert len(extension.context.keepalive) == 1
    beam = await gateway.beam("echo")
    beam.write_message('{"id": "after", "data": {"still": "here"}}')
    event = (await until(answering, is_type("result")))[-1]
    assert event["data"]["output"] == {"still": "here"}


@pytest.mark.jupyter_config({"ServerApp": {"tornado_settings": {"ws_ping_interval": 0}}})
async def test_a_zero_interval_turns_pings_off(gateway: Gateway, extension: TerrariumApp) -> None:
    silent = await gateway.raw_observe("echo")
    assert (await silent.read_message()).json()["type"] == "hello"
    assert len(extension.context.keepalive) == 0
    opcodes = []
    with pytest.raises(TimeoutError):
        while True:
            opcodes.append((await asyncio.wait_for(silent.read_frame(), 3 * PING_MS / 1000)).opcode)
    assert 0x9 not in opcodes
