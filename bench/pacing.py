"""Batched reads for the saturation clients, so they measure the server rather than themselves.

An eager client reads every socket as soon as it turns readable: with
hundreds of observers and the server's frames arriving one by one, every
frame costs the client a wake-up, a ``recv_into`` and a header walk, and the
client's core saturates before the server's does. While pacing is on, a
``PacedSelector`` waits ``pace`` seconds before a poll that follows a busy
one (``busy`` or more sockets were ready), so each read then takes every frame
that arrived meanwhile. With few sockets ready at a time it reads eagerly:
eager reads cost the client little there, and they keep the receive queues
short, which matters to the server (a socket with a long receive queue makes
each of the server's sends dearer). The server does the same work either way
(one ``send()`` per write it makes); only the client's cost per frame falls.
Pacing is off outside the saturation windows, where latency is measured.
"""

from __future__ import annotations

import selectors
import time


class PacedSelector(selectors.DefaultSelector):
    """The platform's selector, with a wait before a poll that follows a busy one."""

    #: Seconds to wait before polling again (0: never wait).
    pace = 0.0
    #: A poll is busy when it found at least this many sockets ready.
    busy = 32

    def __init__(self) -> None:
        super().__init__()
        self._ready = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.pace and self._ready >= self.busy:
            time.sleep(self.pace)
            timeout = 0
        ready = super().select(timeout)
        self._ready = len(ready)
        return ready
