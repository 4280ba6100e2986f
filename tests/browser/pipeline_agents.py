"""A pipeline with a slow last stage, for the pipeline view's browser tests.

Loaded into the child server with
``--TerrariumApp.agents=tests.browser.pipeline_agents:backlog``.

``backlog`` is ``intake | stamp | sink``: ``intake`` says a number twenty
times a second, ``stamp`` passes it on at once, ``sink`` takes a third of a
second over each. So ``intake -> stamp`` flows freely, while ``stamp -> sink``
is full (its capacity is 4) and, under ``stamp``'s ``drop_newest`` policy,
drops most of what comes: the edge the view must mark as congested.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from terrarium.flux import FluxAgent, FluxConfig
from terrarium.pipeline import Pipeline, pipeline
from terrarium.sources import ticks

PIPELINE_ID: Final = "backlog"
#: Seconds ``sink`` spends on each item.
SINK_SECONDS: Final = 0.3


def intake_say(n: int) -> dict[str, int]:
    return {"n": n}


def stamp_pass(item: Any) -> Any:
    return {"stamped": item}


async def sink_slowly(item: Any) -> Any:
    await asyncio.sleep(SINK_SECONDS)
    return {"kept": item}


def backlog_pipeline() -> Pipeline:
    intake = FluxAgent(
        intake_say,
        agent_id="intake",
        source=ticks(0.05),
        config=FluxConfig(output_buffer=16),
    )
    stamp = FluxAgent(
        stamp_pass,
        agent_id="stamp",
        config=FluxConfig(output_buffer=4, output_policy="drop_newest"),
    )
    sink = FluxAgent(sink_slowly, agent_id="sink")
    return pipeline(intake, stamp, sink, id=PIPELINE_ID)


def backlog() -> Pipeline:
    return backlog_pipeline()
