"""Pipeline tests: real agents on the test's loop, each killed when the test ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from terrarium.flux import FluxAgent, FluxConfig
from tests.pipeline.helpers import MakeStage, Recorder


@pytest.fixture
def make_stage(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[MakeStage]:
    made: list[FluxAgent] = []

    def make(
        agent_id: str,
        handler: Any = None,
        *,
        source: AsyncIterator[Any] | None = None,
        **config: Any,
    ) -> FluxAgent:
        agent = FluxAgent(
            handler if handler is not None else Recorder(),
            agent_id=agent_id,
            source=source,
            config=FluxConfig(**config),
        )
        made.append(agent)
        return agent

    yield make
    for agent in made:
        jp_asyncio_loop.run_until_complete(agent.kill())
