"""Reaching a running Terrarium server from Python, a kernel or a shell.

``api`` finds the server and speaks its REST routes and sockets
(``TerrariumClient``, ``connect()``), ``history`` is the kept history
``client.events()`` returns (with its pandas view), ``publish`` shows a
kernel's agent on the server, and ``cli`` is the ``terrarium`` command built
on them.
"""

from terrarium.client.api import (
    BadURL,
    ClientError,
    PerturbationFailed,
    Server,
    ServerError,
    TerrariumClient,
    Unreachable,
    connect,
    find_server,
    normalise_url,
    running_servers,
    server_url,
)
from terrarium.client.history import EventHistory

__all__ = [
    "BadURL",
    "ClientError",
    "EventHistory",
    "PerturbationFailed",
    "Server",
    "ServerError",
    "TerrariumClient",
    "Unreachable",
    "connect",
    "find_server",
    "normalise_url",
    "running_servers",
    "server_url",
]
