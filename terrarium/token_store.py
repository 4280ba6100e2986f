"""Where semaphore tokens live: SQLite by default (survives restarts), memory when asked.

Both stores keep JSON records only. The SQLite store uses WAL so a human's
answer is durable without stalling the loop on a full sync per write.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Protocol

from terrarium.semaphore import SemaphoreToken


class TokenStore(Protocol):
    def save(self, token: SemaphoreToken) -> None: ...

    def get(self, token_id: str) -> SemaphoreToken | None: ...

    def pending(self, agent_id: str) -> list[SemaphoreToken]: ...

    def close(self) -> None: ...


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
        rows = self._db.execute(
            "SELECT record FROM semaphore_tokens WHERE agent_id = ? AND status = 'pending'"
            " ORDER BY created_at",
            (agent_id,),
        ).fetchall()
        return [SemaphoreToken.from_record(json.loads(row[0])) for row in rows]

    def close(self) -> None:
        self._db.close()
