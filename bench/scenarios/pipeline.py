"""Pipelines, in-process: what a stage adds per event, and latency through three stages.

No server and no sockets: plain asyncio in the harness process. Three trivial
functions (``x + 1``, ``x * 2``, ``str``) are run three ways over the same
items:

- ``plain loop``: ``str((x + 1) * 2)`` in a Python ``for`` loop, no asyncio;
- ``queues``: one task per function, chained by ``asyncio.Queue`` s of the
  pipeline's edge capacity (``FluxConfig.output_buffer``), fed by a task that
  reads the source: the least any queue-based pipeline pays;
- ``pipeline``: three flux agents composed with ``a | b | c`` and started,
  the source on the first stage, read from the last stage's ``outputs()``
  (subscribed before the start).

**Per event.** N events from a finite source, timed from the start until
the N-th output arrives at the end. Two sources, each given to both the
queues and the pipeline: a bare async generator (it never yields to the loop,
so the stages' own work is what is timed) and ``terrarium.sources.from_iterable``
(the package's source for a plain iterable, which yields to the loop after
every item). The paths alternate, in reversed order every other round, so
the machine's drifts in speed fall on all of them alike; each figure is the
median over the rounds, and each ratio the median of the ratios within a
round.

**Latency.** The pipeline idle, its first stage reading an ``asyncio.Queue``
(``terrarium.sources.from_queue``): one item is put, and the time until the
last stage's output arrives is recorded, the next item only once everything
is idle again; the same through the queues and tasks. The two paths alternate
in blocks.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bench.context import BenchContext
from bench.results import Column, Table
from bench.stats import summarize
from terrarium.flux import FluxAgent, FluxConfig, OutputSubscription
from terrarium.pipeline import Pipeline
from terrarium.sources import CLOSE_QUEUE, from_iterable, from_queue

NAME = "pipeline"
TITLE = "Pipelines in-process: cost per event of three stages, and latency through them"


@dataclass(frozen=True, slots=True)
class Sizes:
    #: Events per timed run, and rounds of runs (every path once per round).
    events: int
    rounds: int
    #: Latency samples per path, taken in this many alternating blocks, after a warm-up.
    items: int
    blocks: int
    warm_up: int


FULL = Sizes(events=20_000, rounds=5, items=2_000, blocks=8, warm_up=200)
QUICK = Sizes(events=10_000, rounds=3, items=1_000, blocks=4, warm_up=100)
SIZES = {"full": FULL, "quick": QUICK}

#: The three stages: trivial, so what is measured is what carries an event between them.
STAGES: tuple[Callable[[Any], Any], ...] = (lambda x: x + 1, lambda x: x * 2, str)
STAGE_IDS = ("plus-one", "double", "text")
#: Capacity of every queue between stages: a pipeline edge's (``output_buffer``).
CAPACITY = FluxConfig().output_buffer
#: Loop iterations given after each latency sample, so the next finds every task idle.
SETTLE = 3

LOOP = "plain loop"
QUEUES = "queues"
PIPELINE = "pipeline"
BARE = "async gen"
FROM_ITERABLE = "from_iterable"

COLUMNS = [
    Column("measure", "measure"),
    Column("path", "path"),
    Column("source", "source"),
    Column("n", "N", ",d"),
    Column("us_event", "µs/event", ".2f"),
    Column("spread", "rounds µs"),
    Column("us_stage", "µs/stage", ".2f"),
    Column("vs_loop", "vs loop", ",.0f"),
    Column("vs_queues", "vs queues", ".2f"),
    Column("p50", "p50 µs", ".1f"),
    Column("p99", "p99 µs", ".1f"),
    Column("max", "max µs", ".0f"),
]


def _expected(x: int) -> str:
    return str((x + 1) * 2)


async def _bare(n: int) -> AsyncIterator[int]:
    for item in range(n):
        yield item


def _iterable(n: int) -> AsyncIterator[int]:
    return from_iterable(range(n))


SOURCES: dict[str, Callable[[int], AsyncIterator[int]]] = {BARE: _bare, FROM_ITERABLE: _iterable}


def _compose(source: AsyncIterator[Any]) -> tuple[Pipeline, OutputSubscription]:
    """``a | b | c`` over the three stages, the source on ``a``; the last stage's outputs."""
    first, middle, last = (
        FluxAgent(stage, agent_id=agent_id)
        for stage, agent_id in zip(STAGES, STAGE_IDS, strict=True)
    )
    first.feed(source)
    composed = first | middle | last
    return composed, last.outputs()


