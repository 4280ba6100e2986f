"""Publishing a kernel's agent: ``{base}terrarium/publish/{agent_id}`` against a real server.

The "kernel" is this test process: a ``FluxAgent`` over a plain function,
published with the real client. Everything else is reached as any outside
client would: REST, the observe socket and the Beam. A kernel pipeline is
published the same way, a socket per stage, the first one also carrying the
pipeline's description, which ``api/pipelines`` then lists.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import TypeAdapter
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from jupyter_extension.handlers.publish import PublishHandler
from terrarium import protocol
from terrarium.client import PerturbationFailed, Server, ServerError, TerrariumClient
from terrarium.client.publish import PipelinePublication, PipelineRefused, Publication
from terrarium.flux import FluxAgent, FluxConfig
from terrarium.pipeline import Pipeline, pipeline
from terrarium.registry import AgentRegistry
from terrarium.sources import from_queue
from tests.jupyter_extension.helpers import Gateway, events_of, is_type, receive, until


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


async def test_closing_before_the_socket_opens_ends_the_wait(gateway: Gateway, token: str) -> None:
    agent = FluxAgent(NotebookFunction(), agent_id="early")
    publication = client_of(gateway, token).publish(agent)
    publication.close()
    with pytest.raises(asyncio.CancelledError):
        await publication
    await asyncio.wait_for(publication.wait_closed(), 10)
    assert publication.state == "failed"
    assert (await gateway.get("api", "agents", "early")).code == 404
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


# -- pipelines ---------------------------------------------------------------------------


@dataclass
class KernelPipeline:
    client: TerrariumClient
    pipeline: Pipeline
    feed: asyncio.Queue[Any]
    release: asyncio.Event
    publication: PipelinePublication


def kernel_stages(
    feed: asyncio.Queue[Any], release: asyncio.Event, pipeline_id: str = "kp"
) -> Pipeline:
    """``kp-double`` (an edge of 4, ``block``) feeding ``kp-hold``, which waits for ``release``
    and reads one item ahead at most."""

    async def hold(item: Any) -> Any:
        await release.wait()
        return item

    config = FluxConfig(output_buffer=4)
    double = FluxAgent(
        lambda n: n * 2, agent_id="kp-double", source=from_queue(feed), config=config
    )
    held = FluxAgent(hold, agent_id="kp-hold", config=FluxConfig(source_buffer=1))
    return pipeline(double, held, id=pipeline_id)


@pytest.fixture
def kernel_pipeline(
    gateway: Gateway, token: str, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[KernelPipeline]:
    """A two-stage kernel pipeline, published with the client (figures every 0.1 s)."""
    client = client_of(gateway, token)
    feed: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()
    stages = kernel_stages(feed, release)

    async def publish() -> PipelinePublication:
        return await client.publish_pipeline(stages, interval=0.1)

    publication = jp_asyncio_loop.run_until_complete(publish())
    yield KernelPipeline(client, stages, feed, release, publication)
    release.set()
    jp_asyncio_loop.run_until_complete(publication.aclose())
    jp_asyncio_loop.run_until_complete(stages.kill())


def conforms(shape: Any, value: Any) -> None:
    TypeAdapter(shape).validate_python(value, strict=True)


async def listed(
    gateway: Gateway, pipeline_id: str, done: Callable[[Any], bool], within: float = 10.0
) -> Any:
    """``GET api/pipelines/{id}`` until ``done(reply)`` (the server shows what the kernel sent)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        reply = await gateway.get("api", "pipelines", pipeline_id)
        if done(reply):
            return reply.body
        assert loop.time() < deadline, f"{pipeline_id}: still {reply.code} {reply.body}"
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, f"not yet: {what}"
        await asyncio.sleep(0.02)


def edge_of(body: Any) -> Any:
    (edge,) = body["edges"]
    return edge


