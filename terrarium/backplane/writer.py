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

What an event stream keeps in Redis is bounded by events and by bytes, not by
entries (an entry carries up to 256 events): the writer keeps a ledger of the
entries it holds per stream (ids, event counts, sizes; seeded from the stream
by ``adopt`` when an owner carries a stream on) and trims the stream
(``XTRIM MINID``) to the newest entries within both bounds. The newest entry
always stays.
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


@dataclass(frozen=True, slots=True)
class Limits:
    """What one agent's event stream may hold, in Redis and in the backlog while it is away."""

    events: int = 10_000
    bytes: int = 64 * 1024 * 1024


@dataclass(eq=False)
class _Backlog:
    """Events not yet written, oldest first, within the limits (the oldest go first)."""

    items: deque[tuple[int, bytes]] = field(default_factory=deque)
    size: int = 0

    def add(self, seq: int, payload: bytes, limits: Limits) -> None:
        items = self.items
        items.append((seq, payload))
        self.size += len(payload)
        while len(items) > 1 and (len(items) > limits.events or self.size > limits.bytes):
            self.size -= len(items.popleft()[1])

    def take(self) -> list[tuple[int, bytes]]:
        taken = list(self.items)
        self.items.clear()
        self.size = 0
        return taken


@dataclass(eq=False)
class _Ledger:
    """The entries of one stream in Redis, oldest first: (id, events, bytes)."""

    entries: deque[tuple[str, int, int]] = field(default_factory=deque)
    events: int = 0
    size: int = 0

    def add(self, entry_id: str, events: int, size: int) -> None:
        self.entries.append((entry_id, events, size))
        self.events += events
        self.size += size

    def trim(self, limits: Limits) -> str | None:
        """Drop the oldest entries beyond the limits; the id of the oldest kept, if any went."""
        entries = self.entries
        dropped = False
        while len(entries) > 1 and (self.events > limits.events or self.size > limits.bytes):
            _, events, size = entries.popleft()
            self.events -= events
            self.size -= size
            dropped = True
        return entries[0][0] if dropped else None


@dataclass(eq=False)
class _Batch:
    events: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    markers: list[asyncio.Future[None]] = field(default_factory=list)


class StreamWriter:
    """Batched, ordered, retried appends; see the module docstring for why."""

    def __init__(self, client: Redis, limits: Limits) -> None:
        self._client = client
        self.limits = limits
        self._events: dict[str, _Backlog] = {}
        self._ledgers: dict[str, _Ledger] = {}
        #: Streams to trim to an entry id, in the next pipeline.
        self._trims: dict[str, str] = {}
        self._messages: list[Message] = []
        self._markers: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._backoff = Backoff()

    def tap(self, stream: str) -> Tap:
        """The mirror's tap for one agent's event stream."""
        backlog = self._events.setdefault(stream, _Backlog())
        self._ledgers.setdefault(stream, _Ledger())
        limits, wake = self.limits, self._wake

        def tap(seq: int, payload: bytes) -> None:
            backlog.add(seq, payload, limits)
            wake.set()

        return tap

    async def adopt(self, stream: str, page: int = 1000) -> None:
        """Learn the entries a stream already holds (an owner carrying it on), so they
        count against the limits too; trims at once if they exceed them."""
        ledger = self._ledgers[stream] = _Ledger()
        after = "-"
        while True:
            entries: Any = await self._client.xrange(stream, after, "+", count=page)
            for entry_id, fields in entries:
                payload = bytes(fields.get(b"payload", b""))
                name = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                ledger.add(name, payload.count(b"\n") + 1, len(payload))
            if len(entries) < page:
                break
            after = "(" + ledger.entries[-1][0]
        oldest = ledger.trim(self.limits)
        if oldest is not None:
            await self._client.xtrim(stream, minid=oldest)

    def forget(self, stream: str) -> None:
        self._events.pop(stream, None)
        self._ledgers.pop(stream, None)
        self._trims.pop(stream, None)

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
        for stream, backlog in self._events.items():
            if backlog.items:
                batch.events[stream] = backlog.take()
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
        entries: list[tuple[str, Fields, int, int]] = []
        for stream, items in batch.events.items():
            for start in range(0, len(items), EVENTS_PER_ENTRY):
                chunk = items[start : start + EVENTS_PER_ENTRY]
                payload = b"\n".join([p for _, p in chunk])
                fields: Fields = {"seq": chunk[0][0], "payload": payload}
                entries.append((stream, fields, len(chunk), len(payload)))
        if not entries and not batch.messages and not self._trims:
            return
        while True:
            trims = dict(self._trims)
            pipe = self._client.pipeline(transaction=False)
            for stream, oldest in trims.items():
                pipe.xtrim(stream, minid=oldest)
            for stream, fields, _, _ in entries:
                # MAXLEN in entries is only a net: each entry holds one event or more.
                pipe.xadd(stream, fields, maxlen=self.limits.events, approximate=True)
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
            for stream, oldest in trims.items():
                if self._trims.get(stream) == oldest:
                    del self._trims[stream]
            self._account(entries, results[len(trims) : len(trims) + len(entries)])
            for result in results:
                if isinstance(result, Exception):
                    log.error("Terrarium backplane: Redis refused a write: %s", result)
            return

    def _account(self, entries: list[tuple[str, Fields, int, int]], ids: list[Any]) -> None:
        """Enter what was written in the ledgers; streams past their limits are trimmed next."""
        touched: set[str] = set()
        for (stream, _, events, size), entry_id in zip(entries, ids, strict=True):
            ledger = self._ledgers.get(stream)
            if ledger is None or isinstance(entry_id, Exception):
                continue
            name = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            ledger.add(name, events, size)
            touched.add(stream)
        for stream in touched:
            oldest = self._ledgers[stream].trim(self.limits)
            if oldest is not None:
                self._trims[stream] = oldest
                self._wake.set()
