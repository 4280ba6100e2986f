"""Hostile input on a live server: deep nesting, odd numbers and look-alike names.

- Nesting: a frame or body nested deeper than ``MAX_JSON_DEPTH`` levels is a
  ``bad_request`` (or, for a Prism command, a ``validation`` error) on the
  Beam and the REST routes, and is ignored on the observe and publish
  sockets; never a ``RecursionError``, a traceback or a closed socket. Depth
  ``MAX_JSON_DEPTH`` itself is accepted.
- ``since`` and ``limit``: ASCII digits only, no sign, no spaces, no
  underscores; since 0..2**53-1, limit 1..100000; anything else is a 400
  ``bad_request`` (a refused handshake on the observe socket), never a 500.
- Agent ids: the whole id must be a name (PROTOCOL.md: 1-128 letters, digits,
  ``-``, ``_``, ``.``; not ``.`` or ``..``). A look-alike is never published,
  and every agent route answers the protocol's JSON 404 for it, not Jupyter's
  HTML page.
- Prism: a body that is not a JSON object is a ``validation`` error with
  located ``details``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from terrarium.registry import AgentRegistry
from tests.jupyter_extension.helpers import Frame, Gateway, Reply, is_type, receive, until

#: A frame or body far beyond any sane depth, and one far beyond the interpreter's stack.
DEPTHS = [pytest.param(1000, id="1000-deep"), pytest.param(100_000, id="100000-deep")]


def nested(depth: int) -> str:
    """Arrays nested ``depth`` levels: ``nested(2) == "[[]]"``."""
    return "[" * depth + "]" * depth


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing the server logged carries an exception or is an error."""
    bad = [
        record
        for record in caplog.records
        if record.exc_info or record.levelname in ("ERROR", "CRITICAL")
    ]
    assert not bad, [record.getMessage() for record in bad]


async def assert_healthy(gateway: Gateway) -> None:
    reply = await gateway.get("api", "health")
    assert reply.code == 200, reply
    assert reply.body["status"] == "ok"


def assert_refusal(reply: Reply, status: int, code: str) -> None:
    """``{"error": code, "message": ...}`` with ``status``, and no traceback in it."""
    assert reply.code == status, reply
    assert isinstance(reply.body, dict), reply
    assert reply.body.get("error") == code, reply.body
    message = reply.body.get("message")
    assert isinstance(message, str) and message, reply.body
    assert "Traceback" not in message


def assert_validation(reply: Reply) -> None:
    """The ValidationError schema of the OpenAPI document, with at least one located error."""
    assert_refusal(reply, 400, "validation")
    details = reply.body.get("details")
    assert isinstance(details, list) and details, reply.body
    for detail in details:
        assert set(detail) == {"loc", "msg", "type"}, detail
        assert isinstance(detail["loc"], list), detail
        assert all(isinstance(part, str | int) for part in detail["loc"]), detail
        assert isinstance(detail["msg"], str) and isinstance(detail["type"], str), detail


def assert_error_frame(frame: Frame | None, cid: str | None, code: str) -> None:
    assert frame is not None, "the socket closed instead of answering"
    assert set(frame) == {"type", "id", "code", "message"}, frame
    assert frame["type"] == "error"
    assert frame["id"] == cid, frame
    assert frame["code"] == code, frame
    assert isinstance(frame["message"], str) and frame["message"]


async def beam_round_trip(beam: WebSocketClientConnection, cid: str = "ok") -> None:
    """A normal request on ``beam`` is still answered: the socket is open and usable."""
    beam.write_message(json.dumps({"id": cid, "data": 1}))
    reply = await receive(beam)
    assert reply is not None, "the Beam closed after the hostile frame"
    assert reply["type"] == "result" and reply["id"] == cid and reply["output"] == 1, reply


