"""Slow observers (PROTOCOL.md section 2): they never slow the agent or anyone else.

``chatty`` reflects many 8 KiB events in batches the test paces from the
healthy observer's side, so the healthy observer can always keep up while a
raw socket with a tiny receive buffer never reads a byte until the test says so.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection

from jupyter_extension.wire import WebSocketObserver
from terrarium.mirror import HolographicBuffer
from terrarium.registry import AgentRegistry
from tests.jupyter_extension.agents import Chatty
from tests.jupyter_extension.helpers import (
    Frame,
    Gateway,
    RawWebSocket,
    assert_contiguous,
    receive,
    seqs_of,
)

QUEUE = 64
EVENTS = 2000
SIZE = 8192
BATCH = 32
#: state (1) and the perturbation (2) come before the bulk; its own result comes last.
FINAL = 2 + EVENTS + 1

pytestmark = pytest.mark.terrarium(observer_queue_size=QUEUE, history_size=5)


async def attach_slow(gateway: Gateway) -> RawWebSocket:
    slow = await gateway.raw_observe("chatty", rcvbuf=4096)
    hello = (await slow.read_message()).json()
    assert hello["type"] == "hello"
    assert (await slow.read_message()).json()["seq"] == 1
    return slow


async def run_paced(
    gateway: Gateway,
    chatty: Chatty,
    healthy: WebSocketClientConnection,
    between_batches: Any = None,
) -> list[Frame]:
    """Perturb chatty and read everything on ``healthy``, granting a batch at a time."""
    beam = await gateway.beam("chatty")
    beam.write_message(
        json.dumps({"id": "go", "data": {"events": EVENTS, "bytes": SIZE, "batch": BATCH}})
    )
    frames: list[Frame] = []
    bulk = 0
    while True:
        frame = await receive(healthy)
        assert frame is not None, "the healthy observer was closed"
        frames.append(frame)
        if frame.get("type") != "result":
            continue
        if frame["data"]["perturbation_id"] is not None:
            break
        bulk += 1
        if bulk % BATCH == 0 and bulk < EVENTS:
            if between_batches is not None:
                await between_batches()
            chatty.grant()
    reply = await receive(beam)
    assert reply is not None and reply["output"] == {"emitted": EVENTS}
    return frames


def slow_cursor_lag(mirror: HolographicBuffer) -> int:
    lags = [mirror.last_seq + 1 - cursor.next_seq for cursor in mirror._cursors.values()]
    return max(lags)


def pending_bytes(mirror: HolographicBuffer) -> int:
    """User-space bytes queued on the server for the most lagging observer."""
    worst = max(mirror._cursors.values(), key=lambda cursor: mirror.last_seq - cursor.next_seq)
    observer = worst.observer
    assert isinstance(observer, WebSocketObserver)
    return len(observer._stream._write_buffer)


@pytest.mark.parametrize(
    "history",
    [5, pytest.param(200, marks=pytest.mark.terrarium(history_size=200))],
    ids=["short-history", "long-history"],
)
async def test_gap_policy_keeps_healthy_observers_whole_and_tells_the_slow_one(
    gateway: Gateway, registry: AgentRegistry, chatty: Chatty, history: int
) -> None:
    slow = await attach_slow(gateway)
    healthy, _ = await gateway.observe_hello("chatty")

    frames = await run_paced(gateway, chatty, healthy)

    assert all(frame.get("type") != "gap" for frame in frames)
    assert_contiguous(seqs_of(frames), first=1)
    assert seqs_of(frames)[-1] == FINAL
    mirror = registry.get("chatty").mirror
    assert mirror.last_seq == FINAL
    assert mirror.history_size == history
    assert len(mirror._frames) == max(history, QUEUE)  # the ring never grows
    assert mirror.observer_count == 2
    assert slow_cursor_lag(mirror) > QUEUE
    frame_size = len(mirror._frames[(FINAL - 1) % len(mirror._frames)])
    assert pending_bytes(mirror) <= QUEUE * frame_size

    received: list[Frame] = []
    while not received or received[-1].get("seq") != FINAL:
        received.append((await slow.read_message()).json())

    gaps = [frame for frame in received if frame["type"] == "gap"]
    assert len(gaps) == 1
    gap_at = received.index(gaps[0])
    before, after = seqs_of(received[:gap_at]), seqs_of(received[gap_at + 1 :])
    assert_contiguous(before, first=2)
    assert gaps[0] == {"type": "gap", "from": before[-1] + 1, "to": FINAL - QUEUE}
    assert after == list(range(FINAL - QUEUE + 1, FINAL + 1))
    await slow.close()


@pytest.mark.terrarium(slow_observer_policy="close")
async def test_close_policy_closes_the_slow_observer_with_1013(
    gateway: Gateway, registry: AgentRegistry, chatty: Chatty
) -> None:
    slow = await attach_slow(gateway)
    healthy, _ = await gateway.observe_hello("chatty")
    mirror = registry.get("chatty").mirror
    slow_frames: list[Frame] = []
    close_codes: list[int | None] = []

    async def read_slow_once_closed() -> None:
        if close_codes or mirror.observer_count != 1:
            return
        while True:
            message = await slow.read_message()
            if message.opcode == 0x8:
                close_codes.append(message.close_code)
                await slow.close()
                return
            slow_frames.append(message.json())

    frames = await run_paced(gateway, chatty, healthy, read_slow_once_closed)

    assert close_codes == [1013]
    assert all(frame.get("type") != "gap" for frame in slow_frames)
    assert_contiguous(seqs_of(slow_frames), first=2)
    assert seqs_of(slow_frames)[-1] < FINAL
    assert all(frame.get("type") != "gap" for frame in frames)
    assert_contiguous(seqs_of(frames), first=1)
    assert seqs_of(frames)[-1] == FINAL
    assert mirror.observer_count == 1