async def test_a_published_pipeline_is_listed_with_its_graph_and_live_figures(
    gateway: Gateway, kernel_pipeline: KernelPipeline, registry: AgentRegistry
) -> None:
    assert kernel_pipeline.publication.state == "listed"
    listing = await gateway.get("api", "pipelines")
    conforms(protocol.PipelinesListing, listing.body)
    (kp,) = [p for p in listing.body["pipelines"] if p["id"] == "kp"]
    assert [(s["id"], s["state"]) for s in kp["stages"]] == [
        ("kp-double", "flowing"),
        ("kp-hold", "flowing"),
    ]
    edge = edge_of(kp)
    assert (edge["from"], edge["to"], edge["capacity"], edge["policy"]) == (
        "kp-double",
        "kp-hold",
        4,
        "block",
    )
    assert (edge["depth"], edge["delivered"], edge["drops"]) == (0, 0, 0)
    for stage in ("kp-double", "kp-hold"):
        status = await gateway.get("api", "agents", stage)
        assert status.code == 200, "each stage is a published agent like any other"
    assert registry.get("kp-double") is not kernel_pipeline.pipeline.stages[0]

    # kp-hold takes one item and holds it: the edge fills up and kp-double waits.
    for n in range(10):
        kernel_pipeline.feed.put_nowait(n)
    full = await listed(gateway, "kp", lambda r: edge_of(r.body)["depth"] == 4)
    assert edge_of(full)["delivered"] <= 3 and edge_of(full)["waits"] >= 1
    conforms(protocol.Pipeline, full)

    kernel_pipeline.release.set()
    flowed = await listed(gateway, "kp", lambda r: edge_of(r.body)["delivered"] == 10)
    assert edge_of(flowed)["depth"] == 0 and edge_of(flowed)["rate"] > 0
    assert kernel_pipeline.publication.listed >= 3, "sent again as the figures changed"

    # The client reads the same routes.
    mine = await asyncio.to_thread(kernel_pipeline.client.pipeline, "kp")
    assert [stage["id"] for stage in mine["stages"]] == ["kp-double", "kp-hold"]
    every = await asyncio.to_thread(kernel_pipeline.client.pipelines)
    assert {"kp", "requests"} <= {p["id"] for p in every}
    with pytest.raises(ServerError) as unknown:
        await asyncio.to_thread(kernel_pipeline.client.pipeline, "nowhere")
    assert (unknown.value.status, unknown.value.code) == (404, "unknown_pipeline")


async def test_closing_the_publication_removes_the_pipeline_and_its_stages(
    gateway: Gateway, kernel_pipeline: KernelPipeline, registry: AgentRegistry
) -> None:
    await kernel_pipeline.publication.aclose()
    assert kernel_pipeline.publication.state == "closed"
    await listed(gateway, "kp", lambda r: r.code == 404)
    await eventually(lambda: not {"kp-double", "kp-hold"} & ids(registry), "stages removed")
    for stage in ("kp-double", "kp-hold"):
        assert (await gateway.get("api", "agents", stage)).code == 404
    names = [p["id"] for p in (await gateway.get("api", "pipelines")).body["pipelines"]]
    assert "kp" not in names and "requests" in names
    assert kernel_pipeline.pipeline.stages[0].state.value == "flowing", "the kernel keeps it"


async def test_one_stage_leaving_ends_the_whole_publication(
    gateway: Gateway, kernel_pipeline: KernelPipeline, registry: AgentRegistry
) -> None:
    publication = kernel_pipeline.publication
    await publication.stages[1].aclose()  # not the socket that carries the pipeline
    await listed(gateway, "kp", lambda r: r.code == 404)
    await asyncio.wait_for(publication.wait_closed(), 10)
    assert publication.state == "closed" and publication.error is None
    await eventually(lambda: "kp-double" not in registry, "the carrying stage removed")


