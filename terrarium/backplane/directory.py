"""The shared registry: which replica owns which agent, and whether that replica lives.

- ``{ns}:agents`` is a hash, agent id -> JSON ``{"owner", "status",
  "perturbation_timeout", "updated_at"}``; each owner rewrites its agents'
  entries (their STATUS) on every heartbeat.
- ``{ns}:replica:{id}`` is the owner's heartbeat: ``SET ... EX ttl``, refreshed
  every ``interval`` seconds. When it expires, the owner is taken for dead: its
  agents are listed as unavailable (state ``stopped``, ``available: false``)
  and perturbing them answers ``agent_unavailable``.
- An unavailable agent leaves the listing when a replica registers it again
  (the owner came back, or another took over), or ``grace`` seconds after its
  owner's last heartbeat, whichever comes first; readers drop such entries as
  they list (nobody polls for it).
- ``{ns}:agent:{id}:watchers`` is a sorted set of the replicas that have
  observers of the agent, scored by when that claim expires, so the owner
  ticks ``metabolism`` for observers it does not hold itself.

Claiming an agent is atomic (a Lua script): a replica may take an agent whose
entry is absent, its own, or owned by a replica whose heartbeat has expired.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from terrarium.backplane.keys import Keys
from terrarium.events import to_json

_CLAIM = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local owner = cjson.decode(current)['owner']
  if owner ~= ARGV[2] and redis.call('EXISTS', ARGV[4] .. owner) == 1 then
    return owner
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return false
"""

#: Drop an entry whose owner is dead and whose last update is older than the cutoff.
_EXPIRE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local record = cjson.decode(current)
if redis.call('EXISTS', ARGV[2] .. record['owner']) == 1 then return 0 end
if tonumber(record['updated_at']) > tonumber(ARGV[3]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

#: Drop an entry only if it is still this replica's.
_RELEASE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current)['owner'] == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """One agent as the directory knows it."""

    agent_id: str
    owner: str
    status: dict[str, Any]
    perturbation_timeout: float
    updated_at: float
    alive: bool

    @classmethod
    def parse(cls, agent_id: str, raw: bytes | str, alive: bool) -> AgentEntry:
        record = json.loads(raw)
        return cls(
            agent_id=agent_id,
            owner=str(record["owner"]),
            status=dict(record.get("status") or {}),
            perturbation_timeout=float(record.get("perturbation_timeout", 30.0)),
            updated_at=float(record.get("updated_at", 0.0)),
            alive=alive,
        )

    def listing(self) -> dict[str, Any]:
        """The STATUS to show: the owner's last, or ``stopped`` once the owner is gone."""
        status = {**self.status, "id": self.agent_id, "owner": self.owner}
        if not self.alive:
            status["state"] = "stopped"
        status["available"] = self.alive
        return status


def entry_record(
    owner: str, status: Mapping[str, Any], perturbation_timeout: float, now: float | None = None
) -> str:
    return to_json(
        {
            "owner": owner,
            "status": status,
            "perturbation_timeout": perturbation_timeout,
            "updated_at": time.time() if now is None else now,
        }
    )


