"""Server memory per idle observer: RSS with N idle observers minus RSS without, over N.

Each server is started fresh and left to settle; its RSS (VmRSS) is read
before and after N observers attach and sit idle (they read whatever comes,
which for Terrarium is a ``metabolism`` event a second) (T6).
"""

from __future__ import annotations

import statistics
import time

from bench.context import BenchContext
from bench.results import Column, Table
from bench.scenarios.common import ALL_SERVERS, SERVER
from bench.servers import ServerHandle

NAME = "idle_rss"
TITLE = "Server RSS per idle observer (T6)"
GROUP = "idle"

COLUMNS = [
    SERVER,
    Column("n", "N"),
    Column("before_mib", "RSS before MiB", ".1f"),
    Column("after_mib", "RSS after MiB", ".1f"),
    Column("kib_per_observer", "KiB/observer", ".1f"),
    Column("vs_tornado", "vs Tornado", ".2f"),
]


def _rss(server: ServerHandle) -> float:
    readings = []
    for _ in range(3):
        readings.append(server.rss_kib())
        time.sleep(0.1)
    return statistics.median(readings)


def run(context: BenchContext) -> Table:
    n, settle = context.profile.idle_observers, context.profile.idle_settle
    table = Table(NAME, TITLE, COLUMNS)
    for kind in context.kinds(ALL_SERVERS):
        with context.server(kind) as server:
            time.sleep(settle)
            before = _rss(server)
            context.fleet.call(
                "observe", name=GROUP, port=server.port, path=server.observe_path(), count=n
            )
            server.wait_observers(n)
            time.sleep(settle)
            after = _rss(server)
            context.fleet.call("close", name=GROUP)
            table.rows.append(
                {
                    "server": kind,
                    "n": n,
                    "before_mib": before / 1024,
                    "after_mib": after / 1024,
                    "kib_per_observer": (after - before) / n,
                }
            )
    baseline = table.one(server="tornado")
    for row in table.rows:
        if baseline and baseline["kib_per_observer"] > 0:
            row["vs_tornado"] = row["kib_per_observer"] / baseline["kib_per_observer"]
    return table
