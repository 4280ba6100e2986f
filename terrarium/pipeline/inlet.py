"""A stage's source in a pipeline: what its upstream edges deliver, taken in turn.

The stage's pump reads an inlet like any other source, so a stage is an
ordinary flux agent. An inlet ends only when the pipeline closes it (every
upstream has stopped) and its edges are empty; when the stage stops reading
it for any other reason (stopped, collapsed, killed), its edges are closed so
no upstream waits for a reader that is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from terrarium.pipeline.edge import Edge


class Inlet:
    """Merges a stage's incoming edges fairly (round robin) into one source."""

    def __init__(self) -> None:
        self.edges: list[Edge] = []
        self._closed = False
        self._doorbell = asyncio.Event()

    def add(self, edge: Edge) -> None:
        edge.on_put = self._doorbell.set
        self.edges.append(edge)
        self._doorbell.set()

    def close(self) -> None:
        """No more will be put: end once the edges are empty."""
        self._closed = True
        self._doorbell.set()

    def shut(self) -> None:
        """Close, and drop (counted) whatever the stage will never read."""
        self.close()
        for edge in self.edges:
            edge.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        turn = 0
        try:
            while True:
                edges = self.edges
                for step in range(len(edges)):
                    edge = edges[(turn + step) % len(edges)]
                    if not edge.empty():
                        turn = (turn + step + 1) % len(edges)
                        yield edge.take()
                        break
                else:
                    if self._closed:
                        return
                    self._doorbell.clear()
                    await self._doorbell.wait()
        finally:
            for edge in self.edges:
                edge.close()
