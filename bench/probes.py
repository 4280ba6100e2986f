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
import gc
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


class GcProbe:
    """How long each garbage collection paused the process, in microseconds.

    A collection stops the loop like any long callback does; telling the two
    apart attributes a stall to the heap rather than to the fan-out.
    """

    def __init__(self) -> None:
        self.samples = array("q")
        self.full = 0
        self._started = 0

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
            return
        self.samples.append((time.perf_counter_ns() - self._started) // 1000)
        if info.get("generation") == 2:
            self.full += 1

    def reset(self) -> None:
        del self.samples[:]
        self.full = 0

    def summary(self) -> dict[str, float]:
        """Percentiles in milliseconds, and how many were full (generation 2) collections."""
        return {**summarize(self.samples, 1e-3), "full": self.full}


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
        self.gc = GcProbe()
        self.stop = StopSignal()
        self._observers = observers

    def start(self) -> None:
        self.stall.start()
        self.gc.start()

    def reset(self) -> dict[str, Any]:
        self.calls.reset()
        self.stall.reset()
        self.gc.reset()
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
            "gc_ms": self.gc.summary(),
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
