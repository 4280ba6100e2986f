"""Metabolism: an agent's vital signs, computed by the gateway from the agent's counters.

The agent only counts (events, errors, queue depth); rates are derived here, so
measuring costs the agent nothing. Every figure is finite: an idle agent has
flow 0 and turbulence 0, never NaN.

The window
----------
Flow and turbulence cover the last ``window`` seconds (10 s by default) before
the reading:

- ``events`` and ``errors`` are the growth of the agent's counters over
  ``[now - window, now]``. The meter only sees the counters when it is read, so
  where ``now - window`` falls between two readings the counts there are
  interpolated linearly (the events between two readings are taken as evenly
  spread). The window never reaches further back than ``window`` seconds,
  however far apart the readings are; it reaches less far back only while the
  meter is younger than ``window`` (its first reading starts it).
- ``flow = events / max(span, min_span)``: events per second, where ``span``
  is how far back the window reaches (``window`` once the meter is that old)
  and ``min_span`` (5 s by default, at most ``window``) keeps a young meter
  from dividing a few events by a split second. A new agent ticking once a
  second thus reads 0.2, 0.4, ... events/s in its first seconds and about 1
  from then on, never 25.
- ``turbulence = errors / events`` over the same window, at most 1; errors
  without events is 1, nothing at all is 0.

Pressure (queue fill) and temperature (the agent's own figure, or its entropy
over its budget) are read as they are at the moment of the reading.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from terrarium.events import finite
from terrarium.flux import AgentCounters

#: Seconds of history flow and turbulence cover.
DEFAULT_WINDOW = 10.0
#: The shortest span flow is divided by: a young meter's few events are not a burst.
DEFAULT_MIN_SPAN = 5.0

#: What each figure of a ``metabolism`` event (and STATUS) means, for gauges and docs.
DESCRIPTIONS: dict[str, str] = {
    "state": "Lifecycle state, as the agent reports it",
    "pressure": "Perturbation queue fill in percent, 0-100, at the moment of reading",
    "flow": (
        "Events per second: events the agent produced in the last "
        f"{DEFAULT_WINDOW:g} s, divided by that span (by at least {DEFAULT_MIN_SPAN:g} s "
        "while the meter is younger)"
    ),
    "temperature": (
        "0-1: the agent's own figure, or its entropy over its entropy budget (0 when it has none)"
    ),
    "turbulence": f"Errors per event over the last {DEFAULT_WINDOW:g} s, 0-1",
    "queue_depth": "Perturbations waiting",
    "observers": "Observers attached to the agent's mirror",
}


@dataclass(frozen=True, slots=True)
class Metabolism:
    """One reading (the ``data`` of a ``metabolism`` event); see ``DESCRIPTIONS``."""

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
    """Flow and turbulence of one agent over a sliding window (see the module's docstring).

    ``window``: seconds the rates cover. ``min_span``: the shortest span flow
    is divided by (capped at ``window``).
    """

    #: Samples closer together than this are merged, so frequent reads stay cheap.
    resolution = 0.05

    def __init__(self, window: float = DEFAULT_WINDOW, min_span: float = DEFAULT_MIN_SPAN) -> None:
        if not window > 0:
            raise ValueError("window must be positive")
        if not min_span > 0:
            raise ValueError("min_span must be positive")
        self.window = window
        self.min_span = min(min_span, window)
        #: (time, events, errors) readings, oldest first; the first may precede the window.
        self._samples: deque[tuple[float, int, int]] = deque()

    def read(
        self, counters: AgentCounters, state: str, observers: int, now: float | None = None
    ) -> Metabolism:
        now = time.monotonic() if now is None else now
        events, errors = self._window(now, counters.events, counters.errors)
        span = min(self.window, max(0.0, now - self._samples[0][0]))
        flow = events / max(span, self.min_span)
        turbulence = _turbulence(events, errors)
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

    def _window(self, now: float, events: int, errors: int) -> tuple[float, float]:
        """Record a sample; the events and errors counted in ``[now - window, now]``."""
        samples = self._samples
        if not samples or now - samples[-1][0] >= self.resolution:
            samples.append((now, events, errors))
        start = now - self.window
        # Keep one sample at or before the window's start: the edge is interpolated from it.
        while len(samples) > 1 and samples[1][0] <= start:
            samples.popleft()
        then, events_then, errors_then = samples[0]
        base_events: float = events_then
        base_errors: float = errors_then
        if then < start:
            # The window starts between this sample and the next (or now).
            after, events_after, errors_after = (
                samples[1] if len(samples) > 1 else (now, events, errors)
            )
            part = (start - then) / (after - then) if after > then else 1.0
            base_events += (events_after - events_then) * part
            base_errors += (errors_after - errors_then) * part
        return max(0.0, events - base_events), max(0.0, errors - base_errors)


def _turbulence(events: float, errors: float) -> float:
    """Errors per event, at most 1; errors without events is 1, nothing at all 0."""
    if events > 0:
        return min(1.0, errors / events)
    return 1.0 if errors > 0 else 0.0
