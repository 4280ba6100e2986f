"""Events per second over a sliding window, for the live stats of a pipeline edge.

Counts go into small time buckets, so reading the rate is cheap and memory is
bounded by ``window / resolution`` buckets whatever the traffic.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateWindow:
    """Events per second over the last ``window`` seconds.

    The rate divides by the time the window really covers, but never by less
    than ``min_span`` (half the window, as agents' flow is measured): an edge
    that delivered one item in its first second reads 0.4 per second, not one,
    and ten items in its first millisecond read four per second, not ten
    thousand.
    """

    def __init__(
        self,
        window: float = 5.0,
        *,
        min_span: float = 2.5,
        resolution: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0 or min_span <= 0 or resolution <= 0:
            raise ValueError("window, min_span and resolution must be positive")
        self.window = window
        self.min_span = min(min_span, window)
        self.resolution = resolution
        self._clock = clock
        self._started = clock()
        #: (bucket start, events in it), oldest first; all start within the window.
        self._buckets: deque[tuple[float, int]] = deque()
        self._in_window = 0

    def add(self, count: int = 1) -> None:
        now = self._clock()
        buckets = self._buckets
        if buckets and now - buckets[-1][0] < self.resolution:
            start, events = buckets[-1]
            buckets[-1] = (start, events + count)
        else:
            buckets.append((now, count))
        self._in_window += count
        self._expire(now)

    def rate(self) -> float:
        now = self._clock()
        self._expire(now)
        span = min(self.window, now - self._started)
        return self._in_window / max(self.min_span, span)

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        buckets = self._buckets
        while buckets and buckets[0][0] < horizon:
            self._in_window -= buckets.popleft()[1]
