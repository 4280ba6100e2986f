"""One run of the command line: parse, run the command, and turn every failure into an exit code."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from terrarium.client.api import ClientError
from terrarium.client.cli.connection import failure
from terrarium.client.cli.exits import EXIT_INTERRUPTED, Exit
from terrarium.client.cli.parser import build_parser


def run(argv: Sequence[str] | None = None) -> int:
    """The exit code of one command line; a failure for the user is raised as ``Exit``."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        code: int = args.handler(args)
    except ClientError as error:
        raise failure(error) from None
    return code


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
