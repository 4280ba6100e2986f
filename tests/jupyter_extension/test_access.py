"""Who may observe and who may perturb (PROTOCOL.md sections 2-4): tokens, cookies, origins."""

from __future__ import annotations

import json
from collections.abc import Awaitable

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from terrarium.registry import AgentRegistry
from tests.jupyter_extension.helpers import Gateway, receive

EVIL = "http://evil.example"
READ_ROUTES = [
    ("api", "agents"),
    ("api", "agents", "echo"),
    ("api", "agents", "echo", "events"),
    ("api", "health"),
]
private = pytest.mark.terrarium(public_observe=False)
scoped = pytest.mark.jupyter_config(
    {"ServerApp": {"authorizer_class": "tests.jupyter_extension.authz.ScopedAuthorizer"}}
)


async def refused(connecting: Awaitable[WebSocketClientConnection]) -> int:
    """The HTTP status that refused a WebSocket handshake."""
    with pytest.raises(HTTPClientError) as error:
        await connecting
    return error.value.code


async def perturbs(ws: WebSocketClientConnection) -> bool:
    ws.write_message(json.dumps({"id": "a", "data": "hi"}))
    reply = await receive(ws)
    return reply is not None and reply["type"] == "result" and reply["output"] == "hi"


# -- the Reflection --------------------------------------------------------------------------


async def test_observe_is_public_by_default(gateway: Gateway) -> None:
    ws, hello = await gateway.observe_hello("echo")

    assert hello["agent_id"] == "echo"
    first = await receive(ws)
    assert first is not None and first["seq"] == 1


@private
async def test_private_observe_refuses_anonymous_observers_with_403(gateway: Gateway) -> None:
    assert await refused(gateway.observe("echo")) == 403


@private
async def test_private_observe_admits_a_token_in_the_header(gateway: Gateway) -> None:
    _, hello = await gateway.observe_hello("echo", auth=True)

    assert hello["type"] == "hello"


@private
async def test_private_observe_admits_a_token_in_the_query(gateway: Gateway) -> None:
    _, hello = await gateway.observe_hello("echo", token=gateway.token)

    assert hello["type"] == "hello"


@private
async def test_private_observe_admits_a_login_cookie(gateway: Gateway) -> None:
    session = await gateway.login()

    _, hello = await gateway.observe_hello("echo", headers=session.headers(xsrf=False))

    assert hello["type"] == "hello"


@private
@scoped
@pytest.mark.jupyter_config({"ScopedAuthorizer": {"terrarium_actions": ["execute"]}})
async def test_private_observe_needs_read_on_terrarium(gateway: Gateway) -> None:
    assert await refused(gateway.observe("echo", auth=True)) == 403
    reply = await gateway.get("api", "agents", auth=True)
    assert reply.code == 403 and reply.body["error"] == "forbidden"


async def test_observe_from_a_foreign_origin_is_refused_with_403(gateway: Gateway) -> None:
    assert await refused(gateway.observe("echo", headers={"Origin": EVIL})) == 403

    _, hello = await gateway.observe_hello("echo", headers={"Origin": gateway.origin})
    assert hello["type"] == "hello"


# -- the Beam ----------------------------------------------------------------------------------


async def test_perturb_without_credentials_is_refused_with_403(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    assert await refused(gateway.beam("echo", auth=False)) == 403
    assert registry.get("echo").mirror.last_seq == 1


async def test_perturb_with_a_wrong_token_is_refused_with_403(gateway: Gateway) -> None:
    wrong = {"Authorization": "token not-the-token"}

    assert await refused(gateway.beam("echo", auth=False, headers=wrong)) == 403


async def test_perturb_accepts_the_token_in_the_authorization_header(gateway: Gateway) -> None:
    assert await perturbs(await gateway.beam("echo"))


async def test_perturb_accepts_the_token_in_the_query(gateway: Gateway) -> None:
    assert await perturbs(await gateway.beam("echo", auth=False, token=gateway.token))


async def test_perturb_accepts_a_login_cookie_from_the_same_origin(gateway: Gateway) -> None:
    session = await gateway.login()
    headers = session.headers(xsrf=False, origin=gateway.origin)

    assert await perturbs(await gateway.beam("echo", auth=False, headers=headers))


async def test_perturb_with_a_login_cookie_from_a_foreign_origin_is_refused_with_403(
    gateway: Gateway,
) -> None:
    session = await gateway.login()
    headers = session.headers(xsrf=False, origin=EVIL)

    assert await refused(gateway.beam("echo", auth=False, headers=headers)) == 403


async def test_perturb_an_unknown_agent_is_refused_with_404(gateway: Gateway) -> None:
    assert await refused(gateway.beam("nope")) == 404


@scoped
async def test_perturb_needs_execute_on_terrarium(gateway: Gateway) -> None:
    assert await refused(gateway.beam("echo")) == 403
    reply = await gateway.post("api", "agents", "echo", "perturb", body={"data": 1})
    assert reply.code == 403 and reply.body["error"] == "forbidden"
    _, hello = await gateway.observe_hello("echo", auth=True)
    assert hello["type"] == "hello"


# -- REST ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", READ_ROUTES, ids="/".join)
async def test_read_routes_are_public_by_default(gateway: Gateway, route: tuple[str, ...]) -> None:
    reply = await gateway.get(*route)

    assert reply.code == 200, reply


@private
@pytest.mark.parametrize("route", READ_ROUTES, ids="/".join)
async def test_private_read_routes_refuse_anonymous_readers_with_403(
    gateway: Gateway, route: tuple[str, ...]
) -> None:
    refused_reply = await gateway.get(*route)
    admitted = await gateway.get(*route, auth=True)

    assert refused_reply.code == 403
    assert refused_reply.body["error"] == "forbidden"
    assert isinstance(refused_reply.body["message"], str)
    assert admitted.code == 200


async def test_rest_perturb_with_a_login_cookie_needs_the_xsrf_header(gateway: Gateway) -> None:
    session = await gateway.login()
    path = gateway.path("api", "agents", "echo", "perturb")
    body = {"data": "via cookie"}

    without = await gateway.fetch(
        path, method="POST", body=body, auth=False, headers=session.headers(xsrf=False)
    )
    with_xsrf = await gateway.fetch(
        path, method="POST", body=body, auth=False, headers=session.headers()
    )

    assert without.code == 403
    assert with_xsrf.code == 200
    assert with_xsrf.body["output"] == "via cookie"


@private
async def test_private_dashboard_sends_anonymous_visitors_to_the_login_page(
    gateway: Gateway,
) -> None:
    reply = await gateway.fetch(gateway.path(""), auth=False)

    assert reply.code == 302
    assert "/login" in reply.headers["Location"]