async def test_publish_takes_a_pipeline_and_refusals_leave_nothing_behind(
    gateway: Gateway, token: str, registry: AgentRegistry
) -> None:
    client = client_of(gateway, token)
    release = asyncio.Event()
    release.set()

    taken = pipeline(
        FluxAgent(lambda n: n, agent_id="kq-a"), FluxAgent(lambda n: n, agent_id="echo")
    )
    refused_stage = client.publish(taken)
    assert isinstance(refused_stage, PipelinePublication)
    with pytest.raises(ServerError) as conflict:
        await refused_stage
    assert conflict.value.status == 409 and "echo" in str(conflict.value)
    assert refused_stage.state == "failed"

    stages = kernel_stages(asyncio.Queue(), release, "requests")  # the demo pipeline's id
    refused_pipeline = client.publish_pipeline(stages)
    with pytest.raises(PipelineRefused) as refused:
        await refused_pipeline
    assert refused.value.code == "conflict" and "requests" in str(refused.value)

    await refused_stage.wait_closed()
    await refused_pipeline.wait_closed()
    published = {"kq-a", "kp-double", "kp-hold"}
    await eventually(lambda: not published & ids(registry), "every stage unpublished")
    demo = (await gateway.get("api", "pipelines", "requests")).body
    stage_ids = [stage["id"] for stage in demo["stages"]]
    assert stage_ids == ["commands", "parse", "route", "review"], "the demo pipeline is untouched"
    for part in (taken, stages):
        await part.kill()


def ids(registry: AgentRegistry) -> set[str]:
    return {agent.id for agent in registry}


