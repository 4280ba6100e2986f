"""The Beam: /perturb round trip against the echo agent, and pipelined throughput.

One authenticated perturb socket to Terrarium's ``echo`` agent, next to the
bare Tornado echo socket (parse, reply; no queue, no agent): first
sequential round trips (send, wait for the reply, repeat), then many
requests in flight on the one socket (a window of 256), counted per second
from the first send to the last reply (T8).
"""

from __future__ import annotations

from bench.context import BenchContext
from bench.results import Column, Table
from bench.scenarios.common import SERVER

NAME = "perturb"
TITLE = "/perturb round trip (echo) and pipelined throughput (T8)"
SERVERS = ("terrarium", "tornado")
WARM_UP = 200
PAYLOAD = {"text": "hello", "n": 1}

COLUMNS = [
    SERVER,
    Column("round_trips", "round trips"),
    Column("p50", "rtt p50 ms", ".3f"),
    Column("p99", "rtt p99 ms", ".3f"),
    Column("max", "rtt max ms", ".1f"),
    Column("vs_tornado", "p50 vs Tornado", ".2f"),
    Column("pipelined_s", "pipelined/s", ",.0f"),
    Column("window", "in flight"),
    Column("errors", "errors"),
]


def run(context: BenchContext) -> Table:
    profile = context.profile
    fleet = context.fleet
    table = Table(NAME, TITLE, COLUMNS)
    for kind in SERVERS:
        with context.server(kind) as server:
            path = server.perturb_path("echo")
            fleet.call("driver", port=server.port, path=path, token=server.token)
            fleet.call("round_trips", count=WARM_UP, data=PAYLOAD)
            trips = fleet.call("round_trips", count=profile.round_trips, data=PAYLOAD)
            piped = fleet.call(
                "pipelined",
                total=profile.pipelined,
                window=profile.pipeline_window,
                data=PAYLOAD,
            )
            fleet.call("close_driver")
        errors = trips["errors"] + piped["errors"]
        table.rows.append(
            {
                "server": kind,
                "round_trips": int(trips["count"]),
                "p50": trips["p50"],
                "p99": trips["p99"],
                "max": trips["max"],
                "pipelined_s": piped["per_s"],
                "window": piped["window"],
                "errors": errors,
                "first_error": (trips["first_error"] + piped["first_error"])[:1],
            }
        )
    baseline = table.one(server="tornado")
    for row in table.rows:
        if baseline and baseline["p50"]:
            row["vs_tornado"] = row["p50"] / baseline["p50"]
    return table
