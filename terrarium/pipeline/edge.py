"""An edge: one stage's outputs on their way to the next stage, with live stats.

The upstream agent delivers into an edge as into any output subscription
(``FluxAgent.subscribe``), so its own ``output_policy`` applies unchanged:
under ``block`` the edge is a bounded queue and the upstream waits while it is
full; under the drop policies the edge never looks full to the agent and drops
by itself, so that every loss is counted and can be reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from terrarium.events import finite
from terrarium.pipeline.rate import RateWindow
from terrarium.pipeline.stage import OutputPolicy, Stage
from terrarium.protocol import PipelineEdge


def _nothing() -> None:
    return None


def _ignore(_: Edge) -> None:
    return None


class Edge(asyncio.Queue[Any]):
    """A bounded queue from ``upstream`` to ``downstream`` that counts what crosses it."""

    def __init__(
        self,
        upstream: Stage,
        downstream: Stage,
        *,
        capacity: int | None = None,
        flow: RateWindow | None = None,
    ) -> None:
        capacity = upstream.config.output_buffer if capacity is None else capacity
        if capacity < 1:
            raise ValueError("an edge's capacity must be at least 1")
        policy: OutputPolicy = upstream.config.output_policy
        super().__init__(capacity if policy == "block" else 0)
        self.upstream = upstream
        self.downstream = downstream
        self.capacity = capacity
        self.policy: OutputPolicy = policy
        #: Items the downstream took off the edge, and at what rate lately.
        self.delivered = 0
        self.flow = flow or RateWindow()
        #: Items lost: the edge was full (drop policies), or nobody reads it any more.
        self.drops = 0
        #: Times the upstream found the edge full and waited (``block``).
        self.waits = 0
        #: Set once the downstream reads no more: everything put is dropped.
        self.closed = False
        #: Wakes the downstream's inlet after each put.
        self.on_put: Callable[[], None] = _nothing
        #: Told of each drop (the pipeline coalesces drops into ``drop`` events).
        self.on_drop: Callable[[Edge], None] = _ignore

    def __repr__(self) -> str:
        return f"<Edge {self.upstream.id} -> {self.downstream.id} {self.qsize()}/{self.capacity}>"

    @property
    def depth(self) -> int:
        return self.qsize()

    def put_nowait(self, item: Any) -> None:
        if self.closed:
            self._drop()
            return
        if self.policy != "block" and self.qsize() >= self.capacity:
            if self.policy == "drop_newest":
                self._drop()
                return
            super().get_nowait()
            self._drop()
        super().put_nowait(item)
        self.on_put()

    async def put(self, item: Any) -> None:
        if self.full():
            self.waits += 1
        await super().put(item)

    def take(self) -> Any:
        """The oldest item, for the downstream (``QueueEmpty`` if there is none)."""
        item = self.get_nowait()
        self.delivered += 1
        self.flow.add()
        return item

    def close(self) -> None:
        """The downstream reads no more: drop what waits here and all that comes.

        Emptying the queue also frees an upstream waiting for room, whose
        output is then dropped too, so no stage waits on a reader that is gone.
        """
        self.closed = True
        while not self.empty():
            super().get_nowait()
            self._drop()

    def _drop(self) -> None:
        self.drops += 1
        self.on_drop(self)

    def describe(self) -> PipelineEdge:
        return {
            "from": self.upstream.id,
            "to": self.downstream.id,
            "rate": round(finite(self.flow.rate()), 3),
            "depth": self.qsize(),
            "capacity": self.capacity,
            "drops": self.drops,
            "delivered": self.delivered,
            "policy": self.policy,
            "waits": self.waits,
            "closed": self.closed,
        }
