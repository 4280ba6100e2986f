"""Who may use which route: every Terrarium route and method x every kind of credential.

The expectation table comes from docs/PROTOCOL.md (sections 2 to 5):

- Read routes (the dashboard, ``api/agents``, ``api/agents/{id}``, its
  ``events``, ``health``, ``pipelines``, ``openapi.json``, ``api/{genus}``, purgatory
  ``pending`` and a token) follow ``public_observe``: anyone when it is on;
  otherwise a Jupyter login (token or cookie); an anonymous reader is refused
  with 403 ``forbidden``, and sent to the login page (302) from the dashboard.
- Write routes (``perturb``, ``api/{genus}/{command}``, purgatory ``resolve``
  and ``cancel``) need Jupyter auth, whatever ``public_observe`` says: the
  token (in the ``Authorization`` header or as ``?token=``), or the login
  cookie *with* ``X-XSRFToken``. A cookie alone is refused with 403.
- WebSockets: ``observe`` follows ``public_observe``; ``perturb`` and
  ``publish`` always need auth (token, or cookie from the same origin). A
  foreign ``Origin`` is refused with 403 on every socket, with a cookie or not.

Every cell is its own test, named ``{public_observe on|off}-{route}-{credential}``.
Each also checks that nothing secret leaks: the server token is in no
response header and no body (the dashboard's HTML, JSON errors, refused
handshakes). The publish route must never shadow or take over an agent.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.httputil import HTTPHeaders

from terrarium.registry import AgentRegistry
from tests.jupyter_extension.fuzzing import Handshake, WireSocket, closed_at_once, handshake
from tests.jupyter_extension.helpers import Gateway, Reply, Session, receive

EVIL = "http://evil.example"
AGENT = "echo"
APPROVER = "approver"
PUBLISHED = "cellpub"


@dataclass(frozen=True)
class Route:
    """One route and method of app.py; ``{token}`` in ``parts`` is a pending token's id."""

    name: str
    method: str  # GET, POST or WS
    parts: tuple[str, ...]
    write: bool = False
    body: Any = None
    #: The status of an admitted request.
    ok: int = 200

    @property
    def socket(self) -> bool:
        return self.method == "WS"

    @property
    def needs_token(self) -> bool:
        return "{token}" in self.parts


ROUTES = [
    Route("dashboard", "GET", ("",)),
    Route("observe", "WS", ("observe", AGENT), ok=101),
    Route("perturb-socket", "WS", ("perturb", AGENT), write=True, ok=101),
    Route("publish", "WS", ("publish", PUBLISHED), write=True, ok=101),
    Route("agents", "GET", ("api", "agents")),
    Route("agent", "GET", ("api", "agents", AGENT)),
    Route("events", "GET", ("api", "agents", AGENT, "events")),
    Route("perturb", "POST", ("api", "agents", AGENT, "perturb"), True, {"data": "cell"}),
    Route("health", "GET", ("api", "health")),
    Route("pipelines", "GET", ("api", "pipelines")),
    Route("pipeline", "GET", ("api", "pipelines", "requests")),
    Route("openapi", "GET", ("api", "openapi.json")),
    Route("genus", "GET", ("api", "grammar")),
    Route("command", "POST", ("api", "grammar", "parse"), True, {"text": "The cat sat."}),
    Route("pending", "GET", ("api", "purgatory", APPROVER, "pending")),
    Route("token", "GET", ("api", "purgatory", APPROVER, "{token}")),
    Route(
        "resolve",
        "POST",
        ("api", "purgatory", APPROVER, "resolve", "{token}"),
        True,
        {"human_input": "Approve"},
    ),
    Route("cancel", "POST", ("api", "purgatory", APPROVER, "cancel", "{token}"), True),
]

#: Credentials a REST request can carry, and those of a WebSocket handshake (a
#: browser's WebSocket always sends its page's Origin, so the cookie comes with one).
REST_CREDENTIALS = ["none", "header", "query", "cookie", "cookie+xsrf"]
SOCKET_CREDENTIALS = ["none", "header", "query", "cookie", "cookie+xsrf", "foreign-cookie"]


def expected_status(route: Route, credential: str, public: bool) -> int:
    """PROTOCOL.md's rule for one cell."""
    if credential == "foreign-cookie":
        return 403  # the Origin check of the Jupyter server, on every socket
    anonymous = credential == "none"
    if route.socket:
        if anonymous and (route.write or not public):
            return 403
        return route.ok
    if not route.write:
        if anonymous and not public:
            return 302 if route.name == "dashboard" else 403
        return route.ok
    return route.ok if credential in ("header", "query", "cookie+xsrf") else 403


