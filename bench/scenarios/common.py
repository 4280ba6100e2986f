"""Pieces several scenarios share: the servers compared, and the columns they print."""

from __future__ import annotations

from bench.results import Column

#: Every server kind, in the order tables list them.
ALL_SERVERS = ("terrarium", "tornado", "websockets")
#: Far more events than any window needs: emissions are ended by ``/bench/stop``.
UNBOUNDED = 10_000_000

SERVER = Column("server", "server")
CORES = [
    Column("server_cpu", "srv cpu%", ".0f"),
    Column("server_core", "core0 busy%", ".0f"),
    Column("server_irq", "core0 irq%", ".0f"),
    Column("client_core", "core1 busy%", ".0f"),
]
