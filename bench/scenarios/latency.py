"""End-to-end latency at a fixed rate: the event's ``ts`` to the moment a client reads it.

N observers (100) while the server emits at a fixed rate (1,000 events/s,
paced by the server's clock). Each observer json-parses one frame in ten,
staggered so every seq is sampled by someone, and records receipt time minus
the event's ``ts``; server and clients share the machine's clock (T3).
"""

from __future__ import annotations

import time

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

NAME = "latency"
TITLE = "Latency at a fixed rate: event ts to client receipt (T3)"
GROUP = "latency"

COLUMNS = [
    SERVER,
    Column("n", "N"),
    Column("rate", "asked ev/s", ",.0f"),
    Column("events_s", "got ev/s", ",.0f"),
    Column("samples", "samples", ",d"),
    Column("p50", "p50 ms", ".2f"),
    Column("p99", "p99 ms", ".2f"),
    Column("max", "max ms", ".1f"),
    Column("deliveries_s", "deliveries/s", ",.0f"),
    Column("stall_p99", "stall p99 ms", ".2f"),
    Column("stall_max", "stall max ms", ".1f"),
    *GC,
    *CORES,
]


def run(context: BenchContext) -> Table:
    profile = context.profile
    table = Table(NAME, TITLE, COLUMNS)
    fleet = context.fleet
    n, rate = profile.latency_observers, profile.latency_rate
    for kind in context.kinds(ALL_SERVERS):
        with context.server(kind) as server:
            fleet.call("driver", port=server.port, path=server.perturb_path(), token=server.token)
            fleet.call("observe", name=GROUP, port=server.port, path=server.observe_path(), count=n)
            server.wait_observers(n)
            cid = context.emit(events=UNBOUNDED, rate=rate)
            time.sleep(0.5)
            fleet.call("sampling", name=GROUP, every=profile.sample_every)
            window = Window(context, server, [GROUP])
            window.open()
            time.sleep(profile.latency_seconds)
            figures = window.close()
            latency = fleet.call("latency", name=GROUP)
            stats = server.bench("stats")
            server.bench("stop")
            fleet.call("wait", cid=cid, timeout=60)
            fleet.call("close", name=GROUP)
            fleet.call("close_driver")
            table.rows.append(
                {
                    "server": kind,
                    "n": n,
                    "rate": rate,
                    "samples": int(latency["count"]),
                    "p50": latency["p50"],
                    "p99": latency["p99"],
                    "max": latency["max"],
                    "stall_p99": stats["stall_ms"]["p99"],
                    "stall_max": stats["stall_ms"]["max"],
                    **gc_figures(stats),
                    "events_s": figures["deliveries_s"] / n,
                    **figures,
                }
            )
    table.notes += [
        f"{profile.latency_seconds:g} s sampled after 0.5 s of warm-up; "
        f"one frame in {profile.sample_every} per observer is parsed.",
        *CORE_NOTES,
    ]
    return table
