"""The floors: deliveries/s one core makes when every delivery is its own ``send()``.

No server: ``bench.send_floor`` runs on the server's CPU, with N sockets whose
peers (in the client process) read as the saturation observers do (eagerly,
in paced batches once many are ready at a time). ``send`` round-robins one
208-byte frame over the sockets; ``1/iter`` is the saturation scenario's one
event per loop iteration with nothing but the shared emission loop, one
serialisation and N sends per event. They are the ceilings for any fan-out that writes each delivery
separately, which is what every server does at one event per flush when it
has no backlog to join; T2 compares with the ``1/iter`` floor where a ratio
would need more than it allows.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.context import BenchContext
from bench.procs import free_port, managed
from bench.results import Column, Table

NAME = "floor"
TITLE = "The send() floor: one send() per delivery, no server (T2 evidence)"
#: Observer counts the floor is measured at: those T2 judges.
COUNTS = (10, 100, 1000)

#: (row label, ``bench.send_floor`` mode)
MODES = (("send", "send"), ("1/iter", "loop"))

COLUMNS = [
    Column("mode", "floor"),
    Column("n", "N"),
    Column("sends_s", "sends/s", ",.0f"),
    Column("us_per_send", "µs/send", ".2f"),
    Column("cpu", "cpu%", ".0f"),
]


def _wait_for_line(log: Path, process: subprocess.Popen[bytes], prefix: str, timeout: float) -> str:
    """The first line of the probe's output that starts with ``prefix``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = process.poll() is not None
        for line in log.read_text().splitlines():
            if line.startswith(prefix):
                return line
        if exited:
            break
        time.sleep(0.05)
    raise RuntimeError(f"bench.send_floor printed no {prefix!r} within {timeout:g} s; see {log}")


def run(context: BenchContext) -> Table:
    table = Table(NAME, TITLE, COLUMNS)
    profile = context.profile
    counts = [count for count in COUNTS if count <= max(profile.observers)]
    for (label, mode), n in itertools.product(MODES, counts):
        port = free_port()
        command = [sys.executable, "-m", "bench.send_floor", "--port", str(port), "--mode", mode]
        command += ["--count", str(n), "--seconds", str(profile.window)]
        if context.cpus.server is not None:
            command += ["--cpu", str(context.cpus.server)]
        log = context.logs / f"send_floor-{mode}-{n}.log"
        with managed(command, log) as process:
            _wait_for_line(log, process, "listening", 30)
            context.fleet.call("pace", seconds=profile.read_pace)
            try:
                context.fleet.call("sink", port=port, count=n)
                result = json.loads(_wait_for_line(log, process, "{", profile.window + 60))
            finally:
                context.fleet.call("close_sinks")
                context.fleet.call("pace", seconds=0.0)
        table.rows.append({"mode": label, "n": n, **result})
    table.notes += [
        "send = a bare Python loop of socket.send() over N loopback sockets on the server's",
        "CPU; 1/iter = one event per asyncio loop iteration, serialised and framed once,",
        "sent to every socket. Peers read as the saturation observers do.",
    ]
    return table
