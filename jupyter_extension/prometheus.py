"""Per-agent gauges on the Jupyter server's own ``/metrics``.

A collector reads the registry at scrape time, so there is no metric object
to keep in step with agents coming and going.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from terrarium.registry import AgentRegistry

_GAUGES = (
    ("pressure", "Perturbation queue fill, 0-100"),
    ("flow", "Events per second over the sliding window"),
    ("temperature", "Entropy consumed (or the agent's own figure), 0-1"),
    ("turbulence", "Errors per event over the sliding window, 0-1"),
    ("queue_depth", "Perturbations waiting"),
    ("observers", "Observers attached to the mirror"),
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
                family.add_metric([status["id"]], float(status[name]))
            yield family
        events = CounterMetricFamily(
            "terrarium_agent_events", "Events the agent has processed", labels=["agent"]
        )
        for status in statuses:
            events.add_metric([status["id"]], float(status["events"]))
        yield events
