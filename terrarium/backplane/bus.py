"""``RedisBus``: many gateway replicas sharing agents through Redis Streams.

Each agent runs in exactly one process, its owner. The owner's mirror taps
every event into the agent's event stream (``{ns}:agent:{id}:events``;
``XADD ... MAXLEN ~`` entries ``{seq, payload}``, the events of one loop
iteration newline-joined, one pipeline per iteration), so seqs and bytes
are the same on every replica. Any replica with observers of a remote
agent follows that stream into a local mirror and fans out from there.
Perturbations and Purgatory answers for a remote agent are routed to its
owner through the agent's command stream and answered on the caller's reply
stream. The directory (a hash of agents and a
heartbeat key per replica) lists every agent everywhere, and marks those of a
dead owner unavailable. Semaphore tokens live in Redis (``RedisTokenStore``,
whose tasks the bus starts and closes).

The pieces are in ``terrarium.backplane``; this module wires them to an
``AgentRegistry`` and answers the gateway's questions (the ``EventBus`` protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from terrarium.backplane.availability import AVAILABLE, UNAVAILABLE, Vigil, ends_unavailable
from terrarium.backplane.directory import AgentEntry, Directory, entry_record
from terrarium.backplane.follower import Followers, load_history
from terrarium.backplane.keys import Keys
from terrarium.backplane.owner import CommandServer
from terrarium.backplane.retry import CONNECTION_ERRORS, Backoff, cancel_and_wait, client_retry
from terrarium.backplane.router import Router
from terrarium.backplane.settings import BackplaneSettings
from terrarium.backplane.writer import Limits, StreamWriter
from terrarium.errors import AgentUnavailable
from terrarium.flux import Ejected, FluxAgent
from terrarium.mirror import HolographicBuffer, Replay, new_epoch
from terrarium.perturbation import Perturbation
from terrarium.protocol import Status
from terrarium.purgatory.decisions import UnknownToken
from terrarium.purgatory.stores import SharedTokenStore, fetch_token
from terrarium.purgatory.tokens import SemaphoreToken
from terrarium.registry import AgentRegistry
from terrarium.served import ServedAgent, Submitted

log = logging.getLogger(__name__)


def default_replica_id() -> str:
    """Unique per process: a restarted replica is a new one that claims its agents again."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(eq=False)
class _Owned:
    agent: FluxAgent
    server: asyncio.Task[None]


