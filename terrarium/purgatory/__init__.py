"""Purgatory: human-in-the-loop decisions that never block an agent's stream.

An agent hands a human a semaphore token (``tokens``) instead of waiting; the
agent's ``Purgatory`` (``decisions``) holds it until someone resolves or
cancels it, and a token store (``stores``) keeps it across restarts.
"""

from terrarium.purgatory.decisions import NotPending, Purgatory, SemaphoreCancelled, UnknownToken
from terrarium.purgatory.stores import (
    MemoryTokenStore,
    SharedTokenStore,
    SQLiteTokenStore,
    TokenStore,
    fetch_token,
)
from terrarium.purgatory.tokens import ReentryContext, SemaphoreReason, SemaphoreToken, eject

__all__ = [
    "MemoryTokenStore",
    "NotPending",
    "Purgatory",
    "ReentryContext",
    "SQLiteTokenStore",
    "SemaphoreCancelled",
    "SemaphoreReason",
    "SemaphoreToken",
    "SharedTokenStore",
    "TokenStore",
    "UnknownToken",
    "eject",
    "fetch_token",
]
