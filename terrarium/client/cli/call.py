"""``terrarium call``: the genera, a genus' commands, and calling one through Prism.

``terrarium call`` lists the genera, ``terrarium call GENUS`` a genus'
commands, and ``terrarium call GENUS COMMAND --arg value`` runs one, its
options built from the command's JSON Schema as the server lists it.
"""

from __future__ import annotations

import argparse
from typing import Any

from terrarium.client.api import ServerError, TerrariumClient
from terrarium.client.cli import connection
from terrarium.client.cli.arguments import (
    command_parser,
    find_command,
    flag_path,
    free_arguments,
    parse_command_arguments,
)
from terrarium.client.cli.exits import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, Exit
from terrarium.client.cli.output import compact, out, render, table


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    call = commands.add_parser(
        "call",
        parents=[common],
        add_help=False,
        help="call a command of a genus: terrarium call GENUS COMMAND --arg value ...",
        description="Call a command of a genus. 'terrarium call' lists the genera, "
        "'terrarium call GENUS' its commands; "
        "'terrarium call GENUS COMMAND --help' shows the command's arguments.",
    )
    call.add_argument("genus", nargs="?", help="the genus (agent kind), e.g. grammar")
    call.add_argument("command", nargs="?", help="the command, or one of its aliases")
    call.add_argument("--json", action="store_true", help="print the raw JSON result")
    call.add_argument("-h", "--help", action="store_true", help="show the command's arguments")
    call.set_defaults(handler=run, subparser=call, takes_extra=True)


def run(args: argparse.Namespace) -> int:
    if args.genus is None:
        if args.help:
            args.subparser.print_help()
            return EXIT_OK
        if args.extra:
            raise Exit(EXIT_USAGE, "name a GENUS (and a COMMAND) before the arguments")
        return list_genera(connection.client(args), args)
    client = connection.client(args)
    listing = client.genus(args.genus)
    if args.command is None:
        if args.extra:
            raise Exit(EXIT_USAGE, "name the command before its arguments")
        return list_commands(listing, args)
    description = find_command(listing, args.command)
    if args.help:
        if description is None:
            raise Exit(EXIT_NOT_FOUND, f"genus {args.genus!r} lists no command {args.command!r}")
        command_parser(args.genus, description).print_help()
        return EXIT_OK
    if description is None:
        body = free_arguments(args.extra)
    else:
        body = parse_command_arguments(args.genus, description, args.extra)
    try:
        result = client.call(args.genus, args.command, body)
    except ServerError as error:
        if error.code != "validation":
            raise
        name = f"{args.genus} {args.command}"
        lines = [f"the arguments of {name!r} do not fit:"]
        for detail in error.body.get("details", []):
            lines.append(f"  {flag_path(detail.get('loc', []))}: {detail.get('msg')}")
        raise Exit(EXIT_USAGE, "\n".join(lines)) from None
    out(compact(result) if args.json else render(result))
    return EXIT_OK


def list_genera(client: TerrariumClient, args: argparse.Namespace) -> int:
    """The genera, each with its commands and the agents of that genus."""
    genera = client.genera()
    if args.json:
        out(compact(genera))
        return EXIT_OK
    if not genera:
        out("no genera")
        return EXIT_OK
    members: dict[str, list[str]] = {}
    for agent in client.agents():
        if agent.get("genus"):
            members.setdefault(str(agent["genus"]), []).append(str(agent["id"]))
    rows = [["GENUS", "COMMANDS", "AGENTS", "DESCRIPTION"]]
    for genus in genera:
        name = str(genus["genus"])
        rows.append(
            [
                name,
                ",".join(genus["commands"]) or "-",
                ",".join(members.get(name, [])) or "-",
                str(genus.get("description") or ""),
            ]
        )
    out(table(rows))
    return EXIT_OK


def list_commands(listing: dict[str, Any], args: argparse.Namespace) -> int:
    """One genus' commands, their aliases and the first line of their help."""
    if args.json:
        out(compact(listing))
        return EXIT_OK
    rows = [["COMMAND", "ALIASES", "HELP"]]
    for command in listing.get("commands", []):
        help_line = (command.get("help") or "").strip().split("\n", 1)[0]
        rows.append([command["name"], ",".join(command.get("aliases", [])) or "-", help_line])
    out(f"{listing['genus']}: {listing.get('description', '')}".rstrip(": "))
    out(table(rows) if len(rows) > 1 else "no commands")
    return EXIT_OK
