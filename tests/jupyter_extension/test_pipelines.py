"""Pipelines over REST: the demo pipeline's graph, live edge figures, drops and 404s."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import TypeAdapter

from terrarium import protocol
from terrarium.flux import FluxAgent, FluxConfig
from terrarium.registry import AgentRegistry
from terrarium.sources import from_queue
from tests.jupyter_extension.helpers import Gateway, is_type, until


def conforms(shape: Any, value: Any) -> None:
    TypeAdapter(shape).validate_python(value, strict=True)


async def test_the_demo_pipeline_is_listed_with_its_stages_and_edges(gateway: Gateway) -> None:
    listing = await gateway.get("api", "pipelines")
    assert listing.code == 200
    conforms(protocol.PipelinesListing, listing.body)
    (requests,) = [p for p in listing.body["pipelines"] if p["id"] == "requests"]
    assert [stage["id"] for stage in requests["stages"]] == ["commands", "parse", "route", "review"]
    assert [(edge["from"], edge["to"]) for edge in requests["edges"]] == [
        ("commands", "parse"),
        ("parse", "route"),
        ("route", "review"),
    ]
    one = await gateway.get("api", "pipelines", "requests")
    assert one.code == 200 and one.body["id"] == "requests"
    # Each stage is an agent like any other.
    stage = await gateway.get("api", "agents", "parse")
    assert stage.code == 200 and stage.body["genus"] == "grammar"


async def test_an_unknown_pipeline_is_a_json_404(gateway: Gateway) -> None:
    missing = await gateway.get("api", "pipelines", "nowhere")
    assert missing.code == 404
    assert missing.body["error"] == "unknown_pipeline"
    assert "nowhere" in missing.body["message"]


async def test_a_full_edge_drops_counts_and_tells_observers(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    """A ``drop_newest`` stage feeding a stage that waits: the edge fills, then drops."""
    feed: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()

    async def hold(item: Any) -> Any:
        await release.wait()
        return item

    config = FluxConfig(output_policy="drop_newest", output_buffer=2)
    first = FluxAgent(lambda item: item, agent_id="spill", source=from_queue(feed), config=config)
    last = FluxAgent(hold, agent_id="sink")
    registry.register_pipeline(first | last)
    ws, _hello = await gateway.observe_hello("spill", since=0)
    for item in range(10):
        feed.put_nowait(item)
    frames = await until(ws, is_type("drop"))
    drop = frames[-1]["data"]
    assert drop["pipeline"] == "spill-pipeline"
    assert drop["edges"][0]["to"] == "sink" and drop["edges"][0]["reason"] == "full"
    described = (await gateway.get("api", "pipelines", "spill-pipeline")).body
    conforms(protocol.Pipeline, described)
    (edge,) = described["edges"]
    assert edge["policy"] == "drop_newest" and edge["capacity"] == 2
    assert edge["drops"] >= drop["edges"][0]["total"] >= 1
    release.set()
    await registry.unregister_pipeline("spill-pipeline")
    listed = (await gateway.get("api", "pipelines")).body["pipelines"]
    assert "spill-pipeline" not in [p["id"] for p in listed]
