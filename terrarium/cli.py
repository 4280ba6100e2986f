"""``terrarium``: the command line of a running Terrarium server.

``terrarium call GENUS COMMAND --arg value`` builds its options from the
command's JSON Schema, fetched from the server, so every exposed command has
a command line without writing one. ``agents``, ``observe`` and ``perturb``
cover the rest of the protocol. The server validates every argument; the
command line only turns text into the JSON value the schema asks for.

Exit codes: 0 done; 1 the command, the agent or the server failed; 2 bad
usage or arguments that do not fit; 3 no server reachable; 4 not authorized
(a missing or wrong token); 5 no such agent, genus or command; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, NoReturn, TextIO

from terrarium.client import (
    ClientError,
    ServerError,
    TerrariumClient,
    Unreachable,
    find_server,
)
from terrarium.schema import CLIOption, cli_options, from_text

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_FORBIDDEN = 4
EXIT_NOT_FOUND = 5
EXIT_INTERRUPTED = 130


class Exit(Exception):
    """Stop with a message for the user and an exit code."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code


# -- the parser -----------------------------------------------------------------------------


def _connection_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    parser.add_argument(
        "--url",
        default=default,
        help="server URL, base URL included (default: $TERRARIUM_URL, else the newest "
        "running Jupyter server)",
    )
    parser.add_argument(
        "--token",
        default=default,
        help="Jupyter token (default: $TERRARIUM_TOKEN, $JUPYTER_TOKEN, else the server's own)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="terrarium",
        description="Watch and steer the agents of a running Terrarium server.",
        epilog="Exit codes: 0 done, 1 failed, 2 bad usage or arguments, 3 unreachable, "
        "4 not authorized, 5 not found.",
    )
    _connection_options(parser, default=None)
    # The same options after the subcommand; SUPPRESS keeps them from resetting the above.
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")

    agents = commands.add_parser("agents", parents=[common], help="list the agents (a table)")
    agents.add_argument("--json", action="store_true", help="print the raw JSON")

    call = commands.add_parser(
        "call",
        parents=[common],
        add_help=False,
        help="call a command of a genus: terrarium call GENUS COMMAND --arg value ...",
        description="Call a command of a genus. 'terrarium call GENUS' lists its commands; "
        "'terrarium call GENUS COMMAND --help' shows the command's arguments.",
    )
    call.add_argument("genus", nargs="?", help="the genus (agent kind), e.g. grammar")
    call.add_argument("command", nargs="?", help="the command, or one of its aliases")
    call.add_argument("--json", action="store_true", help="print the raw JSON result")
    call.add_argument("-h", "--help", action="store_true", help="show the command's arguments")
    call.set_defaults(subparser=call)

    observe = commands.add_parser(
        "observe", parents=[common], help="print an agent's stream, one line per event"
    )
    observe.add_argument("agent", help="the agent's id")
    observe.add_argument("--since", type=int, help="replay kept events after this seq")
    observe.add_argument(
        "--epoch",
        help="the epoch --since belongs to (from an earlier hello); another one starts over",
    )
    observe.add_argument("--json", action="store_true", help="print every frame as raw JSON")

    perturb = commands.add_parser(
        "perturb", parents=[common], help="send an agent a perturbation and print its output"
    )
    perturb.add_argument("agent", help="the agent's id")
    perturb.add_argument("data", help="the data, as JSON (taken as a string if it is not JSON)")
    perturb.add_argument("--priority", type=int, help="1-199, higher first (default 100)")
    perturb.add_argument("--timeout", type=float, help="seconds to wait for the output")
    perturb.add_argument("--json", action="store_true", help="print the raw reply")
    return parser


# -- output ---------------------------------------------------------------------------------


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(value: Any) -> str:
    """A result for a person: scalars as they are, an object as ``key: value`` lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and value:
        width = max(len(str(key)) for key in value)
        return "\n".join(
            f"{key!s:<{width}}  {item if isinstance(item, str) else _compact(item)}"
            for key, item in value.items()
        )
    if isinstance(value, list) and value:
        return "\n".join(item if isinstance(item, str) else _compact(item) for item in value)
    return _compact(value)


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _out(text: str, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout, flush=True)


# -- the actions ----------------------------------------------------------------------------


def run_agents(client: TerrariumClient, args: argparse.Namespace) -> int:
    agents = client.agents()
    if args.json:
        _out(_compact(agents))
        return EXIT_OK
    if not agents:
        _out("no agents")
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
    _out(table(rows))
    return EXIT_OK


def _find(listing: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    for command in listing.get("commands", []):
        if name == command["name"] or name in command.get("aliases", []):
            return dict(command)
    return None


def _example_line(genus: str, command: str, example: Mapping[str, Any]) -> str:
    words = ["terrarium", "call", genus, command]
    for name, value in example.items():
        words += [
            "--" + name.replace("_", "-"),
            value if isinstance(value, str) else _compact(value),
        ]
    return shlex.join(words)


def _type_label(schema: Mapping[str, Any]) -> str:
    """ "integer", "integer or null", "list of string": a property's type, for a person."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return " or ".join(_type_label(branch) for branch in branches)
    if "enum" in schema or "const" in schema:
        return "choice"
    if schema.get("type") == "array":
        return "list of " + _type_label(schema.get("items", {}))
    kind = schema.get("type", "JSON")
    return kind if isinstance(kind, str) else " or ".join(kind)