async def test_a_server_that_never_answers_the_pipeline_frame_fails_it_in_time(
    gateway: Gateway, token: str, registry: AgentRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server from before pipeline frames ignores them: the kernel gives up, unpublishes."""
    monkeypatch.setattr(PublishHandler, "list_pipeline", lambda *args: None)
    release = asyncio.Event()
    stages = kernel_stages(asyncio.Queue(), release)
    publication = PipelinePublication(client_of(gateway, token), stages, answer_timeout=0.3)
    with pytest.raises(PipelineRefused) as silent:
        await publication.start()
    assert silent.value.code == "timeout" and "never answers" in silent.value.message
    await publication.wait_closed()
    await eventually(lambda: not {"kp-double", "kp-hold"} & ids(registry), "stages removed")
    await stages.kill()


async def test_closing_at_once_ends_the_publication_at_once(
    gateway: Gateway, token: str, registry: AgentRegistry
) -> None:
    stages = kernel_stages(asyncio.Queue(), asyncio.Event())
    publication = client_of(gateway, token).publish_pipeline(stages)
    publication.close()
    with pytest.raises(asyncio.CancelledError):
        await publication.ready()
    await asyncio.wait_for(publication.wait_closed(), 10)
    assert publication.state == "failed"
    assert {stage.state for stage in publication.stages} == {"closed"}, "never even started"
    await eventually(lambda: not {"kp-double", "kp-hold"} & ids(registry), "nothing published")
    await stages.kill()


def pipeline_frame(pipeline_id: Any = "raw-p", **changes: Any) -> str:
    """A ``pipeline`` frame for the hand-written kernel's stages ``raw-a`` -> ``raw-b``."""
    edge = {
        "from": "raw-a",
        "to": "raw-b",
        "rate": 1.5,
        "depth": 2,
        "capacity": 8,
        "drops": 0,
        "delivered": 3,
        "policy": "drop_oldest",
        "waits": 0,
        "closed": False,
    }
    description: dict[str, Any] = {
        "id": pipeline_id,
        "stages": [
            {"id": "raw-a", "state": "flowing", "genus": None},
            {"id": "raw-b", "state": "flowing", "genus": "g"},
        ],
        "edges": [edge],
    }
    description.update(changes)
    return json.dumps({"type": "pipeline", "pipeline": description})


async def answer(kernel: WebSocketClientConnection, frame: str) -> dict[str, Any]:
    kernel.write_message(frame)
    reply = await receive(kernel)
    assert reply is not None, "the socket stays open"
    return reply


async def test_pipeline_frames_by_hand_and_what_is_refused(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    """A kernel is anything that speaks the contract: a bad pipeline frame is refused, said
    why, and changes nothing."""
    a = await gateway._websocket(gateway.path("publish", "raw-a"), True, None)
    b = await gateway._websocket(gateway.path("publish", "raw-b"), True, None)
    await eventually(lambda: "raw-b" in registry, "raw-b published")
    good = json.loads(pipeline_frame())["pipeline"]
    edge = good["edges"][0]
    bad_frames = {
        json.dumps({"type": "pipeline"}): "not a PIPELINE",
        json.dumps({"type": "pipeline", "pipeline": [1]}): "not a PIPELINE",
        pipeline_frame(edges=None): "edges",
        pipeline_frame(7): "id",
        pipeline_frame("bad id"): "not a pipeline id",
        pipeline_frame(stages=[]): "at least one stage",
        pipeline_frame(stages=good["stages"] * 2): "listed twice",
        pipeline_frame(
            stages=[{"id": "raw-a", "state": "asleep", "genus": None}], edges=[]
        ): "state",
        pipeline_frame(edges=[{**edge, "depth": -1}]): "depth",
        pipeline_frame(edges=[{**edge, "closed": "no"}]): "closed",
        pipeline_frame(edges=[{**edge, "to": "raw-z"}]): "not between two stages",
        pipeline_frame(edges=[edge, edge]): "listed twice",
        pipeline_frame(edges=[{**edge, "rate": float("nan")}]): "rate",
        pipeline_frame(
            stages=[*good["stages"], {"id": "echo", "state": "flowing", "genus": None}]
        ): "'echo' is not an agent you publish",
        pipeline_frame(
            stages=[*good["stages"], {"id": "ghost", "state": "flowing", "genus": None}]
        ): "'ghost' is not an agent you publish",
        pipeline_frame(stages=[good["stages"][1]], edges=[]): "'raw-a', which is not a stage",
        pipeline_frame("requests"): "already exists",
    }
    for frame, reason in bad_frames.items():
        reply = await answer(a, frame)
        assert reply["type"] == "pipeline_refused", (frame, reply)
        assert reason in reply["message"], (frame, reply)
        expected = "conflict" if reason == "already exists" else "bad_request"
        assert reply["error"] == expected, (frame, reply)
    refused = await answer(a, pipeline_frame(7))
    assert refused["id"] is None
    assert (await gateway.get("api", "pipelines", "raw-p")).code == 404, "nothing listed"
    assert (await gateway.get("api", "health")).code == 200

    assert await answer(a, pipeline_frame()) == {"type": "pipeline_listed", "id": "raw-p"}
    shown = (await gateway.get("api", "pipelines", "raw-p")).body
    assert shown == good
    conforms(protocol.Pipeline, shown)
    updated = pipeline_frame(edges=[{**edge, "depth": 5, "note": "dropped"}])
    assert (await answer(a, updated))["type"] == "pipeline_listed"
    shown = (await gateway.get("api", "pipelines", "raw-p")).body
    assert edge_of(shown)["depth"] == 5 and "note" not in edge_of(shown)
    # One pipeline per socket, one pipeline per stage; a refusal leaves the listed one as it was.
    other = await answer(a, pipeline_frame("raw-q"))
    assert other["error"] == "bad_request" and "one pipeline" in other["message"]
    twin = await answer(b, pipeline_frame("raw-q"))
    assert twin["error"] == "conflict" and "raw-p" in twin["message"]
    assert edge_of((await gateway.get("api", "pipelines", "raw-p")).body)["depth"] == 5

    # The sockets still serve their agents.
    perturbing = asyncio.ensure_future(
        gateway.post("api", "agents", "raw-b", "perturb", body={"data": "still"})
    )
    invoke = await receive(b)
    assert invoke is not None and invoke["type"] == "invoke"
    b.write_message(json.dumps({"type": "return", "call": invoke["call"], "output": "here"}))
    assert (await perturbing).body["output"] == "here"

    # A stage's socket closing takes the pipeline away, not the other stage.
    b.close()
    await listed(gateway, "raw-p", lambda r: r.code == 404)
    await eventually(lambda: "raw-b" not in registry, "raw-b unpublished")
    assert "raw-a" in registry
    gone = await answer(a, pipeline_frame())
    assert gone["type"] == "pipeline_refused" and "'raw-b'" in gone["message"]
    a.close()
    await eventually(lambda: "raw-a" not in registry, "raw-a unpublished")
