"""The demo agents and the grammar genus."""

from tests.loop_fixtures import flush_without_time_limits

__all__ = ["flush_without_time_limits"]