def _option_help(option: CLIOption) -> str:
    parts = [option.help] if option.help else []
    parts.append(_type_label(option.schema))
    if option.required:
        parts.append("required")
    elif option.has_default:
        parts.append(f"default: {_compact(option.default)}")
    return ", ".join(parts)


def command_parser(genus: str, description: Mapping[str, Any]) -> argparse.ArgumentParser:
    """An argparse parser for one command, from its listing entry (schemas included)."""
    name = description["name"]
    epilog = []
    if description.get("aliases"):
        epilog.append("aliases: " + ", ".join(description["aliases"]))
    if description.get("examples"):
        epilog.append("examples:")
        epilog += ["  " + _example_line(genus, name, ex) for ex in description["examples"]]
    parser = argparse.ArgumentParser(
        prog=f"terrarium call {genus} {name}",
        description=description.get("help") or None,
        epilog="\n".join(epilog) or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    group = parser.add_argument_group("arguments")
    for option in cli_options(description.get("arguments", {})):
        flags = (
            [option.flag]
            if option.flag == "--" + option.name
            else [option.flag, "--" + option.name]
        )
        if option.is_flag:
            group.add_argument(
                *flags,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=_option_help(option),
            )
        else:
            group.add_argument(
                *flags,
                dest=option.name,
                metavar=option.metavar,
                nargs="+" if option.is_list else None,
                default=None,
                help=_option_help(option),
            )
    return parser


def parse_command_arguments(
    genus: str, description: Mapping[str, Any], argv: Sequence[str]
) -> dict[str, Any]:
    """The JSON body for a command: only the options given, each coerced per its schema."""
    parser = command_parser(genus, description)
    namespace = parser.parse_args(list(argv))
    body: dict[str, Any] = {}
    for option in cli_options(description.get("arguments", {})):
        given = getattr(namespace, option.name)
        if given is None:
            continue
        if option.is_flag:
            body[option.name] = bool(given)
        elif option.is_list:
            body[option.name] = option.parse_list(given)
        else:
            body[option.name] = option.parse(given)
    return body


def free_arguments(argv: Sequence[str]) -> dict[str, Any]:
    """``--name value`` pairs for a command the listing does not show (a hidden one)."""
    body: dict[str, Any] = {}
    words = list(argv)
    while words:
        word = words.pop(0)
        if not word.startswith("--") or len(word) < 3:
            raise Exit(EXIT_USAGE, f"expected --name value, got {word!r}")
        name, _, value = word[2:].partition("=")
        if not value and "=" not in word:
            if not words:
                raise Exit(EXIT_USAGE, f"--{name} needs a value")
            value = words.pop(0)
        body[name.replace("-", "_")] = from_text(value, {})
    return body


def _flag_path(loc: Sequence[Any]) -> str:
    if not loc:
        return "arguments"
    head = "--" + str(loc[0]).replace("_", "-")
    return head + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])


def run_call(client: TerrariumClient, args: argparse.Namespace, extra: Sequence[str]) -> int:
    listing = client.genus(args.genus)
    if args.command is None:
        if extra:
            raise Exit(EXIT_USAGE, "name the command before its arguments")
        rows = [["COMMAND", "ALIASES", "HELP"]]
        for command in listing["commands"]:
            help_line = (command.get("help") or "").strip().split("\n", 1)[0]
            rows.append([command["name"], ",".join(command.get("aliases", [])) or "-", help_line])
        _out(f"{listing['genus']}: {listing.get('description', '')}".rstrip(": "))
        _out(table(rows) if len(rows) > 1 else "no commands")
        return EXIT_OK
    description = _find(listing, args.command)
    if args.help:
        if description is None:
            raise Exit(EXIT_NOT_FOUND, f"genus {args.genus!r} lists no command {args.command!r}")
        command_parser(args.genus, description).print_help()
        return EXIT_OK
    if description is None:
        body = free_arguments(extra)
    else:
        body = parse_command_arguments(args.genus, description, extra)
    try:
        result = client.call(args.genus, args.command, body)
    except ServerError as error:
        if error.code != "validation":
            raise
        name = f"{args.genus} {args.command}"
        lines = [f"the arguments of {name!r} do not fit:"]
        for detail in error.body.get("details", []):
            lines.append(f"  {_flag_path(detail.get('loc', []))}: {detail.get('msg')}")
        raise Exit(EXIT_USAGE, "\n".join(lines)) from None
    _out(_compact(result) if args.json else render(result))
    return EXIT_OK


