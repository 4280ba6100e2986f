"""Stalled observers: server memory and healthy observers' latency when some never read.

A fresh server per run: 100 healthy observers sample latency while the
server emits 1,000 events/s, next to 0, 1 or 10 stalled observers
(connections with a 4 KiB receive buffer that never read after the
handshake). Events carry 1 KiB here (4 KiB in the quick run), so a
baseline's kernel send buffer (about 3 MB) fills early in the run and what
the server itself keeps becomes visible. The server's RSS is read every
half second from 2 s after the stream started (when Terrarium's live ring
is full); growth is the last reading minus the first. The run with 0
stalled observers is the reference for the healthy observers' p99 (T4).
Terrarium is compared with the Tornado baseline, whose per-observer buffers
have no bound.
"""

from __future__ import annotations

import time

from bench.context import BenchContext, Window
from bench.results import Column, Table
from bench.scenarios.common import CORE_NOTES, CORES, SERVER, UNBOUNDED

NAME = "stalled"
TITLE = "Stalled observers: server RSS and healthy observers' latency (T4)"
#: The unstalled reference run is needed for Terrarium only (T4); skipping the
#: baseline's keeps the full run within its time budget.
RUNS = {"terrarium": (0, 1, 10), "tornado": (1, 10)}
HEALTHY, STUCK = "healthy", "stalled"
RSS_EVERY = 0.5

COLUMNS = [
    SERVER,
    Column("stalled", "stalled"),
    Column("seconds", "seconds", ".0f"),
    Column("rss_first_mib", "RSS first MiB", ".1f"),
    Column("rss_last_mib", "RSS last MiB", ".1f"),
    Column("growth_mib", "growth MiB", ".2f"),
    Column("p50", "healthy p50 ms", ".2f"),
    Column("p99", "healthy p99 ms", ".2f"),
    Column("p99_vs_none", "p99 vs 0 stalled", ".2f"),
    Column("healthy_events_s", "ev/s per healthy", ",.0f"),
    Column("stall_p99", "stall p99 ms", ".2f"),
    Column("stall_max", "stall max ms", ".1f"),
    *CORES,
]


def _one_run(context: BenchContext, kind: str, stalled: int) -> dict[str, object]:
    profile = context.profile
    fleet = context.fleet
    healthy = profile.stalled_healthy
    with context.server(kind) as server:
        path = server.observe_path()
        fleet.call("driver", port=server.port, path=server.perturb_path(), token=server.token)
        fleet.call("observe", name=HEALTHY, port=server.port, path=path, count=healthy)
        if stalled:
            fleet.call(
                "observe", name=STUCK, port=server.port, path=path, count=stalled, stall=True
            )
        server.wait_observers(healthy + stalled)
        cid = context.emit(
            events=UNBOUNDED, rate=profile.latency_rate, bytes=profile.stalled_event_bytes
        )
        time.sleep(profile.stalled_warmup)
        fleet.call("sampling", name=HEALTHY, every=profile.sample_every)
        window = Window(context, server, [HEALTHY])
        window.open()
        started = time.monotonic()
        rss = [server.rss_kib()]
        while time.monotonic() - started < profile.stalled_seconds:
            time.sleep(RSS_EVERY)
            rss.append(server.rss_kib())
        figures = window.close()
        latency = fleet.call("latency", name=HEALTHY)
        stats = server.bench("stats")
        server.bench("stop")
        fleet.call("wait", cid=cid, timeout=60)
        fleet.call("close", name=STUCK)
        fleet.call("close", name=HEALTHY)
        fleet.call("close_driver")
    return {
        "server": kind,
        "stalled": stalled,
        "rss_first_mib": rss[0] / 1024,
        "rss_last_mib": rss[-1] / 1024,
        "growth_mib": (rss[-1] - rss[0]) / 1024,
        "rss_series_kib": rss,
        "p50": latency["p50"],
        "p99": latency["p99"],
        "samples": latency["count"],
        "healthy_events_s": figures["deliveries_s"] / healthy,
        "stall_p99": stats["stall_ms"]["p99"],
        "stall_max": stats["stall_ms"]["max"],
        "latency_max": latency["max"],
        **figures,
    }


def run(context: BenchContext) -> Table:
    table = Table(NAME, TITLE, COLUMNS)
    for kind, counts in RUNS.items():
        if kind not in context.kinds(tuple(RUNS)):
            continue
        for stalled in counts:
            if stalled in context.profile.stalled_counts:
                table.rows.append(_one_run(context, kind, stalled))
        reference = table.one(server=kind, stalled=0)
        for row in table.where(server=kind):
            if reference and reference["p99"]:
                row["p99_vs_none"] = row["p99"] / reference["p99"]
    profile = context.profile
    table.notes += [
        f"{profile.stalled_healthy} healthy observers at {profile.latency_rate:,.0f} events/s "
        f"of {profile.stalled_event_bytes} characters; RSS read every {RSS_EVERY:g} s.",
        *CORE_NOTES,
    ]
    return table
