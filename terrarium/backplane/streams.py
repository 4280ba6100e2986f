"""Reading an agent's event stream: its tail (history) and what comes after an entry id.

Each entry is ``{seq, payload}``: the seq the owner's mirror gave the first
event of the entry, and the events' JSON exactly as the owner serialised them,
joined by newlines (consecutive seqs from ``seq`` on), so every replica sends
the same bytes under the same seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

#: Before any entry: where a reader of an empty (or new) stream starts.
START = "0-0"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: str
    seq: int
    payload: bytes


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_entries(entries: list[Any]) -> list[StreamEvent]:
    """``[(id, {b"seq": ..., b"payload": ...}), ...]`` as events; malformed entries are skipped."""
    events: list[StreamEvent] = []
    for entry_id, fields in entries:
        seq, payload = fields.get(b"seq"), fields.get(b"payload")
        if seq is None or payload is None:
            continue
        first, name = int(seq), _text(entry_id)
        for offset, line in enumerate(bytes(payload).split(b"\n")):
            events.append(StreamEvent(name, first + offset, line))
    return events


async def tail(client: Redis, stream: str, count: int) -> list[StreamEvent]:
    """The newest ``count`` events (those kept), oldest first; none when ``count`` is 0.

    An entry carries one event or more, so ``count`` entries hold at least ``count``.
    """
    if count <= 0:
        return []
    entries: Any = await client.xrevrange(stream, "+", "-", count=count)
    return parse_entries(list(reversed(entries or [])))[-count:]


async def last_id(client: Redis, stream: str) -> str:
    """The newest entry's id, or ``START``: where a reader of only new entries begins."""
    entries: Any = await client.xrevrange(stream, "+", "-", count=1)
    return _text(entries[0][0]) if entries else START


async def read_after(
    client: Redis, stream: str, after: str, *, block_ms: int, count: int
) -> list[StreamEvent]:
    """Events after entry ``after``, waiting up to ``block_ms`` for the first one."""
    answer: Any = await client.xread({stream: after}, count=count, block=block_ms)
    if not answer:
        return []
    entries: list[Any] = []
    for _name, items in answer:
        entries.extend(items)
    return parse_entries(entries)