# -- per event --------------------------------------------------------------------------------


def _loop_run(n: int) -> float:
    plus_one, double, text = STAGES
    gc.collect()
    start = time.perf_counter()
    output = None
    for item in range(n):
        output = text(double(plus_one(item)))
    elapsed = time.perf_counter() - start
    assert output == _expected(n - 1)
    return elapsed


async def _stage_task(
    function: Callable[[Any], Any], inbox: asyncio.Queue[Any], outbox: asyncio.Queue[Any]
) -> None:
    while True:
        await outbox.put(function(await inbox.get()))


async def _queues_run(n: int, source: Callable[[int], AsyncIterator[int]]) -> float:
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue(CAPACITY) for _ in range(len(STAGES) + 1)]

    async def feed() -> None:
        async for item in source(n):
            await queues[0].put(item)

    gc.collect()
    start = time.perf_counter()
    tasks = [asyncio.create_task(feed())]
    tasks += [
        asyncio.create_task(_stage_task(function, queues[i], queues[i + 1]))
        for i, function in enumerate(STAGES)
    ]
    last = queues[-1]
    output = None
    for _ in range(n):
        output = await last.get()
    elapsed = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert output == _expected(n - 1)
    return elapsed


async def _pipeline_run(n: int, source: Callable[[int], AsyncIterator[int]]) -> float:
    composed, outputs = _compose(source(n))
    gc.collect()
    start = time.perf_counter()
    composed.start()
    output = None
    for _ in range(n):
        output = await outputs.__anext__()
    elapsed = time.perf_counter() - start
    await composed.stop()
    await outputs.aclose()
    assert output == _expected(n - 1)
    return elapsed


#: (path, source) in the order of a round; the loop is the first row.
RUNS: tuple[tuple[str, str], ...] = (
    (LOOP, "-"),
    (QUEUES, BARE),
    (PIPELINE, BARE),
    (QUEUES, FROM_ITERABLE),
    (PIPELINE, FROM_ITERABLE),
)


async def _one_run(path: str, source: str, n: int) -> float:
    if path == LOOP:
        return _loop_run(n)
    if path == QUEUES:
        return await _queues_run(n, SOURCES[source])
    return await _pipeline_run(n, SOURCES[source])


