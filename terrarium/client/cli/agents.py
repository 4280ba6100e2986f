"""``terrarium agents``: every agent of the server, one row each, its genus included."""

from __future__ import annotations

import argparse

from terrarium.client.cli import connection
from terrarium.client.cli.exits import EXIT_OK
from terrarium.client.cli.output import compact, out, table


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    agents = commands.add_parser("agents", parents=[common], help="list the agents (a table)")
    agents.add_argument("--json", action="store_true", help="print the raw JSON")
    agents.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    agents = connection.client(args).agents()
    if args.json:
        out(compact(agents))
        return EXIT_OK
    if not agents:
        out("no agents")
        return EXIT_OK
    rows = [["ID", "GENUS", "STATE", "EVENTS", "OBSERVERS", "QUEUE", "PENDING", "COMMANDS"]]
    for agent in agents:
        rows.append(
            [
                str(agent["id"]),
                str(agent.get("genus") or "-"),
                str(agent["state"]),
                str(agent["events"]),
                str(agent["observers"]),
                str(agent["queue_depth"]),
                str(agent["pending_semaphores"]),
                ",".join(agent.get("commands", [])) or "-",
            ]
        )
    out(table(rows))
    return EXIT_OK
