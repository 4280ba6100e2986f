"""What a real server sends conforms to ``terrarium.protocol``, the shapes written once.

Each frame and body is validated strictly by pydantic against the protocol's
TypedDict: a missing key, a key of the wrong type or a value out of range
fails. (Schemathesis checks the REST routes against the OpenAPI document,
which is generated from the same shapes.)
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from terrarium import protocol
from tests.jupyter_extension.agents import Gate
from tests.jupyter_extension.helpers import Gateway, receive, until

pytestmark = pytest.mark.usefixtures("gate")


def conforms(shape: Any, value: Any) -> None:
    TypeAdapter(shape).validate_python(value, strict=True)


def test_conforms_refuses_what_the_protocol_does_not_allow() -> None:
    event = {"seq": 0, "ts": 1.0, "agent_id": "a", "type": "result", "data": {}}
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        conforms(protocol.Event, event)
    with pytest.raises(ValidationError, match="data"):
        conforms(protocol.Event, {**event, "seq": 1, "data": None})


async def test_observe_frames_conform(gateway: Gateway, gate: Gate) -> None:
    beam = await gateway.beam("gate")
    await beam.write_message('{"id": "a", "data": "hi"}')
    reply = await receive(beam)
    conforms(protocol.PerturbResultReply, reply)
    ws, hello = await gateway.observe_hello("gate", since=0)
    conforms(protocol.Hello, hello)
    conforms(protocol.Status, {k: v for k, v in hello["snapshot"].items() if k != "pending"})
    frames = await until(ws, lambda frame: frame.get("type") == "result")
    for frame in frames:
        if frame["type"] == "gap":
            conforms(protocol.Gap, frame)
        else:
            conforms(protocol.Event, frame)
            assert frame["type"] in protocol.EVENT_TYPES


async def test_beam_errors_conform(gateway: Gateway) -> None:
    beam = await gateway.beam("gate")
    await beam.write_message('{"id": "b", "data": 1, "priority": 500}')
    reply = await receive(beam)
    conforms(protocol.PerturbErrorReply, reply)
    assert reply is not None and reply["code"] == "bad_request"


async def test_rest_bodies_conform(gateway: Gateway) -> None:
    conforms(protocol.AgentsListing, (await gateway.get("api", "agents")).body)
    conforms(protocol.Status, (await gateway.get("api", "agents", "gate")).body)
    await gateway.post("api", "agents", "gate", "perturb", body={"data": "x"})
    conforms(protocol.EventsPage, (await gateway.get("api", "agents", "gate", "events")).body)
    conforms(protocol.Health, (await gateway.get("api", "health")).body)
    missing = await gateway.get("api", "agents", "nobody")
    assert missing.code == 404
    conforms(protocol.ErrorBody, missing.body)
    assert missing.body["error"] in protocol.ERROR_CODES
