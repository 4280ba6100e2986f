"""Reaching the server: a client from ``--url``/``--token``, and each failure as an exit code.

Every command reaches the server through ``client()`` and lets
``ClientError`` propagate; ``failure()`` turns it into the exit code and the
one-line message the user sees, never a traceback.
"""

from __future__ import annotations

import argparse

from terrarium.client.api import (
    BadURL,
    ClientError,
    ServerError,
    TerrariumClient,
    Unreachable,
    find_server,
)
from terrarium.client.cli.exits import (
    EXIT_FAILED,
    EXIT_FORBIDDEN,
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Exit,
)


def client(args: argparse.Namespace) -> TerrariumClient:
    """The client of the server the options, the environment or the runtime files name."""
    return TerrariumClient(find_server(args.url, args.token))


def server_error(error: ServerError) -> Exit:
    """The server's refusal as an exit: 4 not authorized, 5 not found, 2 bad request, else 1."""
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


def failure(error: ClientError) -> Exit:
    """Any client error as an exit."""
    if isinstance(error, ServerError):
        return server_error(error)
    if isinstance(error, BadURL):
        return Exit(EXIT_USAGE, f"{error} (expected e.g. http://127.0.0.1:8888/?token=...)")
    if isinstance(error, Unreachable):
        return Exit(EXIT_UNREACHABLE, str(error))
    return Exit(EXIT_FAILED, str(error))
