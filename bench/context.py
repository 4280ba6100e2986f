"""What every scenario is given, and the one measurement window they share.

A window reads the clients' frame counters, the server's and the clients'
CPU time and both cores' busy time at its start and end, so every figure in
a row covers the same interval. What a core did beyond the bench's own
processes ("other%") shows when the machine was shared during that row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fleet import Fleet
from bench.procs import CpuPlan, core_share, core_times
from bench.profile import Profile
from bench.servers import ServerHandle, running


@dataclass
class BenchContext:
    """A scenario's tools: its sizes, the CPU plan, the client process, fresh servers."""

    profile: Profile
    cpus: CpuPlan
    logs: Path
    fleet: Fleet
    #: Server kinds to run (``--server``); None runs every kind a scenario compares.
    only_servers: tuple[str, ...] | None = None

    def kinds(self, candidates: tuple[str, ...]) -> tuple[str, ...]:
        """The scenario's servers, narrowed to ``--server`` when given."""
        if self.only_servers is None:
            return candidates
        return tuple(kind for kind in candidates if kind in self.only_servers)

    @contextlib.contextmanager
    def server(self, kind: str) -> Iterator[ServerHandle]:
        with running(kind, self.cpus.server, self.logs) as handle:
            yield handle

    def emit(self, **request: Any) -> str:
        """Send an emission request on the fleet's perturb socket; returns its id."""
        request.setdefault("bytes", self.profile.event_bytes)
        return str(self.fleet.call("send", data=request))


class Window:
    """Frames delivered, server CPU and core load between ``open()`` and ``close()``."""

    def __init__(self, context: BenchContext, server: ServerHandle, groups: list[str]) -> None:
        self.context = context
        self.server = server
        self.groups = groups
        self._start: dict[str, Any] = {}

    def _reading(self) -> dict[str, Any]:
        fleet = self.context.fleet.call("snapshot", names=self.groups)
        return {"fleet": fleet, "server_cpu": self.server.cpu_seconds(), "cores": core_times()}

    def open(self) -> None:
        self.server.bench("reset")
        self._start = self._reading()

    def close(self) -> dict[str, Any]:
        end = self._reading()
        start = self._start
        seconds = end["fleet"]["t"] - start["fleet"]["t"]
        figures: dict[str, Any] = {
            "seconds": seconds,
            "deliveries_s": (end["fleet"]["frames"] - start["fleet"]["frames"]) / seconds,
            "server_cpu": 100 * (end["server_cpu"] - start["server_cpu"]) / seconds,
            "client_cpu": 100 * (end["fleet"]["cpu"] - start["fleet"]["cpu"]) / seconds,
        }
        cpus = self.context.cpus
        if cpus.server is not None and cpus.clients is not None:
            before, after = start["cores"], end["cores"]
            busy = 100 * core_share(before, after, cpus.server)
            irq = 100 * core_share(before, after, cpus.server, 2)
            figures["server_irq"] = irq
            figures["server_other"] = max(0.0, busy - irq - figures["server_cpu"])
            client_busy = 100 * core_share(before, after, cpus.clients)
            figures["client_other"] = max(0.0, client_busy - figures["client_cpu"])
        return figures