async def _per_event(sizes: Sizes) -> list[dict[str, Any]]:
    n = sizes.events
    for path, source in RUNS:  # warm-up: imports, caches, the allocator's free lists
        await _one_run(path, source, max(1, n // 10))
    seconds: dict[tuple[str, str], list[float]] = {run: [] for run in RUNS}
    for round_ in range(sizes.rounds):
        for run in RUNS if round_ % 2 == 0 else reversed(RUNS):
            seconds[run].append(await _one_run(*run, n))
    loop = seconds[RUNS[0]]
    rows = []
    for path, source in RUNS:
        timings = seconds[path, source]
        per_event = [1e6 * t / n for t in timings]
        row: dict[str, Any] = {
            "measure": "per event",
            "path": path,
            "source": source,
            "n": n,
            "rounds": len(timings),
            "us_event": statistics.median(per_event),
            "us_min": min(per_event),
            "us_max": max(per_event),
            "spread": f"{min(per_event):.2f}-{max(per_event):.2f}",
        }
        if path != LOOP:
            row["us_stage"] = statistics.median(
                1e6 * (t - base) / n / len(STAGES) for t, base in zip(timings, loop, strict=True)
            )
            row["vs_loop"] = statistics.median(
                t / base for t, base in zip(timings, loop, strict=True)
            )
            queues = seconds[QUEUES, source]
            row["vs_queues"] = statistics.median(
                t / base for t, base in zip(timings, queues, strict=True)
            )
        rows.append(row)
    return rows


# -- latency --------------------------------------------------------------------------------


class _QueueChain:
    """The three functions as tasks between ``asyncio.Queue`` s, fed one item at a time."""

    path = QUEUES
    source = "asyncio.Queue"

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        queues = [self.inbox] + [asyncio.Queue(CAPACITY) for _ in STAGES]
        self.outbox = queues[-1]
        self.tasks = [
            asyncio.create_task(_stage_task(function, queues[i], queues[i + 1]))
            for i, function in enumerate(STAGES)
        ]

    async def receive(self) -> Any:
        return await self.outbox.get()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class _PipelineChain:
    """``a | b | c``, started, its first stage reading a queue (``from_queue``)."""

    path = PIPELINE
    source = "from_queue"

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.composed, self.outputs = _compose(from_queue(self.inbox))
        self.composed.start()

    async def receive(self) -> Any:
        return await self.outputs.__anext__()

    async def close(self) -> None:
        self.inbox.put_nowait(CLOSE_QUEUE)
        await self.composed.stop()
        await self.outputs.aclose()


async def _through(chain: _QueueChain | _PipelineChain, items: range) -> list[int]:
    """Nanoseconds from each put to its output's arrival, one item at a time."""
    samples = []
    for item in items:
        for _ in range(SETTLE):
            await asyncio.sleep(0)
        start = time.perf_counter_ns()
        chain.inbox.put_nowait(item)
        output = await chain.receive()
        samples.append(time.perf_counter_ns() - start)
        assert output == _expected(item)
    return samples


async def _latency(sizes: Sizes) -> list[dict[str, Any]]:
    chains: list[_QueueChain | _PipelineChain] = [_QueueChain(), _PipelineChain()]
    samples: dict[str, list[int]] = {chain.path: [] for chain in chains}
    try:
        for chain in chains:
            await _through(chain, range(sizes.warm_up))
        gc.collect()
        per_block = max(1, sizes.items // sizes.blocks)
        for block in range(sizes.blocks):
            for chain in chains if block % 2 == 0 else reversed(chains):
                samples[chain.path] += await _through(chain, range(per_block))
    finally:
        for chain in chains:
            await chain.close()
    rows: list[dict[str, Any]] = []
    for chain in chains:
        summary = summarize(samples[chain.path], scale=1e-3)
        rows.append(
            {
                "measure": "latency",
                "path": chain.path,
                "source": chain.source,
                "n": int(summary["count"]),
                "p50": summary["p50"],
                "p99": summary["p99"],
                "max": summary["max"],
            }
        )
    queues = rows[0]
    for row in rows[1:]:
        row["vs_queues"] = row["p50"] / queues["p50"]
        row["vs_queues_p99"] = row["p99"] / queues["p99"]
    return rows


# -- the scenario ---------------------------------------------------------------------------


async def _measure(sizes: Sizes) -> list[dict[str, Any]]:
    return [*await _per_event(sizes), *await _latency(sizes)]


def measure(sizes: Sizes) -> Table:
    """Run both measurements at ``sizes`` on a fresh event loop; the scenario's table."""
    table = Table(NAME, TITLE, COLUMNS)
    table.rows = asyncio.run(_measure(sizes))
    table.notes += [
        "In-process, plain asyncio, no server; stages x+1, x*2, str. per event: N events from",
        f"a finite source, start to the N-th output at the end, median of {sizes.rounds} rounds",
        "(paths alternate; 'rounds µs' = fastest-slowest round). µs/stage = (µs/event - plain",
        "loop's) / 3: what carrying an event into and out of one stage adds. vs loop, vs queues:",
        "median ratio within a round, vs the queues fed by the same source. queues = one task per",
        f"function between asyncio.Queues of {CAPACITY} (a pipeline edge's capacity): the least a",
        "queue-based pipeline pays. async gen = a source that never yields to the loop;",
        "from_iterable yields after every item, so each event costs a loop iteration too.",
        "latency: one item at a time into an idle chain, put to arrival of the last stage's",
        f"output; {sizes.blocks} alternating blocks; vs queues = ratio of the p50s.",
    ]
    return table


def run(context: BenchContext) -> Table:
    return measure(SIZES.get(context.profile.name, FULL))
