"""``python -m bench [--quick] [--only SCENARIO ...]``: run the scenarios, judge T1-T8.

``--server KIND`` and ``--observers N`` narrow a run for investigation; the
targets are then not judged, since they compare every server.

Prints one table per scenario as it finishes, then the targets, and writes
everything (with the machine it ran on) to ``bench/results/latest.json``.
A scenario that fails is reported and the others still run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shutil
import sys
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.context import BenchContext
from bench.fleet import Fleet
from bench.procs import CpuPlan, pin, raise_fd_limit
from bench.profile import FULL, QUICK
from bench.results import Table
from bench.scenarios import SCENARIOS, by_name
from bench.scenarios.common import ALL_SERVERS
from bench.targets import evaluate, render

RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _machine(cpus: CpuPlan, profile_name: str) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "profile": profile_name,
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            name: version(name) for name in ("tornado", "jupyter_server", "websockets", "terrarium")
        },
        "pinning": cpus.describe(),
        "load_average_at_start": os.getloadavg(),
    }


def _contention(tables: dict[str, Table]) -> dict[str, float]:
    """Mean and worst share of each core taken by work outside the bench, over all windows."""
    found: dict[str, float] = {}
    for key, core in (("server_other", "core0"), ("client_other", "core1")):
        values = [row[key] for table in tables.values() for row in table.rows if key in row]
        if values:
            found[f"{core}_other_mean"] = round(sum(values) / len(values), 1)
            found[f"{core}_other_max"] = round(max(values), 1)
    return found


def _run_one(module: Any, context_args: dict[str, Any]) -> Table:
    started = time.monotonic()
    try:
        with Fleet(context_args["cpus"].clients) as fleet:
            table: Table = module.run(BenchContext(fleet=fleet, **context_args))
    except Exception as error:
        traceback.print_exc()
        table = Table(module.NAME, module.TITLE, [], error=f"{type(error).__name__}: {error}")
    table.seconds = time.monotonic() - started
    return table


def main(argv: list[str] | None = None) -> int:
    names = [module.NAME for module in SCENARIOS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: N up to 100, short runs")
    parser.add_argument(
        "--only", action="append", choices=names, metavar="SCENARIO", help=", ".join(names)
    )
    parser.add_argument(
        "--server",
        action="append",
        choices=ALL_SERVERS,
        help="run only these servers (repeatable); targets need all of them",
    )
    parser.add_argument(
        "--observers",
        action="append",
        type=int,
        metavar="N",
        help="observer counts for saturation and attach (repeatable), instead of the profile's",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    profile = QUICK if args.quick else FULL
    if args.observers:
        profile = dataclasses.replace(profile, observers=tuple(args.observers))
    only_servers = tuple(args.server) if args.server else None
    cpus = CpuPlan.detect()
    pin(cpus.clients)
    raise_fd_limit()
    logs = RESULTS / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    machine = _machine(cpus, profile.name)
    print(
        f"Terrarium bench, {profile.name} profile: {machine['cpus']} CPUs "
        f"({machine['cpu_model']}), {cpus.describe()}, "
        f"load average {machine['load_average_at_start'][0]:.2f}",
        flush=True,
    )
    started = time.monotonic()
    tables: dict[str, Table] = {}
    if args.only:
        modules = [by_name(name) for name in args.only]
    else:
        modules = [module for module in SCENARIOS if module.NAME not in profile.skipped]
        for name in profile.skipped:
            print(f"({name} is left out of the {profile.name} run; --only {name} runs it)")
    for module in modules:
        table = _run_one(
            module, {"profile": profile, "cpus": cpus, "logs": logs, "only_servers": only_servers}
        )
        tables[table.name] = table
        print("\n" + table.render(), flush=True)
    verdicts = evaluate(tables) if only_servers is None else []
    total = time.monotonic() - started
    contention = _contention(tables)
    machine["contention"] = contention
    if only_servers is None:
        print("\n" + render(verdicts))
    else:
        print("\nTargets not judged: --server narrowed the run.")
    if contention:
        print(
            f"Other work on the server core: {contention.get('core0_other_mean', 0):.0f}% on "
            f"average, {contention.get('core0_other_max', 0):.0f}% at worst; on the clients' "
            f"core: {contention.get('core1_other_mean', 0):.0f}% / "
            f"{contention.get('core1_other_max', 0):.0f}%."
            + (
                " The machine was shared: figures are pessimistic."
                if contention.get("core0_other_mean", 0) > 10
                else ""
            )
        )
    print(f"\nTotal {total:.0f} s; results in {args.json}; server logs in {logs}")
    machine["load_average_at_end"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": machine,
                "seconds": round(total, 1),
                "scenarios": {name: table.as_json() for name, table in tables.items()},
                "targets": [verdict.as_json() for verdict in verdicts],
            },
            indent=2,
        )
    )
    return 1 if any(table.error for table in tables.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