class RedisBus:
    """The distributed ``EventBus`` and the registry's ``Membership``."""

    def __init__(
        self,
        registry: AgentRegistry,
        url: str,
        *,
        replica_id: str | None = None,
        settings: BackplaneSettings | None = None,
    ) -> None:
        self.registry = registry
        self.url = url
        self.replica_id: str | None = replica_id or default_replica_id()
        self.settings = settings or BackplaneSettings()
        self.keys = Keys(self.settings.namespace)
        self._me = self.replica_id
        self._client: Redis | None = None
        self._writer: StreamWriter | None = None
        self._directory: Directory | None = None
        self._router: Router | None = None
        self._followers: Followers | None = None
        self._vigil: Vigil | None = None
        self._waiting: list[tuple[FluxAgent, Callable[[], None] | None]] = []
        self._owned: dict[str, _Owned] = {}
        self._remote: dict[str, AgentEntry] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready: asyncio.Future[None] | None = None
        self._joined = False
        self._running = False
        registry.membership = self

    # -- the parts, once started ---------------------------------------------------

    @property
    def client(self) -> Redis:
        assert self._client is not None, "the bus is not started"
        return self._client

    @property
    def router(self) -> Router:
        assert self._router is not None, "the bus is not started"
        return self._router

    @property
    def followers(self) -> Followers:
        assert self._followers is not None, "the bus is not started"
        return self._followers

    @property
    def directory(self) -> Directory:
        assert self._directory is not None, "the bus is not started"
        return self._directory

    @property
    def shared_tokens(self) -> SharedTokenStore | None:
        """The registry's token store when it is shared (Redis): the bus runs its tasks."""
        store = self.registry.token_store
        return store if isinstance(store, SharedTokenStore) else None

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, then claim and start the registered agents.

        Waits up to ``startup_wait`` for Redis; if it is not there yet, the
        replica carries on and its agents start once Redis answers.
        """
        s = self.settings
        # A burst (hundreds of routed perturbations, a crowd of observers) waits for a
        # pooled connection rather than being refused: redis-py's default pool raises
        # at once past its limit, which would read as "Redis unreachable". Each owned
        # and each followed agent holds one connection in a blocking read.
        pool = BlockingConnectionPool.from_url(
            self.url,
            max_connections=s.max_connections,
            timeout=s.route_timeout,
            retry=client_retry(),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self._client = Redis.from_pool(pool)  # the client owns it: aclose() closes it
        self._writer = StreamWriter(self._client, Limits(s.stream_length, s.stream_bytes))
        self._directory = Directory(
            self._client,
            self.keys,
            self._me,
            ttl=s.heartbeat_ttl,
            grace=s.dead_owner_grace,
        )
        self._router = Router(self._client, self.keys, self._me, trip=s.route_trip)
        self._vigil = Vigil(self._client, self.keys, maxlen=s.stream_length)
        self._followers = Followers(
            self._client,
            self.keys,
            self._follower_mirror,
            history_size=self.registry.settings.history_size,
            linger=s.follower_linger,
        )
        self._running = True
        self._ready = asyncio.get_running_loop().create_future()
        if self.shared_tokens is not None:
            self.shared_tokens.start()  # its writer and watcher, on this loop
        self._spawn(self._connect(), "terrarium-bus-connect")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), s.startup_wait)
        except TimeoutError:
            log.warning(
                "Terrarium: Redis at %s is not answering yet; agents start once it does", self.url
            )

    async def _connect(self) -> None:
        backoff = Backoff(most=2.0)
        while True:
            try:
                await self.client.ping()
                await self.directory.beat({}, [], [])
                await self.router.prepare()
                break
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium: waiting for Redis at %s: %s", self.url, error)
                await backoff.wait()
        if self.shared_tokens is not None:
            await self.shared_tokens.loaded()  # agents restore their pending tokens from it
        assert self._writer is not None
        self._spawn(self._writer.run(), "terrarium-bus-writer")
        self._spawn(self.router.run(), "terrarium-bus-replies")
        self._spawn(self._heartbeat(), "terrarium-bus-heartbeat")
        # From here on, agents registered meanwhile are adopted at once, not queued.
        self._joined = True
        waiting, self._waiting = self._waiting, []
        await asyncio.gather(*(self._adopt(agent, start) for agent, start in waiting))
        log.info("Terrarium replica %s joined the backplane at %s", self._me, self.url)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def close(self) -> None:
        """Leave cleanly: flush what is owed, drop this replica's entries, stop every task."""
        if not self._running:
            return
        self._running = False
        self.router.close()
        await self.followers.close()
        pending = [task for task in self._tasks if task.get_name().startswith("terrarium-release")]
        for owned in self._owned.values():
            owned.server.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3.0):
                if pending:
                    await asyncio.gather(*pending, return_exceptions=True)
                assert self._writer is not None
                await self._writer.flush()
                await self.directory.leave(list(self._owned), self.followers.watched())
        if self.shared_tokens is not None:
            await self.shared_tokens.aclose()  # writes its queued saves (bounded), logs the rest
        await cancel_and_wait(list(self._tasks))
        await self.client.aclose()

    async def abandon(self) -> None:
        """Drop off the backplane without a word, as a crashed process would.

        Nothing is flushed, acknowledged or removed: the other replicas find
        out only when this one's heartbeat expires. For failure drills and tests.
        """
        self._running = False
        if self.shared_tokens is not None:
            await self.shared_tokens.aclose(within=0)  # unwritten token saves die with it
        await cancel_and_wait(list(self._tasks))
        await self.client.aclose()

    # -- membership: this replica's own agents -----------------------------------------

    def adopt(self, agent: FluxAgent, start: Callable[[], None] | None) -> None:
        """Claim the agent, reload its history (so seqs carry on), then start it."""
        if self._joined:
            self._spawn(self._adopt(agent, start), f"terrarium-adopt-{agent.id}")
        else:
            self._waiting.append((agent, start))

    async def _adopt(self, agent: FluxAgent, start: Callable[[], None] | None) -> None:
        """Claim, reload, start. While another live replica serves the agent, wait:
        this replica is its standby and takes over once that one's heartbeat expires."""
        backoff = Backoff(most=2.0)
        stream = self.keys.events(agent.id)
        told = False
        while True:
            try:
                other = await self.directory.claim(agent.id, self._record(agent))
                if other is None:
                    await self._reload(agent)
                    break
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium: cannot claim %s yet: %s", agent.id, error)
                await backoff.wait()
                continue
            if not told:
                log.warning(
                    "Terrarium: agent %r is served by replica %s; standing by until it stops",
                    agent.id,
                    other,
                )
                told = True
            await asyncio.sleep(self.settings.heartbeat_interval)
        assert self._writer is not None
        agent.mirror.tap = self._writer.tap(stream)
        if _ends_unavailable(agent.mirror):
            # Its observers were told the last owner died; tell them it is served again.
            agent.mirror.reflect("state", {"state": AVAILABLE, "previous": UNAVAILABLE})
        server = CommandServer(self.client, self.keys, agent, self._me, self._writer)
        self._owned[agent.id] = _Owned(
            agent, self._spawn(server.run(), f"terrarium-commands-{agent.id}")
        )
        if start is not None:
            start()
        # List it as it is now (flowing), not as it was when claimed; the heartbeat keeps it so.
        with contextlib.suppress(*CONNECTION_ERRORS):
            await self.client.hset(self.keys.agents, agent.id, self._record(agent))

    async def _reload(self, agent: FluxAgent) -> None:
        """Carry on the agent's stream: its kept history and its epoch. A stream with
        nothing kept starts afresh, in the mirror's own new epoch, which is recorded."""
        mirror = agent.mirror
        await load_history(
            self.client, self.keys, agent.id, mirror, self.registry.settings.history_size
        )
        assert self._writer is not None
        await self._writer.adopt(self.keys.events(agent.id))
        if mirror.last_seq == 0:
            mirror.epoch = new_epoch()
        await self.client.set(self.keys.epoch(agent.id), mirror.epoch)

    def release(self, agent_id: str) -> None:
        """The agent was unregistered: publish its last events, then drop its entry."""
        owned = self._owned.pop(agent_id, None)
        if owned is None:
            return
        owned.server.cancel()
        self._spawn(self._release(agent_id), f"terrarium-release-{agent_id}")

    async def _release(self, agent_id: str) -> None:
        assert self._writer is not None
        await self._writer.flush()
        if agent_id in self.registry:
            return  # registered again meanwhile: the new agent owns the stream and the entry
        self._writer.forget(self.keys.events(agent_id))
        await self.directory.release(agent_id)

    def _record(self, agent: FluxAgent) -> str:
        return entry_record(
            self._me, self.registry.status(agent.id), agent.config.perturbation_timeout
        )

    async def _heartbeat(self) -> None:
        """Every ``heartbeat_interval``: stay alive, publish statuses, trade watcher claims.

        While Redis is away it tries again within a quarter of a second, and the
        first beat that gets through is followed by another as soon: every replica
        is then alive again, and has seen the others alive, within about half a
        second of Redis' return, instead of up to two intervals.
        """
        backoff = Backoff(most=min(0.25, self.settings.heartbeat_interval))
        while True:
            owned = {
                agent_id: self._record(owned.agent)
                for agent_id, owned in self._owned.items()
                if agent_id in self.registry
            }
            known = list(self._remote)
            try:
                elsewhere, entries = await self.directory.beat(
                    owned, self.followers.watched(), known
                )
            except CONNECTION_ERRORS as error:
                if not backoff.failures:
                    log.warning("Terrarium heartbeat: %s", error)
                await backoff.wait()
                continue
            for agent_id, watched in elsewhere.items():
                self.registry.watched_elsewhere(agent_id, watched)
            for agent_id in known:
                if agent_id not in entries and agent_id not in self.followers:
                    self._remote.pop(agent_id, None)
            self._remote.update(entries)
            await self._say_who_died(entries)
            if backoff.failures:
                backoff.reset()
                await asyncio.sleep(min(0.25, self.settings.heartbeat_interval))
                continue
            await asyncio.sleep(self.settings.heartbeat_interval)

    async def _say_who_died(self, entries: dict[str, AgentEntry]) -> None:
        """Observers here of an agent whose owner died are told so on its stream (once)."""
        assert self._vigil is not None
        for agent_id, entry in entries.items():
            if entry.alive or agent_id not in self.followers:
                continue
            previous = str(entry.status.get("state", "flowing"))
            try:
                if await self._vigil.owner_died(agent_id, entry.owner, previous):
                    log.warning(
                        "Terrarium: the owner %s of %r is gone; its observers are told",
                        entry.owner,
                        agent_id,
                    )
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium: cannot mark %r unavailable yet: %s", agent_id, error)

    # -- the gateway's questions ---------------------------------------------------------

    def describe(self, status: Status) -> Status:
        return {**status, "owner": self._me, "available": True}

    async def statuses(self) -> list[Status]:
        listed = [self.describe(self.registry.status(agent.id)) for agent in self.registry]
        try:
            entries = await self.directory.entries()
        except CONNECTION_ERRORS as error:
            log.warning("Terrarium: listing remote agents from cache: %s", error)
            entries = dict(self._remote)
        for agent_id, entry in sorted(entries.items()):
            if agent_id in self.registry or entry.owner == self._me:
                continue
            self._remote[agent_id] = entry
            listed.append(cast(Status, entry.listing()))
        return listed

    def latest(self, entry: AgentEntry) -> AgentEntry:
        return self._remote.get(entry.agent_id, entry)

    async def remote(self, agent_id: str) -> ServedAgent | None:
        try:
            entry = await self.directory.entry(agent_id)
        except CONNECTION_ERRORS:
            entry = self._remote.get(agent_id)
        if entry is None or entry.owner == self._me:
            self._remote.pop(agent_id, None)
            return None
        self._remote[agent_id] = entry
        return _RemoteAgent(self, entry)

    # -- followers ------------------------------------------------------------------------

    def _follower_mirror(
        self, agent_id: str, on_observers_changed: Callable[[int], None]
    ) -> HolographicBuffer:
        s = self.registry.settings
        mirror: HolographicBuffer

        def snapshot() -> dict[str, Any]:
            entry = self._remote.get(agent_id)
            status: dict[str, Any] = entry.listing() if entry is not None else {"id": agent_id}
            status["seq"] = mirror.last_seq
            status["pending"] = [
                token.as_protocol() for token in self.registry.token_store.pending(agent_id)
            ]
            return status

        mirror = HolographicBuffer(
            agent_id,
            history_size=s.history_size,
            observer_queue_size=s.observer_queue_size,
            slow_observer_policy=s.slow_observer_policy,
            max_bytes=s.max_bytes,
            framing=s.framing,
            snapshot=snapshot,
            on_observers_changed=on_observers_changed,
        )
        return mirror

    async def replay(
        self, agent_id: str, since: int | None, limit: int | None, epoch: str | None = None
    ) -> Replay:
        """Kept history of a remote agent: from its follower, or straight from the stream."""
        mirror = self.followers.mirror(agent_id)
        if mirror is None:
            mirror = self._follower_mirror(agent_id, lambda count: None)
            await load_history(
                self.client, self.keys, agent_id, mirror, self.registry.settings.history_size
            )
        return mirror.replay(since, limit, epoch)


