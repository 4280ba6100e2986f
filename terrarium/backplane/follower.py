"""Followers: local mirrors of agents owned by other replicas.

A replica with observers of a remote agent runs one blocking reader for that
agent (``XREAD BLOCK`` on its event stream) and ingests what it reads into a
local ``HolographicBuffer``, which then fans out exactly as for a local agent.
The mirror's history is loaded from the stream's tail first, so ``?since=``
works on any replica, also one that just started. A follower lingers a while
after its last observer leaves (reconnects are common), then stops reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from terrarium.backplane.keys import Keys
from terrarium.backplane.retry import CONNECTION_ERRORS, Backoff, cancel_and_wait
from terrarium.backplane.streams import START, read_after, tail
from terrarium.mirror import HolographicBuffer

log = logging.getLogger(__name__)

#: Makes a configured mirror for an agent, given what to call when its observer count changes.
MirrorFactory = Callable[[str, Callable[[int], None]], HolographicBuffer]


async def load_history(
    client: Redis, keys: Keys, agent_id: str, mirror: HolographicBuffer, count: int
) -> str:
    """Ingest the stream's newest ``count`` events and take on the stream's epoch, so
    seqs mean the same here as on the owner; returns the stream id to read on from."""
    events = await tail(client, keys.events(agent_id), count)
    for event in events:
        mirror.ingest(event.seq, event.payload)
    epoch = await client.get(keys.epoch(agent_id))
    if epoch is not None:
        mirror.epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
    return events[-1].id if events else START


@dataclass(eq=False)
class Follower:
    agent_id: str
    stream: str
    mirror: HolographicBuffer
    after: str = START
    task: asyncio.Task[None] | None = None
    linger: asyncio.TimerHandle | None = field(default=None, repr=False)


class Followers:
    """One follower per observed remote agent, started on demand, stopped when unwatched."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        make_mirror: MirrorFactory,
        *,
        history_size: int,
        linger: float = 10.0,
        block_ms: int = 2000,
        batch: int = 1000,
    ) -> None:
        self._client = client
        self._keys = keys
        self._make_mirror = make_mirror
        self._history_size = history_size
        self._linger = linger
        self._block_ms = block_ms
        self._batch = batch
        self._followers: dict[str, Follower] = {}
        self._opening: dict[str, asyncio.Future[Follower]] = {}

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._followers

    def mirror(self, agent_id: str) -> HolographicBuffer | None:
        follower = self._followers.get(agent_id)
        return None if follower is None else follower.mirror

    def watched(self) -> list[str]:
        """Remote agents with observers on this replica (their owners keep ticking metabolism)."""
        return [
            agent_id
            for agent_id, follower in self._followers.items()
            if follower.mirror.observer_count
        ]

    async def follow(self, agent_id: str) -> HolographicBuffer:
        """The agent's local mirror, loaded and being fed; started if it was not."""
        follower = self._followers.get(agent_id)
        if follower is None:
            opening = self._opening.get(agent_id)
            if opening is None:
                opening = asyncio.ensure_future(self._open(agent_id))
                self._opening[agent_id] = opening
                opening.add_done_callback(lambda _: self._opening.pop(agent_id, None))
            follower = await asyncio.shield(opening)
        self._arm_linger(follower)
        return follower.mirror

    async def _open(self, agent_id: str) -> Follower:
        mirror = self._make_mirror(agent_id, lambda count: self._observers_changed(agent_id, count))
        after = await load_history(self._client, self._keys, agent_id, mirror, self._history_size)
        follower = Follower(agent_id, self._keys.events(agent_id), mirror, after)
        follower.task = asyncio.get_running_loop().create_task(
            self._read(follower), name=f"terrarium-follow-{agent_id}"
        )
        self._followers[agent_id] = follower
        return follower

    async def _read(self, follower: Follower) -> None:
        backoff = Backoff()
        while True:
            try:
                events = await read_after(
                    self._client,
                    follower.stream,
                    follower.after,
                    block_ms=self._block_ms,
                    count=self._batch,
                )
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium follower of %s: %s; retrying", follower.agent_id, error)
                await backoff.wait()
                continue
            backoff.reset()
            for event in events:
                follower.mirror.ingest(event.seq, event.payload)
            if events:
                follower.after = events[-1].id

    def _observers_changed(self, agent_id: str, count: int) -> None:
        follower = self._followers.get(agent_id)
        if follower is not None and count == 0:
            self._arm_linger(follower)

    def _arm_linger(self, follower: Follower) -> None:
        if follower.linger is not None:
            follower.linger.cancel()
        loop = asyncio.get_running_loop()
        follower.linger = loop.call_later(self._linger, self._maybe_drop, follower)

    def _maybe_drop(self, follower: Follower) -> None:
        follower.linger = None
        if (
            follower.mirror.observer_count == 0
            and self._followers.get(follower.agent_id) is follower
        ):
            del self._followers[follower.agent_id]
            if follower.task is not None:
                follower.task.cancel()

    async def close(self) -> None:
        """Stop every reader; observers are closed by the caller (the gateway is stopping)."""
        followers = list(self._followers.values())
        self._followers.clear()
        for follower in followers:
            if follower.linger is not None:
                follower.linger.cancel()
            follower.mirror.close_all(1001, "gateway stopping")
        await cancel_and_wait(f.task for f in followers if f.task is not None)
