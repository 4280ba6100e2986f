"""``terrarium``: the command line of a running Terrarium server.

``terrarium call GENUS COMMAND --arg value`` builds its options from the
command's JSON Schema, fetched from the server, so every exposed command has
a command line without writing one. ``agents``, ``observe``, ``perturb``,
``pending``, ``resolve`` and ``cancel`` cover the rest of the protocol. The
server validates every argument; the command line only turns text into the
JSON value the schema asks for.

One module per concern: ``parser`` (the global options; each command module
adds its own), ``arguments`` (parsers from a command's schema), ``output``
and ``times`` (what people read), ``countdown`` (a wait shown live),
``connection`` (reaching the server, failures as exit codes), ``exits``, the
commands (``agents``, ``call``, ``observe``, ``perturb``, ``purgatory``) and
``main`` (one run). The console script is ``terrarium.client.cli:main``.

Exit codes: 0 done; 1 the command, the agent or the server failed; 2 bad
usage or arguments that do not fit; 3 no server reachable; 4 not authorized
(a missing or wrong token); 5 no such agent, genus, command or token; 130
interrupted.
"""

from terrarium.client.cli.arguments import command_parser, free_arguments, parse_command_arguments
from terrarium.client.cli.exits import (
    EXIT_FAILED,
    EXIT_FORBIDDEN,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Exit,
)
from terrarium.client.cli.main import main, run
from terrarium.client.cli.output import render
from terrarium.client.cli.parser import build_parser

__all__ = [
    "EXIT_FAILED",
    "EXIT_FORBIDDEN",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "Exit",
    "build_parser",
    "command_parser",
    "free_arguments",
    "main",
    "parse_command_arguments",
    "render",
    "run",
]