def _clock(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def event_line(frame: Mapping[str, Any]) -> str:
    """``12  14:03:21.120  result  {"output":...}``: one event, one line."""
    return f"{frame.get('seq')}  {_clock(frame.get('ts'))}  {frame.get('type')}  " + _compact(
        frame.get("data", {})
    )


async def _observe(client: TerrariumClient, args: argparse.Namespace) -> int:
    async with contextlib.aclosing(client.observe(args.agent, args.since, args.epoch)) as frames:
        return await _print_frames(frames, args)


async def _print_frames(frames: AsyncIterator[Any], args: argparse.Namespace) -> int:
    async for frame in frames:
        kind = frame.get("type") if isinstance(frame, dict) else None
        if args.json:
            _out(_compact(frame))
        elif kind == "hello":
            snapshot = frame.get("snapshot", {})
            if frame.get("reset"):
                _out(
                    f"# ---- the stream started over (epoch {frame.get('epoch')}): "
                    "seqs below restart from its kept history ----",
                    sys.stderr,
                )
            _out(
                f"# observing {frame.get('agent_id')}: {snapshot.get('state')}, "
                f"seq {frame.get('seq')}, epoch {frame.get('epoch')}, "
                f"{snapshot.get('observers')} observer(s)",
                sys.stderr,
            )
        elif kind == "gap":
            _out(f"# gap: events {frame.get('from')} to {frame.get('to')} were missed", sys.stderr)
        elif kind != "pong":
            _out(event_line(frame))
            state = frame.get("data", {}).get("state") if kind == "state" else None
            if state == "unavailable":
                _out("# the server that ran this agent is gone; waiting for another", sys.stderr)
            elif state == "available":
                _out("# another server runs this agent now", sys.stderr)
    _out("# the server closed the stream", sys.stderr)
    return EXIT_FAILED


def _perturb_data(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


_PERTURB_EXIT = {"bad_request": EXIT_USAGE}


async def _perturb(client: TerrariumClient, args: argparse.Namespace) -> int:
    replies = client.replies(
        args.agent,
        _perturb_data(args.data),
        priority=args.priority,
        perturbation_timeout=args.timeout,
    )
    async with contextlib.aclosing(replies):
        return await _print_replies(replies, args)


async def _print_replies(replies: AsyncIterator[dict[str, Any]], args: argparse.Namespace) -> int:
    async for reply in replies:
        kind = reply.get("type")
        if args.json:
            _out(_compact(reply))
        if kind == "semaphore":
            token = reply.get("token", {})
            _out(
                f"# waiting for a human: [{token.get('severity')}] {token.get('prompt')} "
                f"(token {token.get('id')}, options {', '.join(token.get('options', []))})",
                sys.stderr,
            )
        elif kind == "result":
            if not args.json:
                _out(render(reply.get("output")))
            return EXIT_OK
        elif kind == "error":
            code = str(reply.get("code"))
            raise Exit(_PERTURB_EXIT.get(code, EXIT_FAILED), f"{code}: {reply.get('message')}")
    raise Exit(EXIT_FAILED, "the server closed the socket before answering")


# -- main -----------------------------------------------------------------------------------


def _server_error(error: ServerError) -> Exit:
    if error.status in (401, 403):
        return Exit(
            EXIT_FORBIDDEN,
            f"not authorized (HTTP {error.status}): check --token, $TERRARIUM_TOKEN or "
            f"$JUPYTER_TOKEN (the server said: {error})",
        )
    if error.status == 404:
        return Exit(EXIT_NOT_FOUND, str(error))
    if error.code == "command_error":
        return Exit(EXIT_FAILED, f"the command raised {error.body.get('error_type')}: {error}")
    if error.status == 400:
        return Exit(EXIT_USAGE, f"{error.code}: {error}")
    return Exit(EXIT_FAILED, f"{error.code} ({error.status}): {error}")


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.action == "call" and args.genus is None:
        call: argparse.ArgumentParser = args.subparser
        if args.help:
            call.print_help()
            return EXIT_OK
        call.error("name a GENUS (and a COMMAND)")
    elif args.action != "call" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        client = TerrariumClient(find_server(args.url, args.token))
        if args.action == "agents":
            return run_agents(client, args)
        if args.action == "call":
            return run_call(client, args, extra)
        if args.action == "observe":
            try:
                return asyncio.run(_observe(client, args))
            except KeyboardInterrupt:
                return EXIT_OK
        return asyncio.run(_perturb(client, args))
    except ServerError as error:
        raise _server_error(error) from None
    except Unreachable as error:
        raise Exit(EXIT_UNREACHABLE, str(error)) from None
    except ClientError as error:
        raise Exit(EXIT_FAILED, str(error)) from None


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console script ``terrarium``."""
    try:
        code = run(argv)
    except Exit as stop:
        if str(stop):
            print(f"terrarium: {stop}", file=sys.stderr)
        code = stop.code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code)
