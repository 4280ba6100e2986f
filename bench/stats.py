"""Percentile summaries, shared by the servers' probes and the harness.

Nearest-rank percentiles on the raw samples: the runs are short enough to
keep every sample, and a histogram would hide the tail the targets are about.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(samples: Iterable[float], scale: float = 1.0) -> dict[str, float]:
    """Count, p50, p99 and max of ``samples`` multiplied by ``scale``."""
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 0.50) * scale,
        "p99": percentile(ordered, 0.99) * scale,
        "max": (ordered[-1] if ordered else 0.0) * scale,
    }
