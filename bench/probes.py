"""Bench-only instruments that live inside a server under test.

Every server (Terrarium's launcher and both baselines) carries one
``BenchProbes``: a timer around the call that emits one event (``reflect()``
for Terrarium, the broadcast loop for the baselines), an event-loop lateness
probe, and a stop signal for paced emissions. The harness reads them through
``/bench/stats``, clears them through ``/bench/reset`` and ends a running
emission through ``/bench/stop``, so all three servers are read the same way.
"""

from __future__ import annotations

import asyncio
import os
import time
from array import array
from collections.abc import Callable
from typing import Any, TypeVar

from bench.stats import summarize

F = TypeVar("F", bound=Callable[..., Any])

#: Interval of the loop-lateness probe: a 1 ms timer that records how late it fires.
STALL_INTERVAL = 0.001


class CallTimer:
    """Wall time of each call of one function, in nanoseconds.

    The wrapper adds two ``perf_counter_ns`` calls and an array append (about
    0.1-0.2 µs), paid equally by every server measured.
    """

    def __init__(self) -> None:
        self.samples = array("q")

    def wrap(self, function: F) -> F:
        clock = time.perf_counter_ns
        record = self.samples.append

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            result = function(*args, **kwargs)
            record(clock() - start)
            return result

        return timed  # type: ignore[return-value]

    def reset(self) -> None:
        del self.samples[:]

    def summary(self) -> dict[str, float]:
        """Percentiles in microseconds."""
        return summarize(self.samples, 1e-3)


class StallProbe:
    """How late a 1 ms timer fires: the longest loop iterations, in microseconds.

    asyncio rounds its poll timeout up to the millisecond, so an idle loop
    already shows up to about 1 ms; anything well above that is a stall.
    """

    def __init__(self, interval: float = STALL_INTERVAL) -> None:
        self.interval = interval
        self.samples = array("q")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + self.interval
        self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self.samples.append(int((now - self._due) * 1e6))
        self._due = now + self.interval
        loop.call_at(self._due, self._tick)

    def reset(self) -> None:
        del self.samples[:]

    def summary(self) -> dict[str, float]:
        """Percentiles in milliseconds."""
        return summarize(self.samples, 1e-3)


class StopSignal:
    """Ends the paced emission that is running when ``stop()`` is called, and no later one."""

    def __init__(self) -> None:
        self.generation = 0

    def stop(self) -> None:
        self.generation += 1


class BenchProbes:
    """The instruments of one server process, and their JSON view for ``/bench/stats``."""

    def __init__(self, observers: Callable[[], int]) -> None:
        self.calls = CallTimer()
        self.stall = StallProbe()
        self.stop = StopSignal()
        self._observers = observers

    def start(self) -> None:
        self.stall.start()

    def reset(self) -> dict[str, Any]:
        self.calls.reset()
        self.stall.reset()
        return {"reset": True}

    def stop_emission(self) -> dict[str, Any]:
        self.stop.stop()
        return {"stopped": True}

    def stats(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "observers": self._observers(),
            "emit_us": self.calls.summary(),
            "stall_ms": self.stall.summary(),
        }

    def route(self, name: str) -> dict[str, Any] | None:
        """Answer ``/bench/<name>``; None for an unknown name."""
        if name == "stats":
            return self.stats()
        if name == "reset":
            return self.reset()
        if name == "stop":
            return self.stop_emission()
        return None
