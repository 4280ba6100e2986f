"""One timer that pings every observe socket, instead of timers per connection.

jupyter_server's ``WebSocketMixin`` gives each connection a ``PeriodicCallback``
for pings, and Tornado, reading the same ``ping_interval``, starts a ping task
of its own: together about 2 KiB per connection. The Reflection is built for
thousands of idle observers, so its sockets opt out of both and are pinged by
one sweep with jupyter_server's settings and semantics: every
``ws_ping_interval`` each socket gets a ping, and one that has not answered
within ``ws_ping_timeout`` is closed.
"""

from __future__ import annotations

from typing import Protocol

from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.websocket import WebSocketClosedError

#: jupyter_server's defaults (``jupyter_server.base.websocket``), in milliseconds.
PING_INTERVAL_MS = 30_000


class Pingable(Protocol):
    def ping(self, data: bytes = b"") -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Keepalive:
    """Pings every registered socket each ``interval_ms``; closes the ones that stay silent."""

    def __init__(self, interval_ms: float = PING_INTERVAL_MS, timeout_ms: float | None = None):
        self.interval_ms = interval_ms
        self.timeout_ms = timeout_ms if timeout_ms is not None else max(3 * interval_ms, 30_000)
        #: Each socket's last sign of life (a pong, or its opening), in loop time.
        self._heard: dict[Pingable, float] = {}
        self._timer: PeriodicCallback | None = None

    @property
    def enabled(self) -> bool:
        return self.interval_ms > 0

    def __len__(self) -> int:
        return len(self._heard)

    def add(self, socket: Pingable) -> None:
        if not self.enabled:
            return
        self._heard[socket] = IOLoop.current().time()
        if self._timer is None:
            self._timer = PeriodicCallback(self.sweep, self.interval_ms)
            self._timer.start()

    def discard(self, socket: Pingable) -> None:
        self._heard.pop(socket, None)

    def pong(self, socket: Pingable) -> None:
        if socket in self._heard:
            self._heard[socket] = IOLoop.current().time()

    def sweep(self) -> None:
        """Close the sockets silent for longer than the timeout; ping the others."""
        now = IOLoop.current().time()
        timeout = self.timeout_ms / 1000
        for socket, heard in list(self._heard.items()):
            if now - heard > timeout:
                self.discard(socket)
                socket.close(1001, "no pong within the ping timeout")
                continue
            try:
                socket.ping()
            except WebSocketClosedError:
                self.discard(socket)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._heard.clear()
