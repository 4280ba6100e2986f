"""Semaphore tokens, at the import path agents have always used.

The tokens live in ``terrarium.purgatory.tokens``; this module keeps
``from terrarium.semaphore import eject`` working.
"""

from terrarium.purgatory.tokens import (
    SEVERITIES,
    ReentryContext,
    SemaphoreReason,
    SemaphoreToken,
    eject,
)

__all__ = ["SEVERITIES", "ReentryContext", "SemaphoreReason", "SemaphoreToken", "eject"]
