"""Semaphore tokens kept in Redis, so every replica sees and answers the same decisions.

The ``TokenStore`` protocol is synchronous and called on the event loop; that
is acceptable here because tokens move at human pace (one ejection, one
answer), never per event. Records are the same JSON as in SQLite. Short
socket timeouts keep a missing Redis from stalling the loop: while Redis is
away, the tokens this process saw are served from memory and its writes are
replayed, in order, on the next call that reaches Redis.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from terrarium.backplane.keys import Keys
from terrarium.backplane.retry import CONNECTION_ERRORS
from terrarium.semaphore import SemaphoreToken

log = logging.getLogger(__name__)


class RedisTokenStore:
    """Tokens in the hash ``{ns}:tokens``, pending ones indexed per agent."""

    def __init__(self, url: str, keys: Keys | None = None, *, timeout: float = 1.0) -> None:
        self._keys = keys or Keys()
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        #: What this process saved or read, for answers while Redis is away.
        self._seen: dict[str, SemaphoreToken] = {}
        #: Saves Redis has not taken yet, oldest first.
        self._unsaved: dict[str, SemaphoreToken] = {}

    def _write(self, token: SemaphoreToken) -> None:
        pipe = self._client.pipeline(transaction=True)
        record = token.to_record()
        pipe.hset(self._keys.tokens, token.id, json.dumps(record))
        index = self._keys.pending_tokens(token.agent_id)
        if token.pending:
            pipe.zadd(index, {token.id: token.created_at.timestamp()})
        else:
            pipe.zrem(index, token.id)
        pipe.execute()

    def _catch_up(self) -> None:
        """Replay saves that failed while Redis was away (raises if it still is)."""
        while self._unsaved:
            token_id, token = next(iter(self._unsaved.items()))
            self._write(token)
            del self._unsaved[token_id]

    def save(self, token: SemaphoreToken) -> None:
        self._seen[token.id] = token
        self._unsaved.pop(token.id, None)
        self._unsaved[token.id] = token
        try:
            self._catch_up()
        except CONNECTION_ERRORS as error:
            log.warning(
                "Terrarium: token %s kept in memory until Redis is back: %s", token.id, error
            )

    def get(self, token_id: str) -> SemaphoreToken | None:
        try:
            self._catch_up()
            raw: Any = self._client.hget(self._keys.tokens, token_id)
        except CONNECTION_ERRORS:
            return self._seen.get(token_id)
        if raw is None:
            return None
        token = SemaphoreToken.from_record(json.loads(raw))
        self._seen[token.id] = token
        return token

    def pending(self, agent_id: str) -> list[SemaphoreToken]:
        try:
            self._catch_up()
            ids: Any = self._client.zrange(self._keys.pending_tokens(agent_id), 0, -1)
            raws: Any = self._client.hmget(self._keys.tokens, ids) if ids else []
        except CONNECTION_ERRORS:
            seen = [t for t in self._seen.values() if t.agent_id == agent_id and t.pending]
            return sorted(seen, key=lambda token: token.created_at)
        tokens = [SemaphoreToken.from_record(json.loads(raw)) for raw in raws if raw is not None]
        tokens = [token for token in tokens if token.pending]
        self._seen.update((token.id, token) for token in tokens)
        return tokens

    def close(self) -> None:
        try:
            self._catch_up()
        except CONNECTION_ERRORS as error:
            log.warning(
                "Terrarium: %d token saves lost with Redis away: %s", len(self._unsaved), error
            )
        self._client.close()
