"""Choosing the event bus from the app's settings: in-process unless a Redis URL is set.

Redis (and ``terrarium.backplane.bus``) is imported only when ``redis_url`` is set,
so the embedded default never loads it.
"""

from __future__ import annotations

import logging

from terrarium.backplane.settings import BackplaneSettings
from terrarium.bus import EventBus, LocalBus
from terrarium.purgatory.stores import TokenStore
from terrarium.registry import AgentRegistry


def redis_token_store(config: BackplaneSettings) -> TokenStore:
    from terrarium.backplane.keys import Keys
    from terrarium.backplane.tokens import RedisTokenStore

    return RedisTokenStore(config.redis_url, Keys(config.namespace))


def make_bus(config: BackplaneSettings, registry: AgentRegistry, log: logging.Logger) -> EventBus:
    """The bus for these settings; with Redis, the core's log goes where the app's does."""
    if not config.distributed:
        return LocalBus(registry)
    core = logging.getLogger("terrarium")
    if not core.handlers:
        for handler in log.handlers:
            core.addHandler(handler)
        core.setLevel(log.getEffectiveLevel())
        core.propagate = False
    from terrarium.backplane.bus import RedisBus

    return RedisBus(
        registry, config.redis_url, replica_id=config.replica_id or None, settings=config
    )
