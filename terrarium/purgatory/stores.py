"""Where semaphore tokens live: SQLite by default (survives restarts), memory when asked.

Both stores keep JSON records only. The SQLite store uses WAL so a human's
answer is durable without stalling the loop on a full sync per write. A store
shared by several processes (``SharedTokenStore``: Redis) answers the same
synchronous calls from memory and talks to its backend in tasks on the loop.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Protocol, runtime_checkable

from terrarium.purgatory.tokens import SemaphoreToken


class TokenStore(Protocol):
    def save(self, token: SemaphoreToken) -> None: ...

    def get(self, token_id: str) -> SemaphoreToken | None: ...

    def pending(self, agent_id: str) -> list[SemaphoreToken]: ...

    def owed(self, agent_id: str) -> list[SemaphoreToken]:
        """The agent's answered tokens whose ``resume`` has not run (``resuming``)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SharedTokenStore(TokenStore, Protocol):
    """A store several processes share (``RedisTokenStore``), never waiting on its backend
    in the calls above: it answers from memory, and tasks on the event loop write saves
    behind and keep that memory fresh. Whoever runs the loop (the bus) starts it, waits
    for ``loaded()`` before starting agents (they restore their pending tokens from it),
    and ends with ``aclose()``."""

    def start(self) -> None: ...

    async def loaded(self) -> None: ...

    def remember(self, token: SemaphoreToken) -> None:
        """A version another process holds (sent back with an answer): keep it if newer."""
        ...

    async def fetch(self, token_id: str) -> SemaphoreToken | None:
        """``get``, reaching the backend for a token not in memory."""
        ...

    async def aclose(self, within: float | None = None) -> None: ...


async def fetch_token(store: TokenStore, token_id: str) -> SemaphoreToken | None:
    """The token, from a shared store's backend if it is not in memory (off the loop)."""
    if isinstance(store, SharedTokenStore):
        return await store.fetch(token_id)
    return store.get(token_id)


class MemoryTokenStore:
    """Tokens in a dict: for tests, notebooks and servers that need no persistence."""

    def __init__(self) -> None:
        self._tokens: dict[str, SemaphoreToken] = {}

    def save(self, token: SemaphoreToken) -> None:
        self._tokens[token.id] = token

    def get(self, token_id: str) -> SemaphoreToken | None:
        return self._tokens.get(token_id)

    def pending(self, agent_id: str) -> list[SemaphoreToken]:
        tokens = [t for t in self._tokens.values() if t.agent_id == agent_id and t.pending]
        return sorted(tokens, key=lambda token: token.created_at)

    def owed(self, agent_id: str) -> list[SemaphoreToken]:
        tokens = [t for t in self._tokens.values() if t.agent_id == agent_id and t.owed]
        return sorted(tokens, key=lambda token: token.created_at)

    def close(self) -> None:
        self._tokens.clear()


class SQLiteTokenStore:
    """Tokens in one SQLite file, one row each, the record as JSON."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS semaphore_tokens (
                id TEXT PRIMARY KEY,
                agent_id TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at TEXT NOT NULL,
                record TEXT NOT NULL
            )"""
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS semaphore_tokens_pending"
            " ON semaphore_tokens (agent_id, status, created_at)"
        )

    def save(self, token: SemaphoreToken) -> None:
        record = token.to_record()
        self._db.execute(
            "INSERT OR REPLACE INTO semaphore_tokens (id, agent_id, status, created_at, record)"
            " VALUES (?, ?, ?, ?, ?)",
            (token.id, token.agent_id, token.status, record["created_at"], json.dumps(record)),
        )

    def get(self, token_id: str) -> SemaphoreToken | None:
        row = self._db.execute(
            "SELECT record FROM semaphore_tokens WHERE id = ?", (token_id,)
        ).fetchone()
        return None if row is None else SemaphoreToken.from_record(json.loads(row[0]))

    def pending(self, agent_id: str) -> list[SemaphoreToken]:
        return self._with_status(agent_id, "pending")

    def owed(self, agent_id: str) -> list[SemaphoreToken]:
        return self._with_status(agent_id, "resuming")

    def _with_status(self, agent_id: str, status: str) -> list[SemaphoreToken]:
        rows = self._db.execute(
            "SELECT record FROM semaphore_tokens WHERE agent_id = ? AND status = ?"
            " ORDER BY created_at",
            (agent_id, status),
        ).fetchall()
        return [SemaphoreToken.from_record(json.loads(row[0])) for row in rows]

    def close(self) -> None:
        self._db.close()
