"""Drop reports: a stage's lost outputs, told on its mirror without a storm of events.

An edge under a drop policy may lose thousands of outputs a second; one event
each would cost the agent more than the outputs did. So the first drop is
reflected at once and later ones are gathered: at most one ``drop`` event per
stage per ``interval``, each carrying, per edge, the drops since the previous
event and the running total.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from terrarium.pipeline.edge import Edge
from terrarium.pipeline.stage import Stage


class DropReport:
    """Coalesces one upstream stage's drops into ``drop`` events on its mirror."""

    #: Seconds between two ``drop`` events of one stage, at least.
    interval = 0.5

    def __init__(self, stage: Stage, pipeline_id: str) -> None:
        self.stage = stage
        self.pipeline_id = pipeline_id
        #: Drops not yet reported, by downstream id and reason, and the edges they were on.
        self._pending: dict[tuple[str, str], int] = {}
        self._edges: dict[str, Edge] = {}
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def note(self, edge: Edge) -> None:
        """An output was lost on ``edge``: report now, or with the next event."""
        key = (edge.downstream.id, "closed" if edge.closed else "full")
        self._pending[key] = self._pending.get(key, 0) + 1
        self._edges[edge.downstream.id] = edge
        if self._timer is not None:
            return
        wait = self._last + self.interval - time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # an inlet finalised after its loop closed: nothing to wait on
            loop = None
        if wait <= 0 or loop is None:
            self.flush()
        else:
            self._timer = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Reflect what is pending now (a stopping pipeline tells its last drops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        edges: list[dict[str, Any]] = [
            {
                "to": downstream,
                "policy": self._edges[downstream].policy,
                "reason": reason,
                "dropped": dropped,
                "total": self._edges[downstream].drops,
            }
            for (downstream, reason), dropped in self._pending.items()
        ]
        self._pending.clear()
        self._last = time.monotonic()
        self.stage.mirror.reflect("drop", {"pipeline": self.pipeline_id, "edges": edges})
