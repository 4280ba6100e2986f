"""The ``terrarium`` parser: global options here, each command's own declared by its module."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from terrarium.client.cli import agents, call, observe, perturb, purgatory

#: The command modules, in the order ``--help`` lists them; each has ``add_parser``.
COMMANDS = (agents, call, observe, perturb, purgatory)


def package_version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    try:
        return version("terrarium")
    except PackageNotFoundError:
        from terrarium import __version__

        return __version__


def _connection_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    parser.add_argument(
        "--url",
        default=default,
        help="the server, as it prints its URL (http://host:8888/lab?token=..., "
        ".../terrarium/?token=...) or just its base URL (default: $TERRARIUM_URL, else the "
        "newest running Jupyter server)",
    )
    parser.add_argument(
        "--token",
        default=default,
        help="Jupyter token (default: the one in --url, $TERRARIUM_TOKEN, $JUPYTER_TOKEN, "
        "else the server's own)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="terrarium",
        description="Watch and steer the agents of a running Terrarium server.",
        epilog="Exit codes: 0 done, 1 failed, 2 bad usage or arguments, 3 unreachable, "
        "4 not authorized, 5 not found.",
    )
    parser.add_argument("--version", action="version", version=f"terrarium {package_version()}")
    _connection_options(parser, default=None)
    # The same options after the subcommand; SUPPRESS keeps them from resetting the above.
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(commands, common)
    return parser
