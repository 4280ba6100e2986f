"""Per-agent gauges on the Jupyter server's own ``/metrics``.

A collector reads the registry at scrape time, so there is no metric object
to keep in step with agents coming and going.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from terrarium.metrics import DESCRIPTIONS
from terrarium.registry import AgentRegistry

_GAUGES = (
    *(
        (name, DESCRIPTIONS[name])
        for name in ("pressure", "flow", "temperature", "turbulence", "queue_depth", "observers")
    ),
    ("seq", "Newest event sequence number"),
)


class TerrariumCollector(Collector):
    def __init__(self, registry: AgentRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        statuses = self.registry.statuses()
        for name, description in _GAUGES:
            family = GaugeMetricFamily(f"terrarium_agent_{name}", description, labels=["agent"])
            for status in statuses:
                row: Mapping[str, Any] = status
                family.add_metric([status["id"]], float(row[name]))
            yield family
        events = CounterMetricFamily(
            "terrarium_agent_events", "Events the agent has processed", labels=["agent"]
        )
        for status in statuses:
            events.add_metric([status["id"]], float(status["events"]))
        yield events
