"""Attach while streaming: connect start to hello plus the 100 replayed events.

The history is first filled with 100 events. Then, with N observers
streaming (at 1,000 events/s, capped at 100,000 deliveries/s in all so the
client process is not what is measured), new observers attach one after the
other; each is timed from the start of its TCP connect until it has the
hello and every replayed event (seq up to the hello's seq). ``101`` is the
part until the HTTP 101 response arrived. The attaching client runs in a
process of its own (on the clients' CPU, under ``SCHED_FIFO`` where allowed),
and the streaming observers read in paced batches when many are ready
(``bench.pacing``), so the attach timings do not wait behind the streaming
observers' reads (T5).
"""

from __future__ import annotations

import time

from bench.context import BenchContext
from bench.fleet import Fleet
from bench.results import Column, Table
from bench.scenarios.common import ALL_SERVERS, SERVER, UNBOUNDED
from bench.stats import summarize

NAME = "attach"
TITLE = "Attach with a 100-event replay while streaming (T5)"
GROUP = "streaming"

COLUMNS = [
    SERVER,
    Column("n", "N"),
    Column("rate", "stream ev/s", ",.0f"),
    Column("attaches", "attaches"),
    Column("handshake_p50", "101 p50 ms", ".2f"),
    Column("p50", "attach p50 ms", ".2f"),
    Column("p99", "attach p99 ms", ".2f"),
    Column("max", "attach max ms", ".1f"),
    Column("replayed", "replayed (min)"),
    Column("stall_p99", "stall p99 ms", ".2f"),
]


def _one_server(context: BenchContext, probes: Fleet, kind: str, table: Table) -> None:
    profile = context.profile
    fleet = context.fleet
    with context.server(kind) as server:
        fleet.call("driver", port=server.port, path=server.perturb_path(), token=server.token)
        fleet.call("wait", cid=context.emit(events=100, burst=16), timeout=60)
        for n in profile.observers:
            fleet.call("observe", name=GROUP, port=server.port, path=server.observe_path(), count=n)
            server.wait_observers(n)
            rate = min(profile.attach_stream_rate, profile.attach_stream_deliveries / n)
            cid = context.emit(events=UNBOUNDED, rate=rate)
            fleet.call("pace", seconds=profile.read_pace)
            time.sleep(0.3)
            server.bench("reset")
            records = probes.call(
                "attach",
                port=server.port,
                path=server.observe_path(),
                count=profile.attaches,
                budget=profile.attach_budget,
            )
            stats = server.bench("stats")
            server.bench("stop")
            fleet.call("pace", seconds=0.0)
            fleet.call("wait", cid=cid, timeout=60)
            fleet.call("close", name=GROUP)
            server.wait_observers(0)
            attach = summarize(record[1] for record in records)
            table.rows.append(
                {
                    "server": kind,
                    "n": n,
                    "rate": rate,
                    "attaches": len(records),
                    "handshake_p50": summarize(record[0] for record in records)["p50"],
                    "p50": attach["p50"],
                    "p99": attach["p99"],
                    "max": attach["max"],
                    "replayed": min(int(record[2]) for record in records),
                    "stall_p99": stats["stall_ms"]["p99"],
                }
            )
        fleet.call("close_driver")


def run(context: BenchContext) -> Table:
    table = Table(NAME, TITLE, COLUMNS)
    with Fleet(context.cpus.clients) as probes:
        realtime = probes.call("realtime")
        for kind in context.kinds(ALL_SERVERS):
            _one_server(context, probes, kind, table)
    table.notes += [
        "101 = connect start until the HTTP 101 response arrived.",
        "the attaching process ran "
        + ("under SCHED_FIFO." if realtime else "at normal priority (SCHED_FIFO refused)."),
        f"attaches stop after {context.profile.attach_budget:g} s: a server that cannot keep "
        "the stream's rate gets fewer.",
    ]
    return table
