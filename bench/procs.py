"""Processes of a bench run: CPU pinning, free ports, start and sure stop, /proc readings.

The server under test gets CPU 0 to itself and every client runs on CPU 1, so
a server's figures are not its clients' figures. On a machine with one CPU
nothing is pinned, and the tables say so.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Seconds a process is given to exit after SIGTERM before it is killed.
STOP_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Which CPU the server and the clients run on (None: not pinned)."""

    server: int | None
    clients: int | None

    @classmethod
    def detect(cls) -> CpuPlan:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cpus) < 2:
            return cls(None, None)
        return cls(cpus[0], cpus[1])

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (fewer than 2 CPUs)"
        return f"server on CPU {self.server}, clients on CPU {self.clients}"


def pin(cpu: int | None) -> None:
    """Pin the calling process (and the threads it starts later) to one CPU."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one: a client holds 1000+ sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    """A free loopback port, found by binding port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Per CPU: busy, total and interrupt jiffies since boot.
CoreTimes = dict[int, tuple[int, int, int]]


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, then SIGKILL: a bench never leaves a server behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_GRACE)


@contextlib.contextmanager
def managed(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` with its output in ``log``; stop it however the block ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_process(process)


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def core_times() -> CoreTimes:
    """Busy, total and interrupt jiffies of each CPU since boot (/proc/stat).

    Interrupt time (irq + softirq) is kept apart: loopback TCP work done for
    the server often runs there and is not charged to the server process.
    """
    times: CoreTimes = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            values = [int(value) for value in fields]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            total = sum(values[:8])
            interrupts = sum(values[5:7])
            times[int(name[3:])] = (total - idle, total, interrupts)
    return times


def core_share(before: CoreTimes, after: CoreTimes, cpu: int, part: int = 0) -> float:
    """Fraction of time ``cpu`` was busy (part 0: anyone's work; 2: interrupts)."""
    total = after[cpu][1] - before[cpu][1]
    return (after[cpu][part] - before[cpu][part]) / total if total > 0 else 0.0