class _RemoteAgent:
    """An agent owned by another replica, reached through the bus (a ``ServedAgent``)."""

    local = False

    def __init__(self, bus: RedisBus, entry: AgentEntry) -> None:
        self._bus = bus
        self._first = entry

    @property
    def _entry(self) -> AgentEntry:
        """The latest the directory said (refreshed every heartbeat), so a handler that
        holds this object for long (a perturb socket) sees the owner die."""
        return self._bus.latest(self._first)

    @property
    def id(self) -> str:
        return self._entry.agent_id

    @property
    def owner(self) -> str:
        return self._entry.owner

    @property
    def available(self) -> bool:
        return self._entry.alive

    def status(self) -> Status:
        return cast(Status, self._entry.listing())

    async def mirror(self) -> HolographicBuffer:
        return await self._bus.followers.follow(self.id)

    async def replay(
        self, since: int | None, limit: int | None, epoch: str | None = None
    ) -> Replay:
        return await self._bus.replay(self.id, since, limit, epoch)

    def _refuse_if_gone(self) -> None:
        if not self.available:
            raise AgentUnavailable(f"agent {self.id}'s owner {self.owner} stopped answering")

    def perturb(
        self, data: Any, *, priority: int, timeout: float | None, by: str | None
    ) -> Submitted:
        self._refuse_if_gone()
        # Checked here, so a bad request is refused before it travels to the owner.
        priority = Perturbation.check_priority(priority)
        timeout = Perturbation.check_timeout(timeout)
        routed = self._bus.router.perturb(
            self.id,
            data,
            priority=priority,
            timeout=timeout,
            by=by,
            default_timeout=self._entry.perturbation_timeout,
        )
        routed.future.add_done_callback(self._remember_ejected)
        return routed

    def _remember(self, token: SemaphoreToken) -> None:
        """Keep a token the owner sent back, so reads here show it before Redis tells."""
        store = self._bus.shared_tokens
        if store is not None:
            store.remember(token)

    def _remember_ejected(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            output = future.result()
            if isinstance(output, Ejected):
                self._remember(output.token)

    async def resolve(self, token_id: str, human_input: Any, by: str | None) -> SemaphoreToken:
        self._refuse_if_gone()
        body = {"token_id": token_id, "human_input": human_input, "by": by}
        token: SemaphoreToken = await self._bus.router.request(
            self.id, "resolve", body, self._bus.settings.route_timeout
        )
        self._remember(token)
        return token

    async def cancel(self, token_id: str) -> SemaphoreToken:
        self._refuse_if_gone()
        token: SemaphoreToken = await self._bus.router.request(
            self.id, "cancel", {"token_id": token_id}, self._bus.settings.route_timeout
        )
        self._remember(token)
        return token

    def pending(self) -> list[SemaphoreToken]:
        """From the shared store's memory, kept fresh from Redis: no round trip."""
        return self._bus.registry.token_store.pending(self.id)

    async def token(self, token_id: str) -> SemaphoreToken:
        """From memory, or read from Redis (an old, settled token made elsewhere)."""
        token = await fetch_token(self._bus.registry.token_store, token_id)
        if token is None or token.agent_id != self.id:
            raise UnknownToken(f"no token {token_id!r} for agent {self.id!r}")
        return token


def _ends_unavailable(mirror: HolographicBuffer) -> bool:
    """Whether the newest event the mirror reloaded is a dead owner's ``unavailable``."""
    newest = mirror.replay(max(mirror.last_seq - 1, 0)).payloads
    return bool(newest) and ends_unavailable(newest[-1])


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Terrarium backplane task %s failed", task.get_name(), exc_info=task.exception())
