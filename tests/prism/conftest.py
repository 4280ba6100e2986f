"""Prism's tests: exposed commands and the type-hint schemas."""

from tests.loop_fixtures import flush_without_time_limits

__all__ = ["flush_without_time_limits"]
