"""The widgets' Python side: constructors, bundles, the comm transport."""

from tests.loop_fixtures import flush_without_time_limits

__all__ = ["flush_without_time_limits"]
