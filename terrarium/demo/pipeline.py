"""The demo pipeline ``requests``: English commands, parsed, routed, and approved.

``commands`` says a short English command every few seconds; ``parse`` (the
``grammar`` genus) turns it into an intent and its object; ``route`` makes
each parse a request for ``review``, an ``Approver``: deleting more than a
few records waits for a human in Purgatory. Each stage is an agent of its
own (observe it, perturb it), and the edges between them show the flow.
"""

from __future__ import annotations

from typing import Any, Final

from terrarium.demo.agents import Approver
from terrarium.demo.grammar import Grammar, Parse
from terrarium.flux import FluxAgent
from terrarium.pipeline import Pipeline, pipeline
from terrarium.sources import ticks

PIPELINE_ID: Final = "requests"
#: What the ``commands`` stage says, in turn.
COMMANDS: Final = (
    "Delete 40 old records",
    "Create a calendar for the team",
    "Please remove 3 drafts",
    "Send the weekly report to Ada",
    "Archive 25 emails",
    "Delete 120 customer records",
    "Add a meeting note",
    "Delete 8 duplicate contacts",
)
#: The verbs that ask ``review`` to delete records.
DELETING: Final = frozenset({"delete", "remove", "erase", "drop", "purge"})


def say(n: int) -> str:
    return COMMANDS[(n - 1) % len(COMMANDS)]


class Router:
    """Turns a parse into a request for the approver: deletions carry their count."""

    def __init__(self) -> None:
        self.routed = 0

    def invoke(self, parsed: Parse | Any) -> dict[str, Any]:
        if not isinstance(parsed, dict) or "intent" not in parsed:
            raise TypeError("route takes a parse from the grammar genus")
        self.routed += 1
        intent = parsed.get("intent")
        request: dict[str, Any] = {
            "request": self.routed,
            "sentence": parsed.get("sentence"),
            "action": "delete" if intent in DELETING else (intent or "unknown"),
            "object": parsed.get("object"),
            "records": (parsed.get("quantity") or 1) if intent in DELETING else 0,
        }
        return request


def demo_pipeline(interval: float = 4.0) -> Pipeline:
    """``commands | parse | route | review``, named ``requests``."""
    commands = FluxAgent(say, agent_id="commands", source=ticks(interval))
    parse = FluxAgent(Grammar(), agent_id="parse")
    route = FluxAgent(Router(), agent_id="route")
    approver = Approver()
    review = FluxAgent(approver, agent_id="review")
    approver.agent = review
    return pipeline(commands, parse, route, review, id=PIPELINE_ID)
