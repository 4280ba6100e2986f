"""Pieces several scenarios share: the servers compared, and the columns they print."""

from __future__ import annotations

from typing import Any

from bench.results import Column

#: Every server kind, in the order tables list them.
ALL_SERVERS = ("terrarium", "tornado", "websockets")
#: Far more events than any window needs: emissions are ended by ``/bench/stop``.
UNBOUNDED = 10_000_000

SERVER = Column("server", "server")
#: Garbage-collection pauses in the server over the window (a stall that is not the fan-out).
GC = [
    Column("gc_max", "gc max ms", ".1f"),
    Column("gc_full", "full gcs", "d"),
]
CORES = [
    Column("server_cpu", "srv cpu%", ".0f"),
    Column("server_irq", "irq%", ".0f"),
    Column("server_other", "core0 other%", ".0f"),
    Column("client_cpu", "client cpu%", ".0f"),
    Column("client_other", "core1 other%", ".0f"),
]
CORE_NOTES = [
    "srv cpu% = the server process; irq% = interrupt time on its core (loopback TCP",
    "work, not charged to the process); other% = work on that core by anything else",
    "(the machine may be shared: a high figure makes the row pessimistic).",
]


def gc_figures(stats: dict[str, Any]) -> dict[str, Any]:
    """The GC columns from a server's ``/bench/stats``."""
    gc = stats.get("gc_ms", {})
    return {"gc_max": gc.get("max", 0.0), "gc_full": int(gc.get("full", 0))}
