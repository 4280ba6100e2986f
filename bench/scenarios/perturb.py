"""The Beam: /perturb round trip against the echo agent, and pipelined throughput.

One authenticated perturb socket to Terrarium's ``echo`` agent, next to the
bare Tornado echo socket (parse, reply; no queue, no agent): first
sequential round trips (send, wait for the reply, repeat), then many
requests in flight on the one socket (a window of 256), counted per second
from the first send to the last reply (T8).

Both servers run at once and the round trips alternate between them in
blocks: on these machines a round trip's cost drifts by a third for seconds
at a time, and measuring one server after the other would put that drift
into the ratio.
"""

from __future__ import annotations

import contextlib

from bench.context import BenchContext
from bench.results import Column, Table
from bench.scenarios.common import SERVER
from bench.stats import summarize

NAME = "perturb"
TITLE = "/perturb round trip (echo) and pipelined throughput (T8)"
SERVERS = ("terrarium", "tornado")
QUEUED = "tornado+queue"
#: (row label, server kind, agent path): the Beam, the bare echo, the echo through a queue.
ROWS = (
    ("terrarium", "terrarium", "echo"),
    ("tornado", "tornado", "echo"),
    (QUEUED, "tornado", "queued-echo"),
)
WARM_UP = 200
#: Round trips alternate between the servers in this many blocks each.
BLOCKS = 8
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
    rows = [(label, kind, agent) for label, kind, agent in ROWS if kind in context.kinds(SERVERS)]
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(context.server(kind)) for kind in {row[1] for row in rows}
        }
        samples: dict[str, list[float]] = {label: [] for label, _, _ in rows}
        errors = dict.fromkeys(samples, 0)
        first_error: dict[str, list[str]] = {label: [] for label in samples}
        for block in range(BLOCKS):
            for label, kind, agent in rows if block % 2 == 0 else reversed(rows):
                server = servers[kind]
                path = server.perturb_path(agent)
                fleet.call("driver", port=server.port, path=path, token=server.token)
                if block == 0:
                    fleet.call("round_trips", count=WARM_UP, data=PAYLOAD)
                trips = fleet.call(
                    "round_trips", count=profile.round_trips // BLOCKS, data=PAYLOAD, raw=True
                )
                samples[label] += trips["samples"]
                errors[label] += trips["errors"]
                first_error[label] += trips["first_error"]
        for label, kind, agent in rows:
            server = servers[kind]
            path = server.perturb_path(agent)
            fleet.call("driver", port=server.port, path=path, token=server.token)
            piped = fleet.call(
                "pipelined",
                total=profile.pipelined,
                window=profile.pipeline_window,
                data=PAYLOAD,
            )
            fleet.call("close_driver")
            trips = summarize(samples[label])
            table.rows.append(
                {
                    "server": label,
                    "round_trips": int(trips["count"]),
                    "p50": trips["p50"],
                    "p99": trips["p99"],
                    "max": trips["max"],
                    "pipelined_s": piped["per_s"],
                    "window": piped["window"],
                    "errors": errors[label] + piped["errors"],
                    "first_error": (first_error[label] + piped["first_error"])[:1],
                }
            )
    baseline = table.one(server="tornado")
    for row in table.rows:
        if baseline and baseline["p50"]:
            row["vs_tornado"] = row["p50"] / baseline["p50"]
    table.notes += [
        f"round trips alternate between the rows in {BLOCKS} blocks each, every server running.",
        f"{QUEUED} = Tornado's echo through an asyncio.Queue and a consumer task: the least a",
        "server pays that queues a request for an agent's own task, as the Beam does.",
    ]
    return table
