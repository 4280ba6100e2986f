"""The wait for a human, shown live: a countdown line redrawn in place on a terminal.

On a terminal the line is rewritten each second (a carriage return, no
escape codes) until ``stop()`` wipes it. Anywhere else (a pipe, a log) a
redrawn line would only be noise, so it is printed once, as a plain line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TextIO

from terrarium.client.cli.times import clock, duration


def countdown_text(deadline: float | None, started: float, now: float) -> str:
    """``waiting for a human: 4 min 59 s left (until 14:05:00)``, at ``now``."""
    if deadline is None:
        return f"waiting for a human for {duration(now - started, precise=True)} (no deadline)"
    left = deadline - now
    if left <= 0:
        return (
            f"waiting for a human: the deadline ({clock(deadline, now)}) passed "
            f"{duration(-left, precise=True)} ago; the server voids the token"
        )
    left_text = duration(left, precise=True)
    return f"waiting for a human: {left_text} left (until {clock(deadline, now)})"


class Countdown:
    """A countdown to ``deadline`` (epoch seconds, or None) on ``stream`` while a task runs it."""

    def __init__(
        self,
        deadline: float | None,
        stream: TextIO,
        *,
        live: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.deadline = deadline
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.clock = clock
        self.started = clock()
        self._task: asyncio.Task[None] | None = None
        self._width = 0

    def start(self) -> Countdown:
        """Print the line: once, or (live) redrawn by a task until ``stop()``."""
        if not self.live:
            self._write(f"# {self.plain()}\n")
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def plain(self) -> str:
        """The one line printed when not live: the deadline as a time and as a wait."""
        now = self.clock()
        if self.deadline is None:
            return "waiting for a human (no deadline)"
        left = self.deadline - now
        wait = f"in {duration(left)}" if left >= 1 else "now"
        return f"waiting for a human until {clock(self.deadline, now)} ({wait})"

    async def stop(self) -> None:
        """End the redrawing and wipe the line, leaving the cursor where it began."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width = 0

    async def _run(self) -> None:
        while True:
            now = self.clock()
            self._draw(f"# {countdown_text(self.deadline, self.started, now)}")
            # Redraw just after the whole seconds shown change.
            reference = self.deadline if self.deadline is not None else self.started
            await asyncio.sleep((reference - now) % 1.0 + 0.02)

    def _draw(self, line: str) -> None:
        padding = max(0, self._width - len(line))
        self._write("\r" + line + " " * padding)
        self._width = max(self._width, len(line))

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
