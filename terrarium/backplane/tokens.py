"""Semaphore tokens kept in Redis, so every replica sees and answers the same decisions.

The ``TokenStore`` protocol is synchronous and called on the event loop (an
agent ejecting a token, every observer's hello, the REST routes), so on the
loop this store never waits on Redis: it answers from memory, and two tasks on
the loop (``redis.asyncio``) keep that memory and Redis in step.

- Memory holds every token this process saved or was told about, and every
  unsettled token in Redis (pending, or answered with its resume owed:
  ``resuming``). ``save`` puts the token there and queues it; ``get``,
  ``pending`` and ``owed`` read it.
- The writer takes the queue (each token's latest version, in the order of
  those saves) and writes it behind, one transaction per wake-up: the record
  into ``{ns}:tokens``, the agent's index (``ZADD`` while unsettled, ``ZREM``
  once settled), and the token's id published on
  ``{ns}:tokens:changed``. While Redis is away it keeps the queue and tries
  again (``Backoff``). Its client has no socket timeout: a stalled Redis is
  waited for, never timed out and written again on a second connection, where
  the first, stale attempt could land after the retry.
- The watcher subscribes to that channel and rereads the tokens named there.
  Every time the subscription is made (at start, after every reconnect) it
  loads every unsettled token (the indexes) and rereads those still
  unsettled here, so a replica that missed notifications catches up.

A token only moves forward (pending, then resuming, then settled): a version
is never replaced by an earlier one, and a version this process has not
written yet is never replaced by what Redis holds. A token that is neither
unsettled nor known here (an old, settled
token another replica made before this one started) is not in memory:
``fetch`` reads it from Redis without blocking the loop (the REST read path).

Durability window: ``save`` returns before Redis has the token. The agent
carries on and observers are told once the token is in this process's memory;
it reaches Redis at the writer's next wake-up, normally one round trip later;
while Redis is away it is kept, and written in order once Redis answers. A
process killed within that window loses those saves (a pending token, or its
new status after an answer). ``aclose`` writes what is queued for a bounded
time and logs every token it could not. Other replicas see a save once it is
written and they are notified, about a round trip later.

Without a running event loop (a script, a synchronous test) there is no loop
to stall: the store then reads and writes Redis directly, with short socket
timeouts, and falls back to memory while Redis is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aioredis

from terrarium.backplane.keys import Keys
from terrarium.backplane.retry import CONNECTION_ERRORS, Backoff, cancel_and_wait, client_retry
from terrarium.purgatory.tokens import SemaphoreToken

log = logging.getLogger(__name__)

#: Tokens per transaction, and per ``HMGET`` when reloading.
BATCH = 256
#: How far along a status is: a token never goes back (every other status is final).
_STAGE = {"pending": 0, "resuming": 1}


def _stage_of(token: SemaphoreToken) -> int:
    return _STAGE.get(token.status, len(_STAGE))


def changes_channel(keys: Keys) -> str:
    """The channel each written token's id is published on."""
    return f"{keys.namespace}:tokens:changed"


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "\\*?[]" else char for char in text)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(raws: Iterable[Any]) -> list[SemaphoreToken]:
    tokens = []
    for raw in raws:
        if raw is None:
            continue
        try:
            tokens.append(SemaphoreToken.from_record(json.loads(raw)))
        except (ValueError, KeyError, TypeError) as error:
            log.error("Terrarium: skipping a malformed token record in Redis: %s", error)
    return tokens


def _by_creation(tokens: Iterable[SemaphoreToken]) -> list[SemaphoreToken]:
    return sorted(tokens, key=lambda token: token.created_at)


