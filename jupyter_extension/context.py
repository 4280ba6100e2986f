"""What every Terrarium handler is given: the registry and the gateway's settings.

Built once by ``TerrariumApp`` and handed to the handlers in the web
application's settings (under ``CONTEXT_SETTING``), so no handler reaches for
a global and none keeps a reference of its own.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tornado.websocket import WebSocketHandler

from jupyter_extension.keepalive import Keepalive
from jupyter_extension.wire import WebSocketObserver
from terrarium.bus import EventBus, LocalBus
from terrarium.protocol import Status
from terrarium.registry import AgentRegistry

AUTH_RESOURCE = "terrarium"
#: The extension's name (``TerrariumApp.name``): its settings and its handlers' ``name``.
EXTENSION_NAME = "terrarium"
#: Where the web application's settings hold the ``TerrariumContext``.
CONTEXT_SETTING = "terrarium_context"
#: Users whose REST rate buckets are kept at once.
REST_BUCKETS = 4096


@dataclass
class TerrariumContext:
    registry: AgentRegistry
    public_observe: bool = True
    max_message_size: int = 1024 * 1024
    perturb_rate_limit: float = 1000.0
    #: Bytes of unsent replies after which a perturb socket is not read until they drain.
    perturb_backlog_bytes: int = 4 * 1024 * 1024
    version: str = "0"
    #: Records an accepted perturbation for audit (a Jupyter Event); set by the app.
    audit: Callable[[dict[str, Any]], None] = field(default=lambda record: None)
    #: Token buckets for REST perturbations, one per user (one for all holders of the token),
    #: the least recently used let go past ``REST_BUCKETS`` users.
    rest_buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)
    #: Where agents this process does not own are found (other replicas); local by default.
    bus: EventBus | None = None
    #: Pings every observe socket from one timer (jupyter_server's ping settings).
    keepalive: Keepalive = field(default_factory=Keepalive)
    #: Each observe socket's observer, kept here rather than on its handler (see
    #: ``ObserveHandler``); an entry goes with its handler, even one never opened.
    observers: weakref.WeakKeyDictionary[WebSocketHandler, WebSocketObserver] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def __post_init__(self) -> None:
        if self.bus is None:
            self.bus = LocalBus(self.registry)

    @property
    def events(self) -> EventBus:
        """The bus, never None once built."""
        assert self.bus is not None
        return self.bus

    def status(self, agent_id: str) -> Status:
        """A local agent's STATUS as this gateway shows it (the bus adds ``owner``)."""
        return self.events.describe(self.registry.status(agent_id))

    def bucket(self) -> TokenBucket:
        return TokenBucket(self.perturb_rate_limit)

    def rest_bucket(self, user: str) -> TokenBucket:
        """The user's bucket. Past ``REST_BUCKETS`` users the least recent one goes: a
        user idle that long has most likely refilled, and a new bucket starts full."""
        buckets = self.rest_buckets
        bucket = buckets.get(user)
        if bucket is None:
            bucket = buckets[user] = self.bucket()
            if len(buckets) > REST_BUCKETS:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(user)
        return bucket


class TokenBucket:
    """``rate`` requests per second with a burst of ``rate``; a rate of 0 never limits."""

    __slots__ = ("_at", "_tokens", "rate")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at = time.monotonic()

    def take(self) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
