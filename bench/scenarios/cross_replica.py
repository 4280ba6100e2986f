"""Cross-replica fan-out: observers on a follower replica (through Redis) against the owner's.

Two gateway replicas share one ``redis-server`` (started here, persistence
off): the owner is the usual bench server (the firehose runs there; its
``TERRARIUM_REDIS_URL`` turns the backplane on) and the follower is a plain
``jupyter-terrarium`` with no agents of its own, which follows the
firehose's event stream. For each N, the same N observers attach first to
the owner (the in-process mirror) and then to the follower, and the run
measures deliveries/s with an unbounded emission (one event per loop
iteration) and the event's ``ts`` to client receipt at a fixed rate, so the
follower's rows show what the Redis hop adds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.context import BenchContext, Window
from bench.procs import cpu_seconds, free_port, managed
from bench.results import Column, Table
from bench.scenarios.common import CORE_NOTES, UNBOUNDED
from bench.servers import REPO_ROOT, TOKEN, ServerHandle

NAME = "cross_replica"
TITLE = "Cross-replica fan-out: follower through Redis vs the owner's in-process mirror"
GROUP = "cross"
READY_TIMEOUT = 60.0

COLUMNS = [
    Column("where", "observers on"),
    Column("n", "N"),
    Column("deliveries_s", "deliveries/s", ",.0f"),
    Column("events_s", "events/s", ",.0f"),
    Column("p50", "p50 ms", ".2f"),
    Column("p99", "p99 ms", ".2f"),
    Column("max", "max ms", ".1f"),
    Column("added_p50", "added p50 ms", ".2f"),
    Column("server_cpu", "owner cpu%", ".0f"),
    Column("follower_cpu", "follower cpu%", ".0f"),
]


@contextlib.contextmanager
def _redis(logs: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="terrarium-bench-redis-") as folder:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", folder]
        with managed(command, logs / f"redis-{port}.log"):
            url = f"redis://127.0.0.1:{port}/0"
            _wait(lambda: _redis_ping(port), "redis-server")
            yield url


def _redis_ping(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, urllib.error.URLError):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {READY_TIMEOUT:g} s")


@contextlib.contextmanager
def _owner(context: BenchContext, url: str) -> Iterator[ServerHandle]:
    """The bench server, with the backplane on (it reads the URL from its environment)."""
    before = os.environ.get("TERRARIUM_REDIS_URL")
    os.environ["TERRARIUM_REDIS_URL"] = url
    try:
        with context.server("terrarium") as server:
            yield server
    finally:
        if before is None:
            os.environ.pop("TERRARIUM_REDIS_URL", None)
        else:
            os.environ["TERRARIUM_REDIS_URL"] = before


@contextlib.contextmanager
def _follower(context: BenchContext, url: str) -> Iterator[tuple[int, int]]:
    """A replica with no agents of its own; yields its port and pid once it sees the firehose."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="terrarium-bench-follower-") as home:
        env = dict(os.environ)
        for name in ("config", "data", "runtime"):
            os.makedirs(os.path.join(home, name))
        env.update(
            JUPYTER_CONFIG_DIR=os.path.join(home, "config"),
            JUPYTER_DATA_DIR=os.path.join(home, "data"),
            JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
            TERRARIUM_REDIS_URL=url,
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        command = [
            str(Path(sys.executable).parent / "jupyter-terrarium"),
            "--no-browser",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={home}",
            "--TerrariumApp.demo_agents=False",
            "--TerrariumApp.load_entry_points=False",
            "--TerrariumApp.replica_id=bench-follower",
        ]
        if context.cpus.server is not None:
            command = ["taskset", "-c", str(context.cpus.server), *command]
        with managed(command, context.logs / f"follower-{port}.log", env) as process:
            status = f"http://127.0.0.1:{port}/terrarium/api/agents/firehose"
            _wait(lambda: urllib.request.urlopen(status, timeout=2).status == 200, "the follower")
            yield port, process.pid


def _measure(
    context: BenchContext, owner: ServerHandle, port: int, n: int, follower_pid: int
) -> dict[str, Any]:
    profile, fleet = context.profile, context.fleet
    fleet.call("observe", name=GROUP, port=port, path=owner.observe_path(), count=n)
    time.sleep(profile.warmup)
    # Throughput: as fast as the owner can emit, one event per loop iteration.
    cid = context.emit(events=UNBOUNDED, burst=1)
    time.sleep(profile.warmup)
    window = Window(context, owner, [GROUP])
    follower_before = cpu_seconds(follower_pid)
    window.open()
    time.sleep(profile.window)
    figures = window.close()
    follower_cpu = 100 * (cpu_seconds(follower_pid) - follower_before) / figures["seconds"]
    owner.bench("stop")
    fleet.call("wait", cid=cid, timeout=120)
    fleet.call("drain", names=[GROUP])
    # Latency: a fixed rate, one frame in ``sample_every`` parsed per observer.
    cid = context.emit(events=UNBOUNDED, rate=profile.latency_rate)
    time.sleep(0.5)
    fleet.call("sampling", name=GROUP, every=profile.sample_every)
    time.sleep(profile.latency_seconds)
    latency = fleet.call("latency", name=GROUP)
    owner.bench("stop")
    fleet.call("wait", cid=cid, timeout=60)
    fleet.call("close", name=GROUP)
    return {
        **figures,
        "n": n,
        "events_s": figures["deliveries_s"] / n,
        "p50": latency["p50"],
        "p99": latency["p99"],
        "max": latency["max"],
        "follower_cpu": follower_cpu if port != owner.port else None,
    }


def run(context: BenchContext) -> Table:
    table = Table(NAME, TITLE, COLUMNS)
    fleet = context.fleet
    with (
        _redis(context.logs) as url,
        _owner(context, url) as owner,
        _follower(context, url) as (follower_port, follower_pid),
    ):
        fleet.call("driver", port=owner.port, path=owner.perturb_path(), token=owner.token)
        for n in context.profile.observers:
            here = _measure(context, owner, owner.port, n, follower_pid)
            there = _measure(context, owner, follower_port, n, follower_pid)
            there["added_p50"] = there["p50"] - here["p50"]
            table.rows.append({"where": "owner (in-process)", **here})
            table.rows.append({"where": "follower (Redis)", **there})
        fleet.call("close_driver")
    table.notes += [
        "Same machine, same clock: latency = client receipt - the event's ts (set on the owner).",
        "added p50 = follower p50 - owner p50 at the same N and rate.",
        f"Latency at {context.profile.latency_rate:,.0f} events/s; throughput one event per",
        "loop iteration, unbounded. Redis without persistence, on the same machine.",
        *CORE_NOTES,
    ]
    return table
