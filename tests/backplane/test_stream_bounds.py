"""What an agent keeps in Redis is bounded by events and bytes, not by stream entries.

One entry carries up to 256 events, so a bound on entries let a busy agent keep
256 times what ``redis_stream_length`` says. A firehose through a real Redis
shows the stream within both bounds, and an owner that carries an oversized
stream on (started with smaller bounds) trims it when it takes the agent over.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import redis

from tests.backplane.servers import RedisServer, replica, wait_healthy
from tests.jupyter_extension.helpers import Gateway
from tests.launcher import TOKEN, TerrariumProcess

#: Generous guard for what settles asynchronously; never a measured figure.
DEADLINE = 60.0
EVENTS = 1000
BYTES = 256 * 1024
#: One firehose event carries this many characters of output.
SIZE = 100
#: The stream's key for the firehose agent (the default namespace).
STREAM = "terrarium:agent:firehose:events"


def stream_contents(client: redis.Redis) -> tuple[int, int, int]:
    """Events, payload bytes and the newest seq in the firehose's stream."""
    events = size = newest = 0
    for _entry_id, fields in client.xrange(STREAM):
        payload = fields[b"payload"]
        count = payload.count(b"\n") + 1
        events += count
        size += len(payload)
        newest = int(fields[b"seq"]) + count - 1
    return events, size, newest


async def wait_written(client: redis.Redis, seq: int) -> tuple[int, int]:
    """Events and bytes kept once the newest event in Redis is ``seq`` and trims are done."""
    deadline = time.monotonic() + DEADLINE
    last: tuple[int, int, int] | None = None
    while True:
        contents = stream_contents(client)
        if contents[2] >= seq and contents == last:
            return contents[0], contents[1]
        if time.monotonic() > deadline:
            raise AssertionError(f"the stream never settled at seq {seq}: {contents}")
        last = contents
        await asyncio.sleep(0.3)


async def fire(gateway: Gateway, events: int) -> int:
    """Make the firehose reflect ``events`` events; its newest seq afterwards."""
    reply = await gateway.post(
        "api", "agents", "firehose", "perturb", body={"data": {"events": events, "bytes": SIZE}}
    )
    assert reply.code == 200, reply
    status = await gateway.get("api", "agents", "firehose")
    return int(status.body["seq"])


def owner(
    home: Path, server: RedisServer, name: str, events: int, size: int
) -> tuple[TerrariumProcess, Gateway]:
    """A replica running the firehose, with these bounds on what it keeps in Redis."""
    process = replica(
        home,
        server,
        name,
        "--TerrariumApp.demo_agents=False",
        "--TerrariumApp.bench_agents=True",
        f"--TerrariumApp.redis_stream_length={events}",
        f"--TerrariumApp.redis_stream_bytes={size}",
    ).start()
    try:
        wait_healthy(process)
    except BaseException:
        process.stop()
        raise
    return process, Gateway(port=process.port, base_url="/", token=TOKEN)


async def test_a_firehose_keeps_the_stream_within_its_events_and_bytes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis(port=redis_server.port)
    first, gateway = owner(tmp_path, redis_server, "a", EVENTS, 10 * BYTES)
    try:
        before = await fire(gateway, 30_000)
        events, size = await wait_written(client, before)
        # Trimmed by whole entries (up to 256 events each): within the bound, never far below.
        assert EVENTS - 256 < events <= EVENTS, events
        assert size <= 10 * BYTES
    finally:
        first.stop()
    try:
        # Taken over with a tighter byte bound: trimmed when the new owner adopts it.
        second, gateway = owner(tmp_path, redis_server, "b", EVENTS, BYTES // 4)
        try:
            after = await fire(gateway, 10)
            events, size = await wait_written(client, after)
            assert size <= BYTES // 4, size
            assert 0 < events < EVENTS
            # The stream carried on: the same numbering, the newest seq past the old one.
            assert after > before
        finally:
            second.stop()
    finally:
        client.close()