# -- deep nesting ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", DEPTHS)
async def test_a_deep_beam_frame_is_bad_request_and_the_beam_stays_open(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    beam = await gateway.beam("echo")

    beam.write_message('{"id": "d", "data": ' + nested(depth) + "}")

    # The frame could not be parsed, so its id is unknown.
    assert_error_frame(await receive(beam), None, "bad_request")
    await beam_round_trip(beam)
    await assert_healthy(gateway)
    no_tracebacks(caplog)


async def test_nesting_at_max_json_depth_is_accepted_and_one_level_more_is_not(
    gateway: Gateway,
) -> None:
    """Depth counts every array and object level of the frame, its own object included."""
    from terrarium.events import MAX_JSON_DEPTH

    beam = await gateway.beam("echo")
    at_limit = nested(MAX_JSON_DEPTH - 1)  # inside {"id": ..., "data": ...}: MAX_JSON_DEPTH

    beam.write_message('{"id": "edge", "data": ' + at_limit + "}")
    reply = await receive(beam)
    assert reply is not None and reply["type"] == "result", reply
    assert reply["id"] == "edge"
    assert reply["output"] == json.loads(at_limit)

    beam.write_message('{"id": "over", "data": ' + nested(MAX_JSON_DEPTH) + "}")
    assert_error_frame(await receive(beam), None, "bad_request")
    await beam_round_trip(beam)


@pytest.mark.parametrize("depth", DEPTHS)
async def test_a_deep_frame_to_an_observer_is_ignored_and_the_socket_stays_open(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    ws, _ = await gateway.observe_hello("echo")

    ws.write_message(nested(depth))
    ws.write_message(json.dumps({"type": "ping"}))

    frames = await until(ws, is_type("pong"))
    assert frames[-1] == {"type": "pong"}
    await assert_healthy(gateway)
    no_tracebacks(caplog)


@pytest.mark.parametrize("depth", DEPTHS)
async def test_a_deep_frame_from_a_kernel_is_ignored_and_its_agent_stays_published(
    gateway: Gateway, registry: AgentRegistry, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    kernel = await gateway._websocket(gateway.path("publish", "deep"), True, None)
    assert "deep" in registry

    kernel.write_message(nested(depth))
    kernel.write_message(
        '{"type": "event", "event_type": "result", "data": {"output": ' + nested(depth) + "}}"
    )

    # The kernel still serves its agent through the same socket.
    perturbing = asyncio.ensure_future(
        gateway.post("api", "agents", "deep", "perturb", body={"data": "after"})
    )
    invoke = await receive(kernel)
    assert invoke == {"type": "invoke", "call": 1, "data": "after"}, "the publish socket closed"
    kernel.write_message(json.dumps({"type": "return", "call": 1, "output": "served"}))
    reply = await perturbing
    assert reply.code == 200 and reply.body["output"] == "served", reply
    assert "deep" in registry
    await assert_healthy(gateway)
    no_tracebacks(caplog)


@pytest.mark.parametrize("depth", DEPTHS)
async def test_deep_rest_bodies_are_refused_with_400(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    deep = nested(depth).encode()

    perturb = await gateway.fetch(
        gateway.path("api", "agents", "echo", "perturb"),
        method="POST",
        raw_body=b'{"data": ' + deep + b"}",
    )
    assert_refusal(perturb, 400, "bad_request")

    for body in (b'{"text": ' + deep + b"}", deep):
        command = await gateway.fetch(
            gateway.path("api", "grammar", "parse"), method="POST", raw_body=body
        )
        assert_validation(command)

    resolve = await gateway.fetch(
        gateway.path("api", "purgatory", "echo", "resolve", "sometoken"),
        method="POST",
        raw_body=b'{"human_input": ' + deep + b"}",
    )
    assert_refusal(resolve, 400, "bad_request")

    await assert_healthy(gateway)
    no_tracebacks(caplog)


# -- since and limit ---------------------------------------------------------------------


async def events(gateway: Gateway, query: str) -> Reply:
    """``GET api/agents/echo/events?<query>``, the query sent exactly as written."""
    return await gateway.fetch(gateway.path("api", "agents", "echo", "events") + "?" + query)


def misjudged(replies: dict[str, Reply]) -> dict[str, Any]:
    """The queries whose reply is not a 400 ``bad_request`` (with their status and body)."""
    wrong: dict[str, Any] = {}
    for query, reply in replies.items():
        try:
            assert_refusal(reply, 400, "bad_request")
        except AssertionError:
            wrong[query[:40]] = (reply.code, str(reply.body)[:200])
    return wrong


async def test_a_limit_that_is_not_plain_ascii_digits_in_range_is_bad_request(
    gateway: Gateway,
) -> None:
    queries = [
        "limit=%C2%B2",  # "²": str.isdigit() says yes, int() says no
        "limit=" + "9" * 5000,  # beyond int()'s digit limit
        "limit=0",
        "limit=-1",
        "limit=1_0",
        "limit=%2B5",  # "+5"
        "limit=+5",  # " 5": a "+" in a query is a space
        "limit=%205",  # " 5"
        "limit=5%20",  # "5 "
    ]
    replies = {query: await events(gateway, query) for query in queries}
    assert misjudged(replies) == {}


async def test_a_since_that_is_not_plain_ascii_digits_in_range_is_bad_request(
    gateway: Gateway,
) -> None:
    queries = [
        "since=%D9%A5",  # U+0665 ARABIC-INDIC DIGIT FIVE: int() would take it
        "since=%2B5",  # "+5"
        "since=+5",  # " 5"
        "since=-1",
        "since=1e3",
        "since=" + "9" * 5000,
    ]
    replies = {query: await events(gateway, query) for query in queries}
    assert misjudged(replies) == {}


async def test_since_and_limit_at_their_bounds(gateway: Gateway) -> None:
    for query in ("limit=5", "since=0", f"since={2**53 - 1}", "limit=100000"):
        reply = await events(gateway, query)
        assert reply.code == 200, (query, reply)
        assert set(reply.body) == {"events", "gap", "epoch"}
    replies = {query: await events(gateway, query) for query in (f"since={2**53}", "limit=100001")}
    assert misjudged(replies) == {}


async def test_an_observe_since_follows_the_same_rule(gateway: Gateway) -> None:
    _, hello = await gateway.observe_hello("echo", since=0)
    assert hello["agent_id"] == "echo"

    refused: dict[str, int | None] = {}
    for since in ("%D9%A5", "%2B5", "+5", str(2**53)):
        path = gateway.path("observe", "echo") + "?since=" + since
        try:
            await gateway._websocket(path, False, None)
        except HTTPClientError as error:
            refused[since] = error.code
        else:
            refused[since] = None  # the handshake went through
    assert refused == {"%D9%A5": 400, "%2B5": 400, "+5": 400, str(2**53): 400}


# -- agent ids ---------------------------------------------------------------------------


async def agent_ids(gateway: Gateway) -> list[str]:
    reply = await gateway.get("api", "agents")
    assert reply.code == 200, reply
    return sorted(agent["id"] for agent in reply.body["agents"])


async def test_publishing_a_look_alike_a_dot_or_a_long_id_is_refused(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    before = await agent_ids(gateway)
    outcomes: dict[str, int | None] = {}
    for segment in ("echo%0A", ".", "..", "x" * 129):
        try:
            await gateway._websocket(gateway.path("publish", segment), True, None)
        except HTTPClientError as error:
            outcomes[segment] = error.code
        else:
            outcomes[segment] = None  # published
    assert all(code in (400, 404) for code in outcomes.values()), outcomes
    assert await agent_ids(gateway) == before
    assert not {"echo\n", ".", ".."} & {agent.id for agent in registry}


@pytest.mark.parametrize(
    ("method", "parts"),
    [
        pytest.param("GET", ("api", "agents", "echo%0A"), id="newline"),
        pytest.param("GET", ("api", "agents", "a%20b"), id="space"),
        pytest.param("GET", ("api", "agents", "x" * 200), id="too-long"),
        pytest.param("GET", ("api", "purgatory", "a%20b", "pending"), id="purgatory"),
        pytest.param("POST", ("api", "agents", "a%20b", "perturb"), id="perturb"),
    ],
)
async def test_a_malformed_agent_id_is_the_protocols_json_404(
    gateway: Gateway, method: str, parts: tuple[str, ...]
) -> None:
    body = {"data": 1} if method == "POST" else None
    reply = await gateway.fetch(gateway.path(*parts), method=method, body=body)

    assert reply.code == 404, reply
    content_type = reply.headers.get("Content-Type", "")
    assert content_type.startswith("application/json"), (content_type, str(reply.body)[:200])
    assert_refusal(reply, 404, "unknown_agent")


def test_is_name_matches_the_whole_string_and_refuses_dots() -> None:
    from terrarium.names import is_name

    refused = ["echo\n", ".", "..", "", "x" * 129, "a b"]
    accepted = ["echo", "a.b", "x" * 128]
    assert [is_name(value) for value in refused] == [False] * len(refused)
    assert [is_name(value) for value in accepted] == [True] * len(accepted)


# -- Prism bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [pytest.param(b"not json", id="not-json"), pytest.param(b"[1,2]", id="array")]
)
async def test_a_command_body_that_is_not_a_json_object_is_a_validation_error(
    gateway: Gateway, raw: bytes
) -> None:
    reply = await gateway.fetch(
        gateway.path("api", "grammar", "parse"), method="POST", raw_body=raw
    )

    assert_validation(reply)
