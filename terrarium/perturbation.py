"""Perturbations and the bounded priority queue they wait in.

Higher priority is served first, FIFO within a priority. The queue refuses
rather than drops: a full queue raises ``QueueFull`` to the caller.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from terrarium.errors import BadRequest, QueueFull

DEFAULT_PRIORITY: Final = 100
#: The top priority, kept for resumed semaphores; clients use 1..199.
REENTRY_PRIORITY: Final = 200


def new_perturbation_id() -> str:
    """16 random hex digits (64 bits): no UUID object and no system call per request.

    Ids name perturbations, they guard nothing, so the interpreter's own
    generator (seeded from the OS) is enough.
    """
    return f"{random.getrandbits(64):016x}"


@dataclass(eq=False, slots=True)
class Perturbation:
    """One injected input, with the future its caller waits on."""

    data: Any
    priority: int = DEFAULT_PRIORITY
    timeout: float | None = None
    by: str | None = None
    id: str = field(default_factory=new_perturbation_id)
    future: asyncio.Future[Any] | None = None
    #: Loop time by which the caller is answered, ``timeout`` if by nothing else.
    deadline: float | None = None
    #: Called with the future as soon as it resolves, in the same loop iteration (a
    #: future's own callbacks wait for the next one): the Beam answers from here.
    on_settled: Callable[[asyncio.Future[Any]], None] | None = None

    @staticmethod
    def check_priority(priority: object, *, allow_reentry: bool = False) -> int:
        """Validate a client-supplied priority (an int in 1..199).

        ``100.0`` is the integer 100 in JSON (and in JSON Schema), so it is taken as one.
        """
        top = REENTRY_PRIORITY if allow_reentry else REENTRY_PRIORITY - 1
        if isinstance(priority, float) and priority.is_integer():
            priority = int(priority)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise BadRequest("priority must be an integer")
        if not 1 <= priority <= top:
            raise BadRequest(f"priority must be between 1 and {top}")
        return priority

    @staticmethod
    def check_timeout(timeout: object) -> float | None:
        if timeout is None:
            return None
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise BadRequest("timeout must be a number of seconds")
        if not 0 < timeout < 86400:
            raise BadRequest("timeout must be positive and under a day")
        return float(timeout)


class PerturbationQueue:
    """A heap bounded at ``capacity``: priority first, then arrival order."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._heap: list[tuple[int, int, Perturbation]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, perturbation: Perturbation, *, force: bool = False) -> None:
        """Queue, or raise ``QueueFull``; ``force`` is for reentries, never refused."""
        if len(self._heap) >= self.capacity and not force:
            raise QueueFull(f"perturbation queue is full ({self.capacity} waiting)")
        heapq.heappush(self._heap, (-perturbation.priority, next(self._order), perturbation))

    def pop(self) -> Perturbation:
        return heapq.heappop(self._heap)[2]

    def take_due(self, now: float) -> list[Perturbation]:
        """Take out every perturbation whose deadline is ``now`` or earlier."""
        due = [entry[2] for entry in self._heap if _due(entry[2], now)]
        if due:
            self._heap = [entry for entry in self._heap if not _due(entry[2], now)]
            heapq.heapify(self._heap)
        return due

    def earliest_deadline(self) -> float | None:
        return min(
            (entry[2].deadline for entry in self._heap if entry[2].deadline is not None),
            default=None,
        )

    def drain(self) -> list[Perturbation]:
        """Take everything out, in service order, to refuse it on collapse."""
        return [heapq.heappop(self._heap)[2] for _ in range(len(self._heap))]


def _due(perturbation: Perturbation, now: float) -> bool:
    return perturbation.deadline is not None and perturbation.deadline <= now