def cells() -> list[Any]:
    params = []
    for public in (True, False):
        for route in ROUTES:
            for credential in SOCKET_CREDENTIALS if route.socket else REST_CREDENTIALS:
                marks = [] if public else [pytest.mark.terrarium(public_observe=False)]
                name = f"{'on' if public else 'off'}-{route.name}-{credential}"
                params.append(pytest.param(route, credential, public, id=name, marks=marks))
    return params


# -- the secret ------------------------------------------------------------------------------


def assert_no_secret(token: str, where: str, *texts: str) -> None:
    for text in texts:
        assert token not in text, f"the server token leaks in {where}: {text[:500]!r}"


def header_text(headers: HTTPHeaders) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers.get_all())


def body_text(reply: Reply) -> str:
    return reply.body if isinstance(reply.body, str) else json.dumps(reply.body)


# -- making the request of a cell --------------------------------------------------------------


@dataclass
class Caller:
    gateway: Gateway
    token: str
    session: Session | None = None
    extra: dict[str, str] = field(default_factory=dict)

    async def credentials(self, credential: str) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and query arguments for ``credential`` (nothing implicit)."""
        if credential == "none":
            return {}, {}
        if credential == "header":
            return {"Authorization": f"token {self.token}"}, {}
        if credential == "query":
            return {}, {"token": self.token}
        if self.session is None:
            self.session = await self.gateway.login()
        if credential == "cookie":
            return self.session.headers(xsrf=False, origin=None), {}
        if credential == "cookie+xsrf":
            return self.session.headers(xsrf=True), {}
        assert credential == "foreign-cookie"
        return self.session.headers(xsrf=False, origin=EVIL), {}

    async def pending_token(self) -> str:
        """A fresh pending semaphore token of the approver (asked with the server token)."""
        reply = await self.gateway.post(
            "api", "agents", APPROVER, "perturb", body={"data": {"records": 47}}
        )
        assert reply.code == 202, reply
        token_id: str = reply.body["token"]["id"]
        return token_id

    async def token_status(self, token_id: str) -> str:
        reply = await self.gateway.get("api", "purgatory", APPROVER, token_id, auth=True)
        assert reply.code == 200, reply
        status: str = reply.body["status"]
        return status


async def call_rest(caller: Caller, route: Route, credential: str, parts: tuple[str, ...]) -> Reply:
    headers, query = await caller.credentials(credential)
    path = caller.gateway.path(*parts, **query)
    if route.method == "GET":
        return await caller.gateway.fetch(path, auth=False, headers=headers)
    body = route.body if route.body is not None else {}
    return await caller.gateway.fetch(path, method="POST", body=body, auth=False, headers=headers)


async def call_socket(
    caller: Caller, route: Route, credential: str, parts: tuple[str, ...]
) -> Handshake:
    headers, query = await caller.credentials(credential)
    if credential in ("cookie", "cookie+xsrf"):
        headers["Origin"] = caller.gateway.origin
    return await handshake(caller.gateway, caller.gateway.path(*parts, **query), headers)


@pytest.mark.parametrize(("route", "credential", "public"), cells())
async def test_the_cell(
    gateway: Gateway, token: str, route: Route, credential: str, public: bool
) -> None:
    caller = Caller(gateway, token)
    expected = expected_status(route, credential, public)
    token_id = await caller.pending_token() if route.needs_token else None
    parts = tuple(token_id if part == "{token}" else part for part in route.parts)
    before = await gateway.get("api", "agents", AGENT, auth=True)

    if route.socket:
        answer = await call_socket(caller, route, credential, parts)
        assert answer.status == expected, answer.text()
        assert_no_secret(token, f"the handshake of {route.name}", answer.text())
        if answer.socket is not None:
            await admitted_socket(gateway, route, answer.socket)
        else:
            assert header_of(answer, "content-type").startswith("application/json")
            refusal = json.loads(answer.body)
            assert refusal["error"] == "forbidden", refusal
            if route.name == "publish":
                assert (await gateway.get("api", "agents", PUBLISHED, auth=True)).code == 404
    else:
        reply = await call_rest(caller, route, credential, parts)
        assert reply.code == expected, reply
        where = f"{route.method} {route.name}"
        assert_no_secret(token, where, header_text(reply.headers), body_text(reply))
        if expected == 302:
            assert "/login" in reply.headers["Location"], reply.headers
        elif expected == 403:
            assert reply.body["error"] == "forbidden", reply.body
            assert isinstance(reply.body["message"], str)
        else:
            admitted_rest(route, reply)
        if route.write and expected == 403:
            await nothing_happened(caller, route, token_id, before)


async def admitted_socket(gateway: Gateway, route: Route, raw: WireSocket) -> None:
    """An admitted socket works as its section says, then closes cleanly."""
    if route.name == "observe":
        hello = await raw.reply()
        assert hello["type"] == "hello" and hello["agent_id"] == AGENT, hello
    elif route.name == "perturb-socket":
        await raw.send_json({"id": "cell", "data": "via socket"})
        reply = await raw.reply()
        assert (reply["type"], reply["output"]) == ("result", "via socket"), reply
    else:
        assert (await gateway.get("api", "agents", PUBLISHED, auth=True)).code == 200
    await raw.close()


def admitted_rest(route: Route, reply: Reply) -> None:
    if route.name == "dashboard":
        assert isinstance(reply.body, str) and "<html" in reply.body.lower(), reply
        return
    assert isinstance(reply.body, dict), reply
    if route.name == "perturb":
        assert reply.body["output"] == "cell", reply.body
    elif route.name == "command":
        assert "result" in reply.body, reply.body
    elif route.name == "resolve":
        # "resuming" while the agent's resume runs (PROTOCOL.md, section 1), then "resolved".
        assert reply.body["token"]["status"] in ("resuming", "resolved"), reply.body
    elif route.name == "cancel":
        assert reply.body["token"]["status"] == "cancelled", reply.body
    elif route.name == "health":
        assert reply.body["status"] == "ok", reply.body


async def nothing_happened(
    caller: Caller, route: Route, token_id: str | None, before: Reply
) -> None:
    """A refused write left no trace: no perturbation reached the agent, the token waits."""
    if route.name == "perturb":
        after = await caller.gateway.get("api", "agents", AGENT, auth=True)
        assert after.body["seq"] == before.body["seq"], (before.body, after.body)
    if token_id is not None:
        assert await caller.token_status(token_id) == "pending"


def test_the_table_covers_every_route_of_the_app() -> None:
    """Each handler that app.py mounts under terrarium/ has its row here."""
    from jupyter_extension.app import TerrariumApp

    app = TerrariumApp()
    app.initialize_handlers()
    mounted = {handler.__name__ for _pattern, handler in app.handlers}
    by_route = {
        "dashboard": "DashboardHandler",
        "observe": "ObserveHandler",
        "perturb-socket": "PerturbHandler",
        "publish": "PublishHandler",
        "agents": "AgentsHandler",
        "agent": "AgentHandler",
        "events": "EventsHandler",
        "perturb": "PerturbRestHandler",
        "health": "HealthHandler",
        "pipelines": "PipelinesHandler",
        "pipeline": "PipelineHandler",
        "openapi": "OpenAPIHandler",
        "genus": "GenusHandler",
        "command": "CommandHandler",
        "pending": "PendingHandler",
        "token": "TokenHandler",
        "resolve": "ResolveHandler",
        "cancel": "CancelHandler",
    }
    assert {route.name for route in ROUTES} == set(by_route)
    # The last route answers every other path under terrarium/ (see below).
    assert set(by_route.values()) == mounted - {"NotFoundHandler"}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_any_other_path_is_the_protocols_json_404_without_the_token(
    gateway: Gateway, token: str, method: str
) -> None:
    """Jupyter's own 404 page carries the server's token; under terrarium/ it never shows."""
    for parts in (("api", "nope", "deeper", "still"), ("elsewhere",)):
        reply = await gateway.fetch(gateway.path(*parts), method=method, auth=True)
        assert reply.code == 404, reply
        assert reply.headers.get("Content-Type", "").startswith("application/json")
        assert reply.body["error"] == "not_found"
        assert token not in json.dumps(reply.body)


@pytest.mark.parametrize("refusal", ["foreign-origin", "not-an-upgrade"])
@pytest.mark.parametrize("route", ["observe", "perturb", "publish"])
async def test_a_refused_handshake_is_the_protocols_json(
    gateway: Gateway, route: str, refusal: str
) -> None:
    """PROTOCOL.md section 4 and ``TerrariumMixin.write_error``: every error is
    ``{"error": CODE, "message": ...}`` in JSON, "a refused WebSocket handshake's
    included; never a traceback or an HTML page".

    A regression test: Tornado's ``WebSocketHandler.get`` (tornado/websocket.py)
    answers a foreign Origin (403) and a request that is no upgrade (400) itself,
    in text/html, and the handlers left it to it."""
    session = await gateway.login()
    agent_id = "fresh" if route == "publish" else AGENT
    path = gateway.path(route, agent_id)
    if refusal == "foreign-origin":
        answer = await handshake(gateway, path, session.headers(xsrf=False, origin=EVIL))
        status, content_type, body = answer.status, header_of(answer, "content-type"), answer.body
    else:
        reply = await gateway.fetch(path, auth=False, headers=session.headers(xsrf=False))
        status, content_type = reply.code, reply.headers.get("Content-Type", "")
        body = json.dumps(reply.body).encode() if isinstance(reply.body, dict) else b"not JSON"
    assert status == (403 if refusal == "foreign-origin" else 400), (status, body)
    assert content_type.startswith("application/json"), (content_type, body)
    error = json.loads(body)
    assert error["error"] == ("forbidden" if status == 403 else "bad_request"), error
    assert isinstance(error["message"], str) and error["message"], error


def header_of(answer: Handshake, name: str) -> str:
    for line in answer.head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.encode():
            return value.strip().decode("latin-1")
    return ""


# -- no secret in error bodies -------------------------------------------------------------------


#: Failing requests of every route: (name, method, path parts, body, status).
ERRORS = [
    ("unknown-agent", "GET", ("api", "agents", "nope"), None, 404),
    ("bad-agent-id", "GET", ("api", "agents", "a%20b", "events"), None, 404),
    ("bad-since", "GET", ("api", "agents", AGENT, "events"), None, 400),
    ("not-json", "POST", ("api", "agents", AGENT, "perturb"), b"{", 400),
    ("perturb-unknown", "POST", ("api", "agents", "nope", "perturb"), b"{}", 404),
    ("unknown-genus", "GET", ("api", "nogenus"), None, 404),
    ("unknown-command", "POST", ("api", "grammar", "nocommand"), b"{}", 404),
    ("command-validation", "POST", ("api", "grammar", "parse"), b"[1]", 400),
    ("unknown-token", "GET", ("api", "purgatory", APPROVER, "notoken"), None, 404),
    ("resolve-body", "POST", ("api", "purgatory", APPROVER, "resolve", "x"), b"{}", 400),
    ("cancel-unknown", "POST", ("api", "purgatory", APPROVER, "cancel", "x"), b"", 404),
    ("pending-unknown", "GET", ("api", "purgatory", "nope", "pending"), None, 404),
]


@pytest.mark.parametrize("where", ["header", "query"])
async def test_no_error_body_or_header_holds_the_token(
    gateway: Gateway, token: str, where: str
) -> None:
    """The token sent with a failing request (also in its URL) comes back nowhere: one
    failing request of each route, each named in the failure."""
    leaks: dict[str, str] = {}
    for name, method, parts, body, status in ERRORS:
        query = {"token": token} if where == "query" else {}
        if parts[-1] == "events":
            query["since"] = "-1"
        path = gateway.path(*parts, **query)
        reply = await gateway.fetch(path, method=method, raw_body=body, auth=where == "header")
        assert reply.code == status, (name, reply)
        assert isinstance(reply.body, dict) and isinstance(reply.body["error"], str), (name, reply)
        for part, text in (("headers", header_text(reply.headers)), ("body", body_text(reply))):
            if token in text:
                leaks[f"{name} {part}"] = text[:300]
    assert not leaks, f"the server token leaks in: {leaks}"


async def test_no_refused_handshake_holds_the_token(gateway: Gateway, token: str) -> None:
    """Refused handshakes (unknown agent, malformed id, a taken id to publish), with
    the token in the URL, never send it back."""
    leaks: dict[str, str] = {}
    for route in ("observe", "perturb", "publish"):
        for segment in ("nope" if route != "publish" else AGENT, "a%20b"):
            answer = await handshake(gateway, gateway.path(route, segment, token=token))
            assert answer.status in (400, 404, 409), answer.text()
            if token in answer.text():
                leaks[f"{route}/{segment}"] = answer.text()[:300]
    assert not leaks, f"the server token leaks in: {leaks}"


# -- publishing never shadows an agent ----------------------------------------------------------


async def publish(gateway: Gateway, token: str, agent_id: str) -> Handshake:
    return await handshake(
        gateway, gateway.path("publish", agent_id), {"Authorization": f"token {token}"}
    )


async def echo_answers(gateway: Gateway, data: Any) -> None:
    beam = await gateway.beam(AGENT)
    beam.write_message(json.dumps({"id": "still", "data": data}))
    reply = await receive(beam)
    assert reply is not None and (reply["type"], reply["output"]) == ("result", data), reply
    beam.close()


@pytest.mark.parametrize("agent_id", ["echo", "heartbeat", "slow", "approver", "gate"])
async def test_publishing_a_running_agents_id_is_refused_and_it_goes_on(
    gateway: Gateway, token: str, registry: AgentRegistry, agent_id: str
) -> None:
    original = registry.get(agent_id)
    observer, _ = await gateway.observe_hello(agent_id)

    for credential in ({"Authorization": f"token {token}"}, None):
        path = gateway.path("publish", agent_id, **({} if credential else {"token": token}))
        answer = await handshake(gateway, path, credential)
        assert answer.status == 409, answer.text()
        assert json.loads(answer.body)["error"] == "conflict"

    assert registry.get(agent_id) is original, "the agent was replaced"
    await echo_answers(gateway, ["as", "before"])
    status = await gateway.get("api", "agents", agent_id)
    assert status.code == 200 and status.body["state"] == original.state.value
    observer.write_message(json.dumps({"type": "ping"}))
    while (frame := await receive(observer)) is not None and frame.get("type") != "pong":
        pass
    assert frame == {"type": "pong"}, "the agent's observer was disturbed"


async def serves(gateway: Gateway, kernel: WireSocket, agent_id: str, data: Any) -> None:
    """A request to ``agent_id`` reaches ``kernel``, whose answer comes back."""
    beam = await gateway.beam(agent_id)
    beam.write_message(json.dumps({"id": "w", "data": data}))
    invoke = await kernel.reply()
    assert invoke["type"] == "invoke" and invoke["data"] == data, invoke
    await kernel.send_json({"type": "return", "call": invoke["call"], "output": [data]})
    reply = await receive(beam)
    assert reply is not None and reply["output"] == [data], reply
    beam.close()


#: Both publications pass the handshake's "is the id free" check before either registers.
MEETING = pytest.mark.jupyter_config(
    {"ServerApp": {"authorizer_class": "tests.jupyter_extension.fuzzing.RendezvousAuthorizer"}}
)


@pytest.mark.parametrize(
    "together",
    [
        pytest.param(False, id="as-they-come-1"),
        pytest.param(False, id="as-they-come-2"),
        pytest.param(True, id="authorized-together", marks=MEETING),
    ],
)
async def test_two_concurrent_publications_of_one_id_one_wins(
    gateway: Gateway, token: str, registry: AgentRegistry, together: bool
) -> None:
    """Exactly one is the agent; the other is refused: with 409 at the handshake, or,
    had both passed the handshake's check, closed at once with 4409. The loser's
    going leaves the winner registered and serving; a third try is refused too.

    ``together``: both handshakes are held in authorization until both are there,
    so both reach the check at once (the check and the registration run without
    a pause between them, so the second is refused at the handshake)."""
    agent_id = "twin"
    answers = await asyncio.gather(
        publish(gateway, token, agent_id), publish(gateway, token, agent_id)
    )
    refused = [answer for answer in answers if answer.status == 409]
    for answer in refused:
        assert json.loads(answer.body)["error"] == "conflict", answer.text()
    opened = [answer.socket for answer in answers if answer.socket is not None]
    assert len(refused) + len(opened) == 2, [answer.text() for answer in answers]
    closes = await asyncio.gather(*(closed_at_once(raw) for raw in opened))
    winners = [raw for raw, code in zip(opened, closes, strict=True) if code is None]
    losers = [raw for raw, code in zip(opened, closes, strict=True) if code is not None]
    assert len(winners) == 1, (closes, [answer.status for answer in answers])
    assert [code for code in closes if code is not None] == [4409] * len(losers)
    (winner,) = winners
    for loser in losers:
        await loser.close()
    await serves(gateway, winner, agent_id, "after the loser left")

    third = await publish(gateway, token, agent_id)
    assert third.status == 409, third.text()
    await serves(gateway, winner, agent_id, "after a third try")
    assert agent_id in registry

    await winner.close()
    await wait_until_gone(gateway, agent_id)
    again = await publish(gateway, token, agent_id)
    assert again.status == 101, "the id is free again once its kernel left"


async def wait_until_gone(gateway: Gateway, agent_id: str) -> None:
    """Observe the agent until the server closes the observer with 4004 (unregistered)."""
    try:
        observer = await gateway.observe(agent_id)
    except HTTPClientError as error:
        assert error.code == 404, error
        return
    while await receive(observer) is not None:
        pass
    assert observer.close_code == 4004
