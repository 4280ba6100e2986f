"""Telling observers that an agent's owner died, and that an owner came back.

An owner killed without warning writes nothing more: its agent's observers on
other replicas would see a live-looking stream that just stops. So the first
replica that follows the agent and sees its owner's heartbeat expired appends
a ``state`` event ``unavailable`` to the agent's stream on the dead owner's
behalf, numbered after the stream's newest event. Followers ingest it like any
other event, so every replica carries it under the same seq, and a new owner
reloads it with the history. A Lua script appends only while the owner is
still the dead one, its heartbeat is still absent and the stream's newest
entry is still the one the seq was counted from, so replicas racing to say it
say it once. A new owner that finds the stream ending so reflects
``available`` before its agent starts.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from terrarium.backplane.keys import Keys
from terrarium.backplane.streams import parse_entries
from terrarium.events import to_json

#: The ``state`` values of distributed mode (PROTOCOL.md section 7).
UNAVAILABLE = "unavailable"
AVAILABLE = "available"

_APPEND_IF_STILL_DEAD = """
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current or cjson.decode(current)['owner'] ~= ARGV[2] then return 0 end
if redis.call('EXISTS', ARGV[3] .. ARGV[2]) == 1 then return 0 end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = ''
if #newest > 0 then id = newest[1][1] end
if id ~= ARGV[4] then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*', 'seq', ARGV[5], 'payload', ARGV[6])
return 1
"""


def state_payload(seq: int, agent_id: str, state: str, previous: str) -> bytes:
    """A ``state`` event exactly as an owner's mirror serialises one."""
    event = {
        "seq": seq,
        "ts": time.time(),
        "agent_id": agent_id,
        "type": "state",
        "data": {"state": state, "previous": previous},
    }
    return to_json(event).encode()


def ends_unavailable(payload: bytes) -> bool:
    """Whether an event is the ``unavailable`` a replica wrote for a dead owner."""
    try:
        event: Any = json.loads(payload)
    except ValueError:
        return False
    return (
        isinstance(event, dict)
        and event.get("type") == "state"
        and isinstance(event.get("data"), dict)
        and event["data"].get("state") == UNAVAILABLE
    )


class Vigil:
    """Writes ``unavailable`` for agents whose owner died, once per death."""

    def __init__(self, client: Redis, keys: Keys, *, maxlen: int) -> None:
        self._client = client
        self._keys = keys
        self._maxlen = maxlen
        self._append = client.register_script(_APPEND_IF_STILL_DEAD)
        #: (agent id, dead owner) pairs already said, by this replica or another.
        self._said: set[tuple[str, str]] = set()

    async def owner_died(self, agent_id: str, owner: str, previous: str) -> bool:
        """Say it on the agent's stream unless it is said already; True if this call did."""
        if (agent_id, owner) in self._said:
            return False
        stream = self._keys.events(agent_id)
        newest: Any = await self._client.xrevrange(stream, "+", "-", count=1)
        events = parse_entries(list(newest or []))
        if events and ends_unavailable(events[-1].payload):
            self._said.add((agent_id, owner))
            return False
        seq = events[-1].seq + 1 if events else 1
        expected = events[-1].id if events else ""
        written = await self._append(
            keys=[stream, self._keys.agents],
            args=[
                agent_id,
                owner,
                self._keys.replica_prefix,
                expected,
                seq,
                state_payload(seq, agent_id, UNAVAILABLE, previous),
                self._maxlen,
            ],
        )
        if written:
            self._said.add((agent_id, owner))
        return bool(written)
