"""The one task that appends this replica's events, replies and acks to Redis.

``tap(agent_id)`` gives a mirror a callback that costs ``reflect()`` an append
and an ``Event.set()``: nothing waits on Redis. The task wakes at most once
per loop iteration, takes everything that piled up and sends it as one
pipeline, so a burst of N events is a handful of round trips, not N. The
events of one agent that piled up go into one stream entry (``seq`` is the
first one's, ``payload`` the events' JSON joined by newlines, which compact
JSON never contains), up to ``EVENTS_PER_ENTRY``: a command per event costs
the client ~10 µs of Python each, which at firehose rates stalls the loop. While
Redis is away it keeps retrying the same batch in order; events keep piling
up meanwhile, bounded per agent (the oldest go first, and followers see the
skipped seqs as a ``gap``), whereas replies and acks are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from terrarium.backplane.retry import CONNECTION_ERRORS, Backoff
from terrarium.mirror import Tap

log = logging.getLogger(__name__)

#: Stream entry fields (redis-py accepts str, bytes and numbers).
Fields = dict[Any, Any]
#: Most events one stream entry carries (and so most a follower ingests per entry).
EVENTS_PER_ENTRY = 256


@dataclass(frozen=True, slots=True)
class Message:
    """One entry for a stream (none: only the ack), and optionally the command entry it settles."""

    stream: str | None
    fields: Fields
    maxlen: int
    #: ``(stream, group, entry id)`` to XACK in the same pipeline, once the entry is written.
    ack: tuple[str, str, str] | None = None


@dataclass(eq=False)
class _Batch:
    events: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    markers: list[asyncio.Future[None]] = field(default_factory=list)


class StreamWriter:
    """Batched, ordered, retried appends; see the module docstring for why."""

    def __init__(self, client: Redis, *, maxlen: int, backlog: int) -> None:
        self._client = client
        self.maxlen = maxlen
        self._backlog = backlog
        self._events: dict[str, deque[tuple[int, bytes]]] = {}
        self._messages: list[Message] = []
        self._markers: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._backoff = Backoff()

    def tap(self, stream: str) -> Tap:
        """The mirror's tap for one agent's event stream."""
        queue = self._events.setdefault(stream, deque(maxlen=self._backlog))
        wake = self._wake

        def tap(seq: int, payload: bytes) -> None:
            queue.append((seq, payload))
            wake.set()

        return tap

    def forget(self, stream: str) -> None:
        self._events.pop(stream, None)

    def send(self, message: Message) -> None:
        self._messages.append(message)
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything handed over so far is in Redis."""
        marker = asyncio.get_running_loop().create_future()
        self._markers.append(marker)
        self._wake.set()
        await marker

    def _take(self) -> _Batch:
        batch = _Batch(messages=self._messages, markers=self._markers)
        self._messages, self._markers = [], []
        for stream, queue in self._events.items():
            if queue:
                batch.events[stream] = list(queue)
                queue.clear()
        return batch

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._take()
            await self._write(batch)
            for marker in batch.markers:
                if not marker.done():
                    marker.set_result(None)

    async def _write(self, batch: _Batch) -> None:
        if not batch.events and not batch.messages:
            return
        while True:
            pipe = self._client.pipeline(transaction=False)
            for stream, items in batch.events.items():
                for start in range(0, len(items), EVENTS_PER_ENTRY):
                    chunk = items[start : start + EVENTS_PER_ENTRY]
                    fields: Fields = {
                        "seq": chunk[0][0],
                        "payload": b"\n".join([p for _, p in chunk]),
                    }
                    pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
            for message in batch.messages:
                if message.stream is not None:
                    pipe.xadd(
                        message.stream, message.fields, maxlen=message.maxlen, approximate=True
                    )
                if message.ack is not None:
                    pipe.xack(*message.ack)
            try:
                results = await pipe.execute(raise_on_error=False)
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium backplane: Redis unreachable (%s); retrying", error)
                await self._backoff.wait()
                continue
            self._backoff.reset()
            for result in results:
                if isinstance(result, Exception):
                    log.error("Terrarium backplane: Redis refused a write: %s", result)
            return
