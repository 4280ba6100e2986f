"""One timer for many deadlines.

Every perturbation has a deadline, and almost every one is answered long
before it. A timer per perturbation would put a handle on the loop's heap for
each request (and a cancelled one left behind after it); the watch keeps one
timer, armed for the earliest deadline still pending, and asks its owner what
is due only when that timer fires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class DeadlineWatch:
    """Calls ``expire_due(now)`` once the earliest armed deadline has passed.

    ``expire_due`` answers everything due by ``now`` and returns the earliest
    deadline still pending (None for none), which the watch re-arms for. A
    deadline later than the armed one costs nothing: whatever is pending when
    the timer fires is re-armed from then.
    """

    __slots__ = ("_armed_at", "_expire_due", "_loop", "_timer")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, expire_due: Callable[[float], float | None]
    ) -> None:
        self._loop = loop
        self._expire_due = expire_due
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = 0.0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def armed_at(self) -> float | None:
        """The loop time the timer fires at, or None when nothing is armed."""
        return self._armed_at if self._timer is not None else None

    def arm(self, deadline: float) -> None:
        if self._timer is not None:
            if deadline >= self._armed_at:
                return
            self._timer.cancel()
        self._armed_at = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        # The loop runs a timer up to its clock resolution early: what it was armed for is due.
        following = self._expire_due(max(self._loop.time(), self._armed_at))
        if following is not None:
            self.arm(following)
