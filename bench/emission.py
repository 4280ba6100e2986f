"""How a server under test emits K events: the one emission loop every server shares.

The protocol's firehose (PROTOCOL.md section 6) reflects K events and yields
to the loop every 64. The scenarios need two more shapes, so a bench request
may carry two optional fields that only the bench servers understand:

- ``burst``: events per loop iteration (1 = one event, then a yield; 16 = bursts of 16);
- ``rate``: events per second, paced by the server's clock (catching up in
  a burst of at most 16 when the loop was late; a server too slow for the
  rate emits what it can), for latency and streaming scenarios.

A request without either field is the protocol's own ``{"events": K, "bytes": B}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.probes import StopSignal

#: The firehose's own rhythm: a yield to the loop after every 64 events.
FIREHOSE_BURST = 64
#: Most events a paced emission catches up with in one loop iteration. A server
#: that cannot keep the rate falls behind instead of never yielding again.
MAX_CATCH_UP = 16
MAX_EVENTS = 10_000_000
MAX_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class EmitRequest:
    """A validated ``{"events", "bytes", "burst"?, "rate"?}`` request."""

    events: int
    size: int
    burst: int | None = None
    rate: float | None = None

    @property
    def paced(self) -> bool:
        """True when the request asks for more than the protocol's firehose."""
        return self.burst is not None or self.rate is not None

    @classmethod
    def parse(cls, data: Any) -> EmitRequest:
        if not isinstance(data, dict):
            raise TypeError('bench emission takes {"events": K, "bytes": B, ...}')
        events, size = data.get("events", 1), data.get("bytes", 0)
        burst, rate = data.get("burst"), data.get("rate")
        _check_int("events", events, 0, MAX_EVENTS)
        _check_int("bytes", size, 0, MAX_BYTES)
        if burst is not None:
            _check_int("burst", burst, 1, MAX_EVENTS)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)):
            raise ValueError("rate must be a number of events per second")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        return cls(events, size, burst, None if rate is None else float(rate))

    def protocol_part(self) -> dict[str, int]:
        """The part the protocol's firehose understands."""
        return {"events": self.events, "bytes": self.size}


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")


async def emit_events(emit: Callable[[], object], request: EmitRequest, stop: StopSignal) -> int:
    """Call ``emit`` ``request.events`` times in the requested rhythm; returns the count.

    Stops early when ``stop`` is signalled after the emission began.
    """
    generation = stop.generation
    if request.rate is not None:
        return await _paced(emit, request.events, request.rate, stop, generation)
    burst = request.burst or FIREHOSE_BURST
    emitted = 0
    while emitted < request.events and stop.generation == generation:
        step = min(burst, request.events - emitted)
        for _ in range(step):
            emit()
        emitted += step
        await asyncio.sleep(0)
    return emitted


async def _paced(
    emit: Callable[[], object], count: int, rate: float, stop: StopSignal, generation: int
) -> int:
    loop = asyncio.get_running_loop()
    start = loop.time()
    emitted = 0
    while emitted < count and stop.generation == generation:
        due = min(count, int((loop.time() - start) * rate) + 1, emitted + MAX_CATCH_UP)
        for _ in range(due - emitted):
            emit()
        emitted = max(emitted, due)
        await asyncio.sleep(max(0.0, start + emitted / rate - loop.time()))
    return emitted
