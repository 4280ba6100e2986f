"""Choosing the event bus from the app's settings: in-process unless a Redis URL is set.

Redis (and ``terrarium.redis_bus``) is imported only when ``redis_url`` is set,
so the embedded default never loads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from terrarium.bus import EventBus, LocalBus
from terrarium.registry import AgentRegistry
from terrarium.token_store import TokenStore


@dataclass(frozen=True)
class BackplaneConfig:
    """The ``TerrariumApp`` traits that shape the backplane."""

    redis_url: str = ""
    replica_id: str = ""
    namespace: str = "terrarium"
    stream_length: int = 10_000
    stream_bytes: int = 64 * 1024 * 1024
    heartbeat_ttl: float = 5.0
    dead_owner_grace: float = 300.0

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)


def redis_token_store(config: BackplaneConfig) -> TokenStore:
    from terrarium.backplane.keys import Keys
    from terrarium.backplane.tokens import RedisTokenStore

    return RedisTokenStore(config.redis_url, Keys(config.namespace))


def make_bus(config: BackplaneConfig, registry: AgentRegistry, log: logging.Logger) -> EventBus:
    """The bus for these settings; with Redis, the core's log goes where the app's does."""
    if not config.distributed:
        return LocalBus(registry)
    core = logging.getLogger("terrarium")
    if not core.handlers:
        for handler in log.handlers:
            core.addHandler(handler)
        core.setLevel(log.getEffectiveLevel())
        core.propagate = False
    from terrarium.redis_bus import BackplaneSettings, RedisBus

    settings = BackplaneSettings(
        namespace=config.namespace,
        stream_length=config.stream_length,
        stream_bytes=config.stream_bytes,
        heartbeat_interval=max(0.05, min(1.0, config.heartbeat_ttl / 5)),
        heartbeat_ttl=config.heartbeat_ttl,
        dead_owner_grace=config.dead_owner_grace,
    )
    return RedisBus(
        registry, config.redis_url, replica_id=config.replica_id or None, settings=settings
    )
