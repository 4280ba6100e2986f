"""The scenarios, in the order a full run takes them.

Each module has ``NAME``, ``TITLE`` and ``run(context) -> Table``; each run
starts the servers it needs afresh, so one scenario cannot leave memory or
sockets behind for the next.
"""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import (
    attach,
    cross_replica,
    floor,
    idle_rss,
    latency,
    perturb,
    pipeline,
    saturation,
    soak,
    stalled,
)

SCENARIOS: tuple[ModuleType, ...] = (
    saturation,
    floor,
    latency,
    attach,
    idle_rss,
    stalled,
    perturb,
    pipeline,
    cross_replica,
    soak,
)


def by_name(name: str) -> ModuleType:
    for module in SCENARIOS:
        if name == module.NAME:
            return module
    raise KeyError(name)
