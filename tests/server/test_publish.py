"""Publishing a kernel's agent: ``{base}terrarium/publish/{agent_id}`` against a real server.

The "kernel" is this test process: a ``FluxAgent`` over a plain function,
published with the real client. Everything else is reached as any outside
client would: REST, the observe socket and the Beam.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from terrarium.client import PerturbationFailed, Server, ServerError, TerrariumClient
from terrarium.flux import FluxAgent, FluxConfig
from terrarium.publish import Publication
from terrarium.registry import AgentRegistry
from terrarium.sources import from_queue
from tests.server.helpers import Gateway, events_of, is_type, receive, until


class NotebookFunction:
    """What a notebook cell defines: answers, fails on request, or holds until opened."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.entered: asyncio.Queue[Any] = asyncio.Queue()
        self.opened = asyncio.Event()

    async def __call__(self, data: Any) -> Any:
        self.seen.append(data)
        if data == "hold":
            self.entered.put_nowait(data)
            await self.opened.wait()
        if isinstance(data, dict) and "fail" in data:
            raise ValueError(data["fail"])
        return {"kernel saw": data}


@dataclass
class Kernel:
    client: TerrariumClient
    agent: FluxAgent
    function: NotebookFunction
    source: asyncio.Queue[Any]
    publication: Publication


def client_of(gateway: Gateway, token: str | None) -> TerrariumClient:
    return TerrariumClient(Server(f"http://127.0.0.1:{gateway.port}{gateway.base_url}", token))


@pytest.fixture
def kernel(
    gateway: Gateway, token: str, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Kernel]:
    """A kernel agent over a notebook function, with a source, published with the client."""
    client = client_of(gateway, token)
    function = NotebookFunction()
    source: asyncio.Queue[Any] = asyncio.Queue()
    agent = FluxAgent(
        function,
        agent_id="nb",
        source=from_queue(source),
        config=FluxConfig(buffer_size=8, perturbation_timeout=60),
    )

    async def publish() -> Publication:
        return await client.publish(agent)

    publication = jp_asyncio_loop.run_until_complete(publish())
    yield Kernel(client, agent, function, source, publication)
    function.opened.set()
    jp_asyncio_loop.run_until_complete(publication.aclose())
    jp_asyncio_loop.run_until_complete(agent.kill())


