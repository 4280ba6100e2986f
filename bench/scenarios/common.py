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
    Column("server_irq", "irq%", ".0f"),
    Column("server_other", "core0 other%", ".0f"),
    Column("client_cpu", "client cpu%", ".0f"),
    Column("client_other", "core1 other%", ".0f"),
]
CORE_NOTES = [
    "srv cpu% = the server process; irq% = interrupt time on its core (loopback TCP",
    "work, not charged to the process); other% = work on that core by anything else",
    "(the machine may be shared: a high figure makes the row pessimistic).",
]
