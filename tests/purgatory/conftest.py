"""Purgatory's tests: tokens, stores, and semaphores that never block the stream."""

from tests.loop_fixtures import flush_without_time_limits

__all__ = ["flush_without_time_limits"]