async def beam_reply(gateway: Gateway, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
    beam = await gateway.beam(agent_id)
    beam.write_message(json.dumps(frame))
    reply = await receive(beam)
    assert reply is not None
    return reply


async def test_a_published_agent_is_listed_and_its_source_events_are_observed(
    gateway: Gateway, kernel: Kernel, registry: AgentRegistry
) -> None:
    assert kernel.publication.state == "published"
    listing = await gateway.get("api", "agents")
    (status,) = [agent for agent in listing.body["agents"] if agent["id"] == "nb"]
    assert status["state"] == "flowing"
    assert registry.get("nb") is not kernel.agent, "the server holds a proxy, not the agent"

    ws, hello = await gateway.observe_hello("nb")
    assert hello["snapshot"]["id"] == "nb"
    kernel.source.put_nowait("from the source")
    frames = await until(ws, lambda f: f.get("type") == "result")
    (result,) = [frame for frame in events_of(frames) if frame["type"] == "result"]
    assert result["data"] == {"output": {"kernel saw": "from the source"}, "perturbation_id": None}
    assert result["agent_id"] == "nb"
    assert (await gateway.get("api", "agents", "nb")).body["events"] == 1


async def test_perturbations_reach_the_kernel_function_over_the_beam_rest_and_the_client(
    gateway: Gateway, kernel: Kernel
) -> None:
    ws, _ = await gateway.observe_hello("nb")
    reply = await beam_reply(gateway, "nb", {"id": "b", "data": "beam"})
    assert reply["type"] == "result" and reply["output"] == {"kernel saw": "beam"}

    rest = await gateway.post("api", "agents", "nb", "perturb", body={"data": "rest"})
    assert rest.code == 200 and rest.body["output"] == {"kernel saw": "rest"}

    assert await kernel.client.perturb("nb", "client", priority=150) == {"kernel saw": "client"}
    assert kernel.function.seen == ["beam", "rest", "client"]

    frames = await until(
        ws, lambda f: f.get("type") == "result" and f["data"]["output"]["kernel saw"] == "client"
    )
    outputs = [f["data"]["output"] for f in events_of(frames) if f["type"] == "result"]
    assert outputs == [{"kernel saw": "beam"}, {"kernel saw": "rest"}, {"kernel saw": "client"}]
    accepted = [f for f in events_of(frames) if f["type"] == "perturbation"]
    assert [f["data"]["priority"] for f in accepted] == [100, 100, 150]


async def test_priorities_and_timeouts_hold_as_for_any_agent(
    gateway: Gateway, kernel: Kernel
) -> None:
    beam = await gateway.beam("nb")
    beam.write_message(json.dumps({"id": "hold", "data": "hold"}))
    await asyncio.wait_for(kernel.function.entered.get(), 10)
    for cid, priority in (("low", 10), ("high", 190), ("mid", 100)):
        beam.write_message(json.dumps({"id": cid, "data": cid, "priority": priority}))
    beam.write_message(json.dumps({"id": "late", "data": "late", "timeout": 0.2}))
    expired = await receive(beam)
    assert expired is not None and (expired["id"], expired["code"]) == ("late", "timeout")

    kernel.function.opened.set()
    replies = [await receive(beam) for _ in range(4)]
    assert [reply["id"] for reply in replies if reply] == ["hold", "high", "mid", "low"]
    assert kernel.function.seen == ["hold", "high", "mid", "low"], "served in priority order"


async def test_an_exception_in_the_kernel_function_comes_back_as_agent_error(
    gateway: Gateway, kernel: Kernel
) -> None:
    ws, _ = await gateway.observe_hello("nb")
    reply = await beam_reply(gateway, "nb", {"id": "f", "data": {"fail": "no such record"}})
    assert reply["type"] == "error" and reply["code"] == "agent_error"
    assert reply["message"] == "no such record"
    (error,) = [f for f in events_of(await until(ws, is_type("error"))) if f["type"] == "error"]
    assert error["data"]["error_type"] == "ValueError", "the kernel's exception type is kept"

    rest = await gateway.post("api", "agents", "nb", "perturb", body={"data": {"fail": "x"}})
    assert rest.code == 500 and rest.body["error"] == "agent_error"
    with pytest.raises(PerturbationFailed) as failed:
        await kernel.client.perturb("nb", {"fail": "again"})
    assert failed.value.code == "agent_error" and "again" in str(failed.value)


async def test_closing_the_publication_removes_the_agent_and_refuses_what_waits(
    gateway: Gateway, kernel: Kernel, registry: AgentRegistry
) -> None:
    observer, _ = await gateway.observe_hello("nb")
    beam = await gateway.beam("nb")
    beam.write_message(json.dumps({"id": "inflight", "data": "hold"}))
    await asyncio.wait_for(kernel.function.entered.get(), 10)
    beam.write_message(json.dumps({"id": "queued", "data": "queued"}))
    accepted = await until(observer, lambda f: f.get("type") == "perturbation")
    if len([f for f in accepted if f.get("type") == "perturbation"]) < 2:
        await until(observer, lambda f: f.get("type") == "perturbation")  # the queued one

    await kernel.publication.aclose()

    refusals = {}
    for _ in range(2):
        reply = await receive(beam)
        assert reply is not None
        refusals[reply["id"]] = reply["code"]
    assert refusals == {"inflight": "agent_unavailable", "queued": "agent_unavailable"}
    while (frame := await receive(observer)) is not None:
        assert frame["type"] in ("error", "state"), frame
    assert observer.close_code == 4004
    assert "nb" not in registry
    assert (await gateway.get("api", "agents", "nb")).code == 404
    assert kernel.publication.state == "closed"


async def test_a_taken_id_is_refused_with_409(gateway: Gateway, kernel: Kernel) -> None:
    twin = FluxAgent(NotebookFunction(), agent_id="nb")
    with pytest.raises(ServerError) as refused:
        await kernel.client.publish(twin)
    assert refused.value.status == 409 and "already exists" in str(refused.value)
    demo = FluxAgent(NotebookFunction(), agent_id="echo")
    with pytest.raises(ServerError, match="already exists"):
        await kernel.client.publish(demo)
    reply = await beam_reply(gateway, "nb", {"id": "still", "data": 1})
    assert reply["output"] == {"kernel saw": 1}, "the first publication is untouched"
    await twin.kill()
    await demo.kill()


async def test_publishing_needs_a_token_with_execute(gateway: Gateway) -> None:
    agent = FluxAgent(NotebookFunction(), agent_id="anon")
    with pytest.raises(ServerError) as refused:
        await client_of(gateway, None).publish(agent)
    assert refused.value.status == 403
    with pytest.raises(ServerError) as wrong:
        await client_of(gateway, "not-the-token").publish(agent)
    assert wrong.value.status == 403
    assert (await gateway.get("api", "agents", "anon")).code == 404
    await agent.kill()


async def test_a_bad_id_or_config_is_refused_with_400(gateway: Gateway) -> None:
    for path in (
        gateway.path("publish", "bad%20id"),
        gateway.path("publish", "x" * 129),
        gateway.path("publish", "fine", buffer_size="lots"),
        gateway.path("publish", "fine", perturbation_timeout="-1"),
    ):
        with pytest.raises(HTTPClientError) as refused:
            await gateway._websocket(path, True, None)
        assert refused.value.code == 400, path


async def test_the_wire_contract_with_a_hand_written_kernel(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    """A kernel is anything that speaks the contract; bad frames are ignored, not fatal."""
    kernel = await gateway._websocket(gateway.path("publish", "raw"), True, None)
    observer, _ = await gateway.observe_hello("raw")
    perturbing = asyncio.ensure_future(
        gateway.post("api", "agents", "raw", "perturb", body={"data": [1, 2]})
    )
    invoke = await receive(kernel)
    assert invoke == {"type": "invoke", "call": 1, "data": [1, 2]}
    for garbage in (
        "not json",
        "[1]",
        json.dumps({"type": "dance"}),
        json.dumps({"type": "event", "event_type": "state", "data": {}}),
        json.dumps({"type": "return", "call": 99, "output": "nobody waits"}),
        json.dumps({"type": "return", "call": [1], "output": "a call is a number"}),
        json.dumps({"type": "event", "event_type": "result", "data": "not an object"}),
    ):
        kernel.write_message(garbage)
    kernel.write_message(json.dumps({"type": "return", "call": 1, "output": 3}))
    reply = await perturbing
    assert reply.code == 200 and reply.body["output"] == 3

    failing = asyncio.ensure_future(beam_reply(gateway, "raw", {"id": "r", "data": None}))
    invoke = await receive(kernel)
    assert invoke is not None and invoke["call"] == 2
    kernel.write_message(
        json.dumps({"type": "raise", "call": 2, "error_type": "KeyError", "message": "'k'"})
    )
    failed = await failing
    assert (failed["code"], failed["message"]) == ("agent_error", "'k'")

    kernel.write_message(
        json.dumps({"type": "event", "event_type": "result", "data": {"output": "tick"}})
    )
    frames = await until(
        observer, lambda f: f.get("type") == "result" and f["data"]["output"] == "tick"
    )
    assert frames[-1]["data"] == {"output": "tick", "perturbation_id": None}
    assert registry.status("raw")["events"] == 3

    kernel.close()
    while await receive(observer) is not None:
        pass
    assert observer.close_code == 4004 and "raw" not in registry
