"""The backplane's one settings class, built from ``TerrariumApp``'s traits.

It imports nothing of Redis, so the gateway can read it while embedded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackplaneSettings:
    """How a replica takes part; every default suits a local pair of replicas."""

    #: ``redis://host:port/db``; empty: no backplane, every agent is in-process.
    redis_url: str = ""
    #: This replica's name among the others; empty: host, process id and a random suffix.
    replica_id: str = ""
    namespace: str = "terrarium"
    #: Events kept per agent's event stream in Redis, and buffered by its owner while
    #: Redis is away (at most; entries of up to 256 events are trimmed whole).
    stream_length: int = 10_000
    #: Bytes of events kept per agent's event stream, and buffered while Redis is away.
    stream_bytes: int = 64 * 1024 * 1024
    heartbeat_interval: float = 1.0
    #: A replica whose heartbeat is older than this is taken for dead.
    heartbeat_ttl: float = 5.0
    #: Seconds an unavailable agent stays listed after its owner's last heartbeat.
    dead_owner_grace: float = 300.0
    #: Seconds a follower keeps reading after its last observer left.
    follower_linger: float = 10.0
    #: Seconds a routed answer may take to come back, beyond the agent's own deadline.
    route_trip: float = 2.0
    #: Seconds a routed semaphore resolve or cancel may take.
    route_timeout: float = 10.0
    #: Redis connections this replica may hold; past it, a command waits for one.
    max_connections: int = 1000
    #: Seconds ``start()`` waits for Redis before carrying on in the background.
    startup_wait: float = 10.0

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)
