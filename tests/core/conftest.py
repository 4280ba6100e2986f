"""The core's tests: flux agents, the mirror, the queue, the registry, metrics, sources."""

from tests.loop_fixtures import flush_without_time_limits

__all__ = ["flush_without_time_limits"]
