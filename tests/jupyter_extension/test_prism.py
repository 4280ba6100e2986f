"""Prism on a live server: genus listings, command calls, their errors, and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from openapi_spec_validator import validate

from terrarium.flux import FluxAgent
from terrarium.prism import expose
from terrarium.registry import AgentRegistry
from tests.jupyter_extension.helpers import Gateway


@dataclass
class Point:
    x: int
    y: int = 0


class Tools:
    """Commands that provoke each answer of the bridge on demand."""

    genus_name = "tools"
    cli_description = "Test tools."

    @expose(aliases=["plus"], examples=[{"a": 1, "b": 2}])
    def add(self, a: int, b: int = 1) -> int:
        """Add two integers."""
        return a + b

    @expose
    async def centre(self, points: list[Point]) -> Point:
        count = len(points) or 1
        return Point(sum(p.x for p in points) // count, sum(p.y for p in points) // count)

    @expose
    def fail(self, message: str = "it broke") -> None:
        raise RuntimeError(message)

    @expose
    def nothing(self) -> str:
        return "no arguments needed"

    @expose(hidden=True)
    def backstage(self) -> str:
        return "hidden"

    async def invoke(self, data: Any) -> Any:
        return data


@pytest.fixture
def tools(registry: AgentRegistry) -> Iterator[Tools]:
    handler = Tools()
    registry.prism.register(handler)
    yield handler
    registry.prism.unregister("tools")


# -- listing -------------------------------------------------------------------------------------


async def test_the_grammar_genus_lists_parse_with_its_schemas(gateway: Gateway) -> None:
    reply = await gateway.get("api", "grammar")
    assert reply.code == 200, reply
    assert reply.body["genus"] == "grammar"
    (parse,) = reply.body["commands"]
    assert parse["name"] == "parse"
    assert parse["aliases"] == ["p"]
    assert {"text": "Create a calendar"} in parse["examples"]
    assert parse["help"]
    assert parse["arguments"]["required"] == ["text"]
    assert parse["arguments"]["properties"]["text"]["type"] == "string"
    assert {"intent", "object", "tokens"} <= set(parse["result"]["properties"])


async def test_hidden_commands_are_not_listed(gateway: Gateway, tools: Tools) -> None:
    reply = await gateway.get("api", "tools")
    names = [command["name"] for command in reply.body["commands"]]
    assert names == ["add", "centre", "fail", "nothing"]


# -- calling -------------------------------------------------------------------------------------


async def test_parse_create_a_calendar(gateway: Gateway) -> None:
    reply = await gateway.post("api", "grammar", "parse", body={"text": "Create a calendar"})
    assert reply.code == 200, reply
    assert reply.body["result"]["intent"] == "create"
    assert reply.body["result"]["object"] == "calendar"


async def test_calls_coerce_and_resolve_aliases_and_hidden_names(
    gateway: Gateway, tools: Tools
) -> None:
    assert (await gateway.post("api", "tools", "add", body={"a": "2", "b": 3})).body == {
        "result": 5
    }
    assert (await gateway.post("api", "tools", "plus", body={"a": 2})).body == {"result": 3}
    centre = await gateway.post(
        "api", "tools", "centre", body={"points": [{"x": 2, "y": 4}, {"x": "4"}]}
    )
    assert centre.body == {"result": {"x": 3, "y": 2}}
    assert (await gateway.post("api", "tools", "backstage", body={})).body == {"result": "hidden"}


async def test_an_empty_body_means_no_arguments(gateway: Gateway, tools: Tools) -> None:
    reply = await gateway.fetch(gateway.path("api", "tools", "nothing"), method="POST")
    assert reply.code == 200, reply
    assert reply.body == {"result": "no arguments needed"}


async def test_a_body_that_does_not_fit_is_400_with_every_error_located(
    gateway: Gateway, tools: Tools
) -> None:
    reply = await gateway.post(
        "api", "tools", "centre", body={"points": [{"x": 1}, {"x": "q"}, {}], "extra": True}
    )
    assert reply.code == 400, reply
    assert reply.body["error"] == "validation"
    assert reply.body["message"]
    locations = [detail["loc"] for detail in reply.body["details"]]
    assert locations == [["points", 1, "x"], ["points", 2, "x"], ["extra"]]
    assert all(set(detail) == {"loc", "msg", "type"} for detail in reply.body["details"])

    missing = await gateway.post("api", "grammar", "parse", body={})
    assert missing.code == 400
    assert missing.body["details"] == [
        {"loc": ["text"], "msg": "Field required", "type": "missing"}
    ]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"null"])
async def test_a_body_that_is_not_a_json_object_is_a_validation_error_with_details(
    gateway: Gateway, raw: bytes
) -> None:
    """The shape the OpenAPI document promises for every 400 of a command."""
    reply = await gateway.fetch(
        gateway.path("api", "grammar", "parse"), method="POST", raw_body=raw
    )
    assert reply.code == 400, reply
    assert reply.body["error"] == "validation"
    (detail,) = reply.body["details"]
    assert set(detail) == {"loc", "msg", "type"}
    assert detail["loc"] == []
    assert detail["type"] in {"json_invalid", "dict_type"}


async def test_unknown_genus_and_command_are_404(gateway: Gateway) -> None:
    for reply in (
        await gateway.get("api", "nowhere"),
        await gateway.post("api", "nowhere", "parse", body={}),
        await gateway.post("api", "grammar", "unparse", body={}),
    ):
        assert reply.code == 404, reply
        assert reply.body["error"] == "not_found"
        assert reply.body["message"]


async def test_reserved_names_keep_their_own_routes(gateway: Gateway) -> None:
    assert "agents" in (await gateway.get("api", "agents")).body
    assert (await gateway.get("api", "health")).body["status"] == "ok"
    purgatory = await gateway.get("api", "purgatory")
    assert purgatory.code == 404
    assert purgatory.body["error"] == "not_found"


async def test_a_raising_command_is_500_and_the_server_carries_on(
    gateway: Gateway, tools: Tools
) -> None:
    reply = await gateway.post("api", "tools", "fail", body={"message": "on purpose"})
    assert reply.code == 500, reply
    assert reply.body == {
        "error": "command_error",
        "error_type": "RuntimeError",
        "message": "on purpose",
    }
    assert (await gateway.get("api", "health")).body["status"] == "ok"
    assert (await gateway.post("api", "tools", "add", body={"a": 1})).body == {"result": 2}


# -- auth ----------------------------------------------------------------------------------------


async def test_calling_needs_a_token(gateway: Gateway) -> None:
    anonymous = await gateway.post("api", "grammar", "parse", body={"text": "hi"}, auth=False)
    assert anonymous.code == 403
    assert anonymous.body["error"] == "forbidden"
    wrong = await gateway.post(
        "api",
        "grammar",
        "parse",
        body={"text": "hi"},
        auth=False,
        headers={"Authorization": "token not-the-token"},
    )
    assert wrong.code == 403


@pytest.mark.terrarium(public_observe=False)
async def test_listing_follows_public_observe(gateway: Gateway) -> None:
    for parts in (("api", "grammar"), ("api", "openapi.json")):
        assert (await gateway.get(*parts)).code == 403
        assert (await gateway.get(*parts, auth=True)).code == 200


# -- STATUS and OpenAPI --------------------------------------------------------------------------


async def test_an_agent_of_a_genus_lists_its_commands_in_status(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    registry.register(FluxAgent(Tools(), agent_id="toolbox"))
    try:
        status = (await gateway.get("api", "agents", "toolbox")).body
        assert status["genus"] == "tools"
        assert status["commands"] == ["add", "centre", "fail", "nothing"]
        reply = await gateway.post("api", "tools", "add", body={"a": 40, "b": 2})
        assert reply.body == {"result": 42}
    finally:
        await registry.unregister("toolbox")
    assert (await gateway.get("api", "tools")).code == 404


async def test_the_openapi_document_is_valid_and_has_every_route(
    gateway: Gateway, tools: Tools
) -> None:
    reply = await gateway.get("api", "openapi.json")
    assert reply.code == 200, reply
    document = reply.body
    validate(json.loads(json.dumps(document)))
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": gateway.base_url + "terrarium/api"}]
    paths = document["paths"]
    for path, method in [
        ("/agents", "get"),
        ("/agents/{agent_id}", "get"),
        ("/agents/{agent_id}/events", "get"),
        ("/agents/{agent_id}/perturb", "post"),
        ("/health", "get"),
        ("/openapi.json", "get"),
        ("/purgatory/{agent_id}/pending", "get"),
        ("/purgatory/{agent_id}/{token_id}", "get"),
        ("/purgatory/{agent_id}/resolve/{token_id}", "post"),
        ("/purgatory/{agent_id}/cancel/{token_id}", "post"),
        ("/{genus}", "get"),
        ("/{genus}/{command}", "post"),
        ("/grammar", "get"),
        ("/grammar/parse", "post"),
        ("/tools", "get"),
        ("/tools/add", "post"),
        ("/tools/centre", "post"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing"
    assert "/tools/backstage" not in paths

    centre = paths["/tools/centre"]["post"]
    body = centre["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["points"]
    ref = body["properties"]["points"]["items"]["$ref"]
    name = ref.removeprefix("#/components/schemas/")
    assert document["components"]["schemas"][name]["required"] == ["x"]
    result = centre["responses"]["200"]["content"]["application/json"]["schema"]
    assert result["properties"]["result"]["title"] == "Point"
    assert "400" in centre["responses"] and "500" in centre["responses"]
    add = paths["/tools/add"]["post"]
    assert add["requestBody"]["content"]["application/json"]["examples"] == {
        "example1": {"value": {"a": 1, "b": 2}}
    }
    assert add["security"]
    assert paths["/agents"]["get"]["security"] == []
