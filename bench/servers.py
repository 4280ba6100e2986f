"""Start a server under test from the harness, and read it while it runs.

Three kinds, driven identically: ``terrarium`` (the real extension in a real
Jupyter server, ``bench.terrarium_server``), ``tornado`` (``write_message``
per observer, ``bench.baseline_tornado``) and ``websockets`` (``broadcast()``,
``bench.baseline_websockets``). Each runs in its own process, pinned to the
server CPU, on a free loopback port, with its output in ``bench/results/logs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bench.procs import cpu_seconds, free_port, managed, rss_kib

TOKEN = "terrarium-bench-token"
BENCH_ROOT = Path(__file__).resolve().parent
REPO_ROOT = BENCH_ROOT.parent
#: Seconds a server has to answer ``/bench/stats`` after it was started.
START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ServerKind:
    name: str
    label: str
    module: str


KINDS: Mapping[str, ServerKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            ServerKind("terrarium", "Terrarium (Jupyter)", "bench.terrarium_server"),
            ServerKind("tornado", "Tornado write_message", "bench.baseline_tornado"),
            ServerKind("websockets", "websockets broadcast()", "bench.baseline_websockets"),
        )
    }
)


@dataclass(frozen=True, slots=True)
class ServerHandle:
    """A running server: where to connect, and its ``/bench`` and /proc readings."""

    kind: ServerKind
    port: int
    pid: int
    token: str = TOKEN

    @staticmethod
    def observe_path(agent: str = "firehose") -> str:
        return f"/terrarium/observe/{agent}"

    @staticmethod
    def perturb_path(agent: str = "firehose") -> str:
        return f"/terrarium/perturb/{agent}"

    def bench(self, name: str, timeout: float = 60.0) -> dict[str, Any]:
        """GET ``/bench/<name>`` (stats, reset or stop)."""
        url = f"http://127.0.0.1:{self.port}/bench/{name}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return dict(json.load(response))

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def wait_observers(self, count: int, timeout: float = 30.0) -> int:
        """Wait until the server counts ``count`` observers; returns the last count seen."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            seen = int(self.bench("stats")["observers"])
            if seen == count:
                break
            time.sleep(0.1)
        return seen


def _wait_ready(handle: ServerHandle, process: Any, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{handle.kind.label} exited at start; see {log}")
        with contextlib.suppress(OSError):
            handle.bench("stats", timeout=2)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{handle.kind.label} did not start in {START_TIMEOUT:g} s; see {log}")


@contextlib.contextmanager
def running(kind_name: str, cpu: int | None, logs: Path) -> Iterator[ServerHandle]:
    """Start a fresh server of ``kind_name``; stop it (terminate, then kill) afterwards."""
    kind = KINDS[kind_name]
    port = free_port()
    command = [sys.executable, "-m", kind.module, "--port", str(port)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    with tempfile.TemporaryDirectory(prefix="terrarium-bench-") as home:
        env = dict(os.environ)
        if kind_name == "terrarium":
            command += ["--token", TOKEN, "--root", home]
            for name in ("config", "data", "runtime"):
                os.makedirs(os.path.join(home, name))
            env.update(
                JUPYTER_CONFIG_DIR=os.path.join(home, "config"),
                JUPYTER_DATA_DIR=os.path.join(home, "data"),
                JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"),
                JUPYTER_PLATFORM_DIRS="1",
            )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        log = logs / f"{kind_name}-{port}.log"
        with managed(command, log, env) as process:
            handle = ServerHandle(kind, port, process.pid)
            _wait_ready(handle, process, log)
            yield handle
