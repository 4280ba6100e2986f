"""Saturation: deliveries per second with N observers, and what one emit costs meanwhile.

For each server and N, the driver asks for an unbounded emission, one event
per loop iteration and then in bursts of 16 per iteration; after a warm-up a
window counts the frames every observer received (deliveries/s = frames
across all observers / window seconds), and the server reports the time of
each ``reflect()`` (Terrarium) or emit call (baselines) and its loop
lateness over the same window (T1, T2, T7).
"""

from __future__ import annotations

import time
from typing import Any

from bench.context import BenchContext, Window
from bench.results import Column, Table
from bench.scenarios.common import (
    ALL_SERVERS,
    CORE_NOTES,
    CORES,
    GC,
    SERVER,
    UNBOUNDED,
    gc_figures,
)
from bench.servers import ServerHandle

NAME = "saturation"
TITLE = "Saturation: deliveries/s, emit cost and loop stall (T1, T2, T7)"
#: (row label, events per loop iteration)
MODES = (("1/iter", 1), ("burst16", 16))
GROUP = "saturation"

COLUMNS = [
    SERVER,
    Column("n", "N"),
    Column("mode", "mode"),
    Column("deliveries_s", "deliveries/s", ",.0f"),
    Column("events_s", "events/s", ",.0f"),
    Column("emit_p50", "emit p50 µs", ",.1f"),
    Column("emit_p99", "emit p99 µs", ",.1f"),
    Column("emit_max", "emit max µs", ",.0f"),
    Column("stall_p99", "stall p99 ms", ".2f"),
    Column("stall_max", "stall max ms", ".1f"),
    *GC,
    *CORES,
]


def _measure(context: BenchContext, server: ServerHandle, n: int, burst: int) -> dict[str, Any]:
    profile = context.profile
    context.fleet.call("pace", seconds=profile.read_pace)
    cid = context.emit(events=UNBOUNDED, burst=burst)
    time.sleep(profile.warmup)
    window = Window(context, server, [GROUP])
    window.open()
    time.sleep(profile.window)
    figures = window.close()
    server.bench("stop")
    context.fleet.call("pace", seconds=0.0)
    stats = server.bench("stats")
    context.fleet.call("wait", cid=cid, timeout=120)
    context.fleet.call("drain", names=[GROUP])
    emit, stall = stats["emit_us"], stats["stall_ms"]
    return {
        **figures,
        "events_s": figures["deliveries_s"] / n,
        "emit_p50": emit["p50"],
        "emit_p99": emit["p99"],
        "emit_max": emit["max"],
        "emit_count": emit["count"],
        "stall_p99": stall["p99"],
        "stall_max": stall["max"],
        **gc_figures(stats),
    }


def run(context: BenchContext) -> Table:
    table = Table(NAME, TITLE, COLUMNS)
    fleet = context.fleet
    for kind in context.kinds(ALL_SERVERS):
        with context.server(kind) as server:
            fleet.call("driver", port=server.port, path=server.perturb_path(), token=server.token)
            for n in context.profile.observers:
                fleet.call(
                    "observe", name=GROUP, port=server.port, path=server.observe_path(), count=n
                )
                server.wait_observers(n)
                for mode, burst in MODES:
                    row = _measure(context, server, n, burst)
                    table.rows.append({"server": kind, "n": n, "mode": mode, **row})
                fleet.call("close", name=GROUP)
                server.wait_observers(0)
            fleet.call("close_driver")
    table.notes += [
        "emit = one reflect() call (Terrarium); one serialise-and-fan-out call (baselines).",
        "stall = lateness of a 1 ms timer on the server's loop.",
        *CORE_NOTES,
    ]
    return table
