"""Metabolism: an agent's vital signs, computed by the gateway from the agent's counters.

The agent only counts (events, errors, queue depth); rates over a sliding
window are derived here, so measuring costs the agent nothing. Every figure is
finite: an idle agent has flow 0 and turbulence 0, never NaN.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from terrarium.events import finite
from terrarium.flux import AgentCounters


@dataclass(frozen=True, slots=True)
class Metabolism:
    state: str
    pressure: float
    flow: float
    temperature: float
    turbulence: float
    queue_depth: int
    observers: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetabolismMeter:
    """Rates over the last ``window`` seconds of counter samples for one agent."""

    #: Samples closer together than this are merged, so frequent reads stay cheap.
    resolution = 0.05

    def __init__(self, window: float = 10.0) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self._samples: deque[tuple[float, int, int]] = deque()

    def read(
        self, counters: AgentCounters, state: str, observers: int, now: float | None = None
    ) -> Metabolism:
        now = time.monotonic() if now is None else now
        samples = self._samples
        if not samples or now - samples[-1][0] >= self.resolution:
            samples.append((now, counters.events, counters.errors))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        then, events_then, errors_then = samples[0]
        elapsed = now - then
        events = counters.events - events_then
        errors = counters.errors - errors_then
        flow = events / elapsed if elapsed > 0 else 0.0
        turbulence = min(1.0, errors / events) if events > 0 else (1.0 if errors else 0.0)
        pressure = 100.0 * counters.queue_depth / counters.queue_capacity
        return Metabolism(
            state=state,
            pressure=round(finite(min(100.0, pressure)), 2),
            flow=round(finite(flow), 3),
            temperature=round(finite(counters.temperature), 4),
            turbulence=round(finite(turbulence), 4),
            queue_depth=counters.queue_depth,
            observers=observers,
        )
