"""The shape of a pipeline: stage ids and the edges between them, never a cycle.

Kept apart from agents and queues so the rules of composition (no cycle,
upstream before downstream) are plain data and easy to check on a trial copy
before anything is wired.
"""

from __future__ import annotations


class StageGraph:
    """A directed acyclic graph of stage ids, in the order they were added."""

    def __init__(self) -> None:
        self._down: dict[str, list[str]] = {}
        self._up: dict[str, list[str]] = {}

    def __contains__(self, node: object) -> bool:
        return node in self._down

    def copy(self) -> StageGraph:
        twin = StageGraph()
        twin.absorb(self)
        return twin

    def add(self, node: str) -> None:
        self._down.setdefault(node, [])
        self._up.setdefault(node, [])

    def absorb(self, other: StageGraph) -> None:
        """Add another graph's nodes and edges (their ids must not form a cycle here)."""
        for node in other._down:
            self.add(node)
        for upstream, downstream in other.edges():
            if downstream not in self._down[upstream]:
                self.connect(upstream, downstream)

    @property
    def nodes(self) -> list[str]:
        return list(self._down)

    def edges(self) -> list[tuple[str, str]]:
        return [(up, down) for up, downs in self._down.items() for down in downs]

    def upstream(self, node: str) -> list[str]:
        return list(self._up.get(node, ()))

    def downstream(self, node: str) -> list[str]:
        return list(self._down.get(node, ()))

    def heads(self) -> list[str]:
        """Nodes nothing flows into: where data enters."""
        return [node for node, ups in self._up.items() if not ups]

    def tails(self) -> list[str]:
        """Nodes that flow into nothing: where data leaves."""
        return [node for node, downs in self._down.items() if not downs]

    def cycle_through(self, upstream: str, downstream: str) -> list[str] | None:
        """The cycle an edge ``upstream -> downstream`` would close, as a walk, or None.

        The walk starts and ends at ``downstream``: ``["a", "b", "a"]`` for an
        edge ``b -> a`` added to ``a -> b``.
        """
        if upstream == downstream:
            return [downstream, downstream]
        path = self._path(downstream, upstream)
        return None if path is None else [*path, downstream]

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A path from ``start`` to ``goal`` along the edges (depth first), or None."""
        if start not in self._down:
            return None
        came_from: dict[str, str | None] = {start: None}
        stack = [start]
        while stack:
            node = stack.pop()
            if node == goal:
                path: list[str] = []
                step: str | None = node
                while step is not None:
                    path.append(step)
                    step = came_from[step]
                return path[::-1]
            for child in self._down[node]:
                if child not in came_from:
                    came_from[child] = node
                    stack.append(child)
        return None

    def connect(self, upstream: str, downstream: str) -> None:
        """Add an edge; ``ValueError`` if it exists or would close a cycle."""
        self.add(upstream)
        self.add(downstream)
        if downstream in self._down[upstream]:
            raise ValueError(f"{upstream} -> {downstream} is already connected")
        cycle = self.cycle_through(upstream, downstream)
        if cycle is not None:
            raise ValueError("cycle: " + " -> ".join(cycle))
        self._down[upstream].append(downstream)
        self._up[downstream].append(upstream)

    def order(self) -> list[str]:
        """Every node after all of its upstream nodes; ties in the order they were added."""
        waiting = {node: len(ups) for node, ups in self._up.items()}
        ready = [node for node, count in waiting.items() if count == 0]
        ordered: list[str] = []
        while ready:
            node = ready.pop(0)
            ordered.append(node)
            for child in self._down[node]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        return ordered