class Directory:
    """Heartbeats, claims and listings against the shared hash."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        replica_id: str,
        *,
        ttl: float = 5.0,
        grace: float = 300.0,
    ) -> None:
        self._client = client
        self._keys = keys
        self.replica_id = replica_id
        self.ttl = ttl
        self.grace = grace
        self._claim = client.register_script(_CLAIM)
        self._expire = client.register_script(_EXPIRE)
        self._release = client.register_script(_RELEASE)

    async def claim(self, agent_id: str, record: str) -> str | None:
        """Own the agent; returns the live replica that already owns it, if any."""
        other = await self._claim(
            keys=[self._keys.agents],
            args=[agent_id, self.replica_id, record, self._keys.replica_prefix],
        )
        if other is None:
            return None
        return other.decode() if isinstance(other, bytes) else str(other)

    async def beat(
        self, owned: dict[str, str], watched: list[str], followed: list[str]
    ) -> tuple[dict[str, bool], dict[str, AgentEntry]]:
        """One heartbeat, in one pipeline.

        Refreshes this replica's heartbeat key and its agents' entries
        (``owned``: agent id -> record), renews its watcher claims, and
        returns which owned agents have observers elsewhere and the entries
        of the remote agents this replica follows.
        """
        now = time.time()
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._keys.replica(self.replica_id), b"1", px=int(self.ttl * 1000))
        if owned:
            mapping: dict[Any, Any] = dict(owned)
            pipe.hset(self._keys.agents, mapping=mapping)
        for agent_id in watched:
            pipe.zadd(self._keys.watchers(agent_id), {self.replica_id: now + self.ttl})
        for agent_id in owned:
            key = self._keys.watchers(agent_id)
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrange(key, 0, -1)
        if followed:
            pipe.hmget(self._keys.agents, followed)
        results = await pipe.execute()
        position = 1 + (1 if owned else 0) + len(watched)
        elsewhere: dict[str, bool] = {}
        for agent_id in owned:
            members = results[position + 1]
            position += 2
            elsewhere[agent_id] = any(_text(member) != self.replica_id for member in members)
        entries: dict[str, AgentEntry] = {}
        if followed:
            raws = results[position]
            owners = {json.loads(raw)["owner"] for raw in raws if raw is not None}
            alive = await self._alive(owners)
            for agent_id, raw in zip(followed, raws, strict=True):
                if raw is not None:
                    owner = str(json.loads(raw)["owner"])
                    entries[agent_id] = AgentEntry.parse(agent_id, raw, owner in alive)
        return elsewhere, entries

    async def unwatch(self, agent_ids: list[str]) -> None:
        if agent_ids:
            pipe = self._client.pipeline(transaction=False)
            for agent_id in agent_ids:
                pipe.zrem(self._keys.watchers(agent_id), self.replica_id)
            await pipe.execute()

    async def _alive(self, owners: set[str]) -> set[str]:
        if not owners:
            return set()
        ordered = sorted(owners)
        beats = await self._client.mget([self._keys.replica(owner) for owner in ordered])
        return {owner for owner, beat in zip(ordered, beats, strict=True) if beat is not None}

    async def entries(self) -> dict[str, AgentEntry]:
        """Every listed agent; entries dead for longer than ``grace`` are dropped on the way."""
        raw = await self._client.hgetall(self._keys.agents)
        records = {_text(agent_id): value for agent_id, value in raw.items()}
        owners = {str(json.loads(value)["owner"]) for value in records.values()}
        alive = await self._alive(owners)
        now = time.time()
        entries: dict[str, AgentEntry] = {}
        expired: list[str] = []
        for agent_id, value in records.items():
            owner = str(json.loads(value)["owner"])
            entry = AgentEntry.parse(agent_id, value, owner in alive)
            if not entry.alive and now - entry.updated_at > self.grace:
                expired.append(agent_id)
            else:
                entries[agent_id] = entry
        if expired:
            await self._drop_expired(expired)
        return entries

    async def entry(self, agent_id: str) -> AgentEntry | None:
        raw = await self._client.hget(self._keys.agents, agent_id)
        if raw is None:
            return None
        owner = str(json.loads(raw)["owner"])
        entry = AgentEntry.parse(agent_id, raw, bool(owner in await self._alive({owner})))
        if not entry.alive and time.time() - entry.updated_at > self.grace:
            await self._drop_expired([agent_id])
            return None
        return entry

    async def _drop_expired(self, agent_ids: list[str]) -> None:
        """Remove entries whose owner is still dead (a script, so a re-claim is never undone)."""
        cutoff = repr(time.time() - self.grace)
        for agent_id in agent_ids:
            await self._expire(
                keys=[self._keys.agents], args=[agent_id, self._keys.replica_prefix, cutoff]
            )

    async def release(self, agent_id: str) -> None:
        """Drop the agent's entry if it is still this replica's (it was unregistered)."""
        await self._release(keys=[self._keys.agents], args=[agent_id, self.replica_id])

    async def leave(self, owned: list[str], watched: list[str]) -> None:
        """A clean stop: drop this replica's agents (only where still its own) and heartbeat."""
        for agent_id in owned:
            await self.release(agent_id)
        await self.unwatch(watched)
        await self._client.delete(
            self._keys.replica(self.replica_id), self._keys.replies(self.replica_id)
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