class RedisTokenStore:
    """Tokens in the hash ``{ns}:tokens``, unsettled ones indexed per agent (the
    agent's ``pending_tokens`` key), served from memory."""

    def __init__(
        self,
        url: str,
        keys: Keys | None = None,
        *,
        timeout: float = 1.0,
        close_within: float = 3.0,
    ) -> None:
        self.url = url
        self._keys = keys or Keys()
        #: Seconds for a connection, for a direct call, and for ``fetch``.
        self._timeout = timeout
        #: Seconds ``aclose`` spends writing what is queued.
        self._close_within = close_within
        self.channel = changes_channel(self._keys)
        self._indexes = Keys(_glob_escape(self._keys.namespace)).pending_tokens("*")
        #: Every token this process saved, read or was told about.
        self._tokens: dict[str, SemaphoreToken] = {}
        #: The unsettled ones (pending or resuming), per agent and by id.
        self._unsettled: dict[str, dict[str, SemaphoreToken]] = {}
        #: Saves Redis has not taken yet: each token's latest, in the order of those saves.
        self._unsaved: dict[str, SemaphoreToken] = {}
        self._client: aioredis.Redis | None = None
        self._direct: redis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._drained: asyncio.Event | None = None
        self._loaded: asyncio.Event | None = None
        self._closing: asyncio.Task[None] | None = None
        self._closed = False

    # -- memory -----------------------------------------------------------------------

    def _put(self, token: SemaphoreToken) -> None:
        self._tokens[token.id] = token
        if _stage_of(token) < len(_STAGE):
            self._unsettled.setdefault(token.agent_id, {})[token.id] = token
            return
        waiting = self._unsettled.get(token.agent_id)
        if waiting is not None:
            waiting.pop(token.id, None)
            if not waiting:
                del self._unsettled[token.agent_id]

    def remember(self, token: SemaphoreToken) -> None:
        """Take a version read from Redis or sent back by another replica, unless this
        process knows better: its own unwritten save, or a later stage."""
        if token.id in self._unsaved:
            return
        known = self._tokens.get(token.id)
        if known is not None and _stage_of(token) < _stage_of(known):
            return
        self._put(token)

    def _queue(self, token: SemaphoreToken) -> None:
        self._unsaved.pop(token.id, None)
        self._unsaved[token.id] = token

    def _written(self, batch: list[SemaphoreToken]) -> None:
        for token in batch:
            if self._unsaved.get(token.id) is token:
                del self._unsaved[token.id]
        if not self._unsaved and self._drained is not None:
            self._drained.set()

    def _stage(self, pipe: Any, batch: list[SemaphoreToken]) -> None:
        """Queue the writes of ``batch`` on a pipeline (sync or asyncio: the same calls)."""
        for token in batch:
            pipe.hset(self._keys.tokens, token.id, json.dumps(token.to_record()))
            index = self._keys.pending_tokens(token.agent_id)
            if _stage_of(token) < len(_STAGE):
                pipe.zadd(index, {token.id: token.created_at.timestamp()})
            else:
                pipe.zrem(index, token.id)
        for token in batch:
            pipe.publish(self.channel, token.id)

    def _live(self) -> bool:
        """Answer from memory? Yes once started or closed, and on a running loop
        (starting now); no when no loop runs here, so nothing can stall."""
        if self._tasks or self._closed:
            return True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        self.start()
        return True

    # -- the TokenStore protocol: never waits on Redis on the loop ------------------------

    def save(self, token: SemaphoreToken) -> None:
        self._put(token)
        if self._closed:
            log.warning("Terrarium: token store closed; token %s kept in memory only", token.id)
            return
        self._queue(token)
        if not self._live():
            self._save_directly(token)
            return
        assert self._wake is not None and self._drained is not None
        self._drained.clear()
        self._wake.set()

    def get(self, token_id: str) -> SemaphoreToken | None:
        if self._live():
            return self._tokens.get(token_id)
        return self._get_directly(token_id)

    def pending(self, agent_id: str) -> list[SemaphoreToken]:
        return [token for token in self._unsettled_of(agent_id) if token.pending]

    def owed(self, agent_id: str) -> list[SemaphoreToken]:
        return [token for token in self._unsettled_of(agent_id) if token.owed]

    def _unsettled_of(self, agent_id: str) -> list[SemaphoreToken]:
        if self._live():
            return _by_creation(self._unsettled.get(agent_id, {}).values())
        return self._unsettled_directly(agent_id)

    def close(self) -> None:
        """Stop. On a running loop the flush cannot be waited for here: it runs as a task
        (``await aclose()`` instead to wait for it); with no loop, it is written directly."""
        if self._closed or self._closing is not None:
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and (self._tasks or self._unsaved):
            self.start()
            self._closing = loop.create_task(self.aclose(), name="terrarium-tokens-close")
            return
        self._closed = True
        if self._unsaved and loop is None:
            try:
                self._catch_up_directly()
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium: cannot write token saves to Redis: %s", error)
        self._log_unsaved()
        if self._direct is not None:
            self._direct.close()

    # -- on the loop: start, wait, fetch, close -------------------------------------------

    def start(self) -> None:
        """Start the writer and the watcher on the running loop (once; the bus does it)."""
        if self._tasks or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self._timeout,
            socket_keepalive=True,
            retry=client_retry(),
        )
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._loaded = asyncio.Event()
        if self._unsaved:
            self._wake.set()
        else:
            self._drained.set()
        for work, name in ((self._write_behind(), "writer"), (self._watch(), "watcher")):
            task = loop.create_task(work, name=f"terrarium-tokens-{name}")
            task.add_done_callback(_log_failure)
            self._tasks.append(task)

    async def loaded(self) -> None:
        """Wait until the unsettled tokens in Redis are in memory (the first load)."""
        self.start()
        if self._loaded is not None:
            await self._loaded.wait()

    async def fetch(self, token_id: str) -> SemaphoreToken | None:
        """``get``, reading Redis (bounded by ``timeout``) for a token not in memory."""
        known = self._tokens.get(token_id)
        if known is not None or self._closed:
            return known
        self.start()
        assert self._client is not None
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._client.hget(self._keys.tokens, token_id)
        except CONNECTION_ERRORS as error:
            log.warning("Terrarium: token %s not readable from Redis now: %s", token_id, error)
            return None
        found = _parse([raw])
        if not found:
            return None
        self.remember(found[0])
        return self._tokens.get(token_id, found[0])

    async def aclose(self, within: float | None = None) -> None:
        """Stop: write what is queued for at most ``within`` seconds (``close_within``
        by default; 0 drops it, as a crash would), then log every token not written."""
        if self._closed:
            return
        self._closed = True
        bound = self._close_within if within is None else within
        if self._tasks:
            writer = self._tasks[0]
            if self._unsaved and bound > 0 and not writer.done():
                assert self._wake is not None and self._drained is not None
                self._wake.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(bound):
                        await self._drained.wait()
            await cancel_and_wait(self._tasks)
            self._tasks = []
        self._log_unsaved()
        if self._client is not None:
            await self._client.aclose()
        if self._direct is not None:
            self._direct.close()

    def _log_unsaved(self) -> None:
        if self._unsaved:
            log.error(
                "Terrarium: %d semaphore token saves not confirmed written to Redis, lost: %s",
                len(self._unsaved),
                ", ".join(f"{token.id} ({token.status})" for token in self._unsaved.values()),
            )

    # -- the tasks ------------------------------------------------------------------------

    async def _write_behind(self) -> None:
        """Write the queue in order, a batch per transaction, until it is empty; then sleep."""
        assert self._client is not None and self._wake is not None
        backoff = Backoff(most=2.0)
        trouble = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._unsaved:
                batch = list(itertools.islice(self._unsaved.values(), BATCH))
                try:
                    pipe = self._client.pipeline(transaction=True)
                    self._stage(pipe, batch)
                    await pipe.execute()
                except CONNECTION_ERRORS as error:
                    if not trouble:
                        log.warning(
                            "Terrarium: %d token saves kept in memory until Redis is back: %s",
                            len(self._unsaved),
                            error,
                        )
                    trouble = True
                    await backoff.wait()
                    continue
                except redis.RedisError as error:
                    if not trouble:
                        log.error("Terrarium: Redis refused token saves; retrying: %s", error)
                    trouble = True
                    await backoff.wait()
                    continue
                self._written(batch)
                backoff.reset()
                if trouble:
                    log.info("Terrarium: token saves written to Redis again")
                    trouble = False

    async def _watch(self) -> None:
        """Follow the change channel; on every (re)subscription load all unsettled tokens."""
        assert self._client is not None and self._loaded is not None
        backoff = Backoff(most=2.0)
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # Notifications reach us from here on: load what they may have missed.
                        await self._load_unsettled()
                        self._loaded.set()
                        backoff.reset()
                    elif message["type"] == "message":
                        await self._reload([_text(message["data"])])
            except CONNECTION_ERRORS as error:
                log.warning("Terrarium: token notifications paused, Redis is away: %s", error)
                await backoff.wait()
            except redis.RedisError as error:
                log.error("Terrarium: reading tokens from Redis: %s", error)
                await backoff.wait()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _load_unsettled(self) -> None:
        """Every token in an agent's index, and every one still unsettled here."""
        assert self._client is not None
        ids: set[str] = set()
        async for key in self._client.scan_iter(match=self._indexes, count=500, _type="zset"):
            ids.update(_text(token_id) for token_id in await self._client.zrange(key, 0, -1))
        # Unsettled here but no longer indexed: settled while this replica was not listening.
        ids.update(
            token_id
            for waiting in self._unsettled.values()
            for token_id in waiting
            if token_id not in self._unsaved
        )
        await self._reload(sorted(ids))

    async def _reload(self, token_ids: list[str]) -> None:
        assert self._client is not None
        for start in range(0, len(token_ids), BATCH):
            raws: Any = await self._client.hmget(
                self._keys.tokens, token_ids[start : start + BATCH]
            )
            for token in _parse(raws):
                self.remember(token)

    # -- without a loop: straight to Redis ------------------------------------------------

    def _direct_client(self) -> redis.Redis:
        if self._direct is None:
            self._direct = redis.Redis.from_url(
                self.url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
        return self._direct

    def _catch_up_directly(self) -> None:
        """Write what is queued, oldest first (raises while Redis is away)."""
        while self._unsaved:
            batch = list(itertools.islice(self._unsaved.values(), BATCH))
            pipe = self._direct_client().pipeline(transaction=True)
            self._stage(pipe, batch)
            pipe.execute()
            self._written(batch)

    def _save_directly(self, token: SemaphoreToken) -> None:
        try:
            self._catch_up_directly()
        except CONNECTION_ERRORS as error:
            log.warning(
                "Terrarium: token %s kept in memory until Redis is back: %s", token.id, error
            )

    def _get_directly(self, token_id: str) -> SemaphoreToken | None:
        try:
            self._catch_up_directly()
            raw: Any = self._direct_client().hget(self._keys.tokens, token_id)
        except CONNECTION_ERRORS:
            return self._tokens.get(token_id)
        found = _parse([raw])
        if not found:
            return None
        self._put(found[0])
        return found[0]

    def _unsettled_directly(self, agent_id: str) -> list[SemaphoreToken]:
        try:
            self._catch_up_directly()
            client = self._direct_client()
            ids: Any = client.zrange(self._keys.pending_tokens(agent_id), 0, -1)
            raws: Any = client.hmget(self._keys.tokens, ids) if ids else []
        except CONNECTION_ERRORS:
            return _by_creation(self._unsettled.get(agent_id, {}).values())
        tokens = _parse(raws)
        for token in tokens:
            self._put(token)
        return [token for token in tokens if _stage_of(token) < len(_STAGE)]


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "Terrarium token store task %s failed", task.get_name(), exc_info=task.exception()
        )
