"""The demo pipeline ``requests``: commands, parsed, routed, and approved or held for a human."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from terrarium.demo.grammar import parse
from terrarium.demo.pipeline import COMMANDS, PIPELINE_ID, Router, demo_pipeline, say
from terrarium.flux import FluxAgent
from terrarium.registry import AgentRegistry


def test_the_commands_are_said_in_turn() -> None:
    assert [say(n) for n in range(1, len(COMMANDS) + 2)] == [*COMMANDS, COMMANDS[0]]


@pytest.mark.parametrize(
    ("text", "action", "records"),
    [
        ("Delete 40 old records", "delete", 40),
        ("Please remove 3 drafts", "delete", 3),
        ("Delete the drafts", "delete", 1),
        ("Create a calendar for the team", "create", 0),
        ("Send the weekly report to Ada", "send", 0),
    ],
)
def test_the_router_asks_review_to_delete_only_for_deleting_verbs(
    text: str, action: str, records: int
) -> None:
    request = Router().invoke(parse(text))
    assert (request["action"], request["records"]) == (action, records)
    assert request["sentence"] == text and request["request"] == 1


def test_the_router_refuses_what_is_not_a_parse() -> None:
    with pytest.raises(TypeError, match="parse from the grammar genus"):
        Router().invoke("Delete 40 records")


async def test_a_deletion_said_by_commands_waits_in_review_and_the_rest_flows() -> None:
    registry = AgentRegistry(metrics_interval=3600)
    made = demo_pipeline(interval=0.01)
    assert made.id == PIPELINE_ID
    assert [stage.id for stage in made.stages] == ["commands", "parse", "route", "review"]
    registry.register_pipeline(made)
    review = registry.get("review")
    outputs = review.outputs()
    try:
        seen: list[Any] = []
        while len(seen) < len(COMMANDS):
            seen.append(await asyncio.wait_for(anext(outputs), 10))
        # Deleting 40 records asked a human: the first command's decision waits.
        pending = review.purgatory.pending()
        assert pending and pending[0].prompt == "Delete 40 records?"
        assert {"action": "create", "done": True} in seen
        assert registry.get("parse").genus == "grammar"
        assert isinstance(registry.get("commands"), FluxAgent)
    finally:
        await outputs.aclose()
        await registry.close()
