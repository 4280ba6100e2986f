"""Purgatory over real sockets: eject, observe, list, resolve, cancel, void, restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests.jupyter_extension.helpers import Gateway, is_type, receive, until
from tests.launcher import TOKEN, TerrariumProcess

TOKEN_KEYS = {
    "id",
    "agent_id",
    "reason",
    "prompt",
    "options",
    "severity",
    "created_at",
    "deadline",
    "status",
}


def ejected_with(token_id: str) -> Any:
    return lambda frame: (
        frame.get("type") == "semaphore_ejected" and frame["data"]["token"]["id"] == token_id
    )


def about(kind: str, token_id: str) -> Any:
    return lambda frame: frame.get("type") == kind and frame["data"].get("token_id") == token_id


async def eject_over_rest(gateway: Gateway, **data: Any) -> dict[str, Any]:
    reply = await gateway.post(
        "api", "agents", "approver", "perturb", body={"data": {"records": 47, **data}}
    )
    assert reply.code == 202, reply
    assert set(reply.body) == {"perturbation_id", "token"}
    return dict(reply.body["token"])


async def test_the_full_round_trip_over_the_beam(gateway: Gateway) -> None:
    observer, _ = await gateway.observe_hello("approver")
    beam = await gateway.beam("approver")
    beam.write_message(json.dumps({"id": "ask", "data": {"action": "delete", "records": 47}}))
    semaphore = await receive(beam)
    assert semaphore is not None and semaphore["type"] == "semaphore"
    assert semaphore["id"] == "ask"
    token = semaphore["token"]
    assert set(token) == TOKEN_KEYS
    assert (token["prompt"], token["severity"], token["status"]) == (
        "Delete 47 records?",
        "critical",
        "pending",
    )
    assert token["options"] == ["Approve", "Reject"]
    assert token["agent_id"] == "approver"

    await until(observer, ejected_with(token["id"]))
    pending = await gateway.get("api", "purgatory", "approver", "pending")
    assert token in pending.body["pending"]
    single = await gateway.get("api", "purgatory", "approver", token["id"])
    assert single.body == token

    _, hello = await gateway.observe_hello("approver")
    assert token in hello["snapshot"]["pending"]
    assert hello["snapshot"]["pending_semaphores"] >= 1

    resolved = await gateway.post(
        "api", "purgatory", "approver", "resolve", token["id"], body={"human_input": "Approve"}
    )
    assert resolved.code == 200, resolved
    # The answer is recorded and the resume owed; "resolved" once it has run.
    assert resolved.body["token"]["status"] == "resuming"

    result = await receive(beam)
    assert result is not None
    assert result == {
        "type": "result",
        "id": "ask",
        "perturbation_id": semaphore["perturbation_id"],
        "output": {"deleted": 47, "approved": True},
    }
    frames = await until(observer, about("semaphore_resolved", token["id"]))
    assert frames[-1]["data"]["output"] == {"deleted": 47, "approved": True}
    after = await gateway.get("api", "purgatory", "approver", token["id"])
    assert after.body["status"] == "resolved"


async def test_resolving_twice_concurrently_resumes_once(gateway: Gateway) -> None:
    observer, _ = await gateway.observe_hello("approver")
    token = await eject_over_rest(gateway)
    replies = await asyncio.gather(
        *(
            gateway.post(
                "api", "purgatory", "approver", "resolve", token["id"], body={"human_input": n}
            )
            for n in ("Approve", "Reject", "Approve", "Reject")
        )
    )
    codes = sorted(reply.code for reply in replies)
    assert codes == [200, 409, 409, 409]
    refused = [reply for reply in replies if reply.code == 409]
    assert all(reply.body["error"] == "not_pending" for reply in refused)
    await until(observer, about("semaphore_resolved", token["id"]))
    observer.write_message(json.dumps({"type": "ping"}))
    rest = await until(observer, is_type("pong"))
    assert not [frame for frame in rest if about("semaphore_resolved", token["id"])(frame)]


async def test_cancel_reaches_the_waiter_and_the_observers(gateway: Gateway) -> None:
    observer, _ = await gateway.observe_hello("approver")
    beam = await gateway.beam("approver")
    beam.write_message(json.dumps({"id": "c", "data": {"records": 99}}))
    semaphore = await receive(beam)
    assert semaphore is not None and semaphore["type"] == "semaphore"
    token_id = semaphore["token"]["id"]

    cancelled = await gateway.post("api", "purgatory", "approver", "cancel", token_id)
    assert cancelled.code == 200
    assert cancelled.body["token"]["status"] == "cancelled"
    reply = await receive(beam)
    assert reply is not None and reply["type"] == "error" and reply["id"] == "c"
    assert reply["code"] == "agent_error"
    await until(observer, about("semaphore_cancelled", token_id))

    again = await gateway.post("api", "purgatory", "approver", "cancel", token_id)
    assert again.code == 409
    late = await gateway.post(
        "api", "purgatory", "approver", "resolve", token_id, body={"human_input": "Approve"}
    )
    assert late.code == 409


async def test_a_deadline_voids_the_token(gateway: Gateway) -> None:
    observer, _ = await gateway.observe_hello("approver")
    token = await eject_over_rest(gateway, decision_seconds=0.2)
    assert token["deadline"] is not None
    frames = await until(observer, about("semaphore_voided", token["id"]))
    assert frames[-1]["data"] == {"token_id": token["id"], "reason": "deadline"}
    status = await gateway.get("api", "purgatory", "approver", token["id"])
    assert status.body["status"] == "voided"
    pending = await gateway.get("api", "purgatory", "approver", "pending")
    assert token["id"] not in {t["id"] for t in pending.body["pending"]}


async def test_bad_requests_get_clear_errors(gateway: Gateway) -> None:
    token = await eject_over_rest(gateway)
    resolve = ("api", "purgatory", "approver", "resolve", token["id"])
    path = gateway.path(*resolve)

    not_json = await gateway.fetch(path, method="POST", raw_body=b"{nope")
    assert (not_json.code, not_json.body["error"]) == (400, "bad_request")
    missing = await gateway.post(*resolve, body={"answer": "Approve"})
    assert (missing.code, missing.body["error"]) == (400, "bad_request")
    unknown_agent = await gateway.post(
        "api", "purgatory", "ghost", "resolve", token["id"], body={"human_input": 1}
    )
    assert (unknown_agent.code, unknown_agent.body["error"]) == (404, "unknown_agent")
    unknown_token = await gateway.post(
        "api", "purgatory", "approver", "resolve", "nope", body={"human_input": 1}
    )
    assert (unknown_token.code, unknown_token.body["error"]) == (404, "unknown_token")
    assert (await gateway.get("api", "purgatory", "approver", "nope")).code == 404
    assert (await gateway.get("api", "purgatory", "ghost", "pending")).code == 404
    anonymous = await gateway.post(*resolve, body={"human_input": "Approve"}, auth=False)
    assert anonymous.code == 403
    still = await gateway.get("api", "purgatory", "approver", token["id"])
    assert still.body["status"] == "pending"


@pytest.mark.terrarium(purgatory_store="memory")
async def test_the_memory_store_works_the_same(gateway: Gateway) -> None:
    token = await eject_over_rest(gateway)
    listed = await gateway.get("api", "purgatory", "approver", "pending")
    assert token["id"] in {t["id"] for t in listed.body["pending"]}


async def resolve_in(server: TerrariumProcess, token_id: str, answer: str) -> dict[str, Any]:
    client = AsyncHTTPClient()
    response = await client.fetch(
        HTTPRequest(
            f"{server.url}/terrarium/api/purgatory/approver/resolve/{token_id}",
            method="POST",
            body=json.dumps({"human_input": answer}),
            headers={"Authorization": f"token {TOKEN}"},
        )
    )
    return dict(json.loads(response.body))


async def test_a_pending_token_survives_a_restart(tmp_path: Path) -> None:
    client = AsyncHTTPClient()
    with TerrariumProcess(tmp_path) as first:
        await first.healthy()
        response = await client.fetch(
            HTTPRequest(
                f"{first.url}/terrarium/api/agents/approver/perturb",
                method="POST",
                body=json.dumps({"data": {"records": 321, "decision_seconds": 600}}),
                headers={"Authorization": f"token {TOKEN}"},
            )
        )
        assert response.code == 202
        token = json.loads(response.body)["token"]

    with TerrariumProcess(tmp_path) as second:
        await second.healthy()
        listed = json.loads(
            (await client.fetch(f"{second.url}/terrarium/api/purgatory/approver/pending")).body
        )
        assert token in listed["pending"]
        observer = await websocket_connect(f"ws://{second.host}/terrarium/observe/approver")
        try:
            hello = json.loads(await asyncio.wait_for(observer.read_message(), 10) or "null")
            assert token in hello["snapshot"]["pending"]
            resolved = await resolve_in(second, token["id"], "Approve")
            assert resolved["token"]["status"] == "resuming"
            while True:
                frame = json.loads(await asyncio.wait_for(observer.read_message(), 10) or "null")
                if about("semaphore_resolved", token["id"])(frame):
                    break
            assert frame["data"]["output"] == {"deleted": 321, "approved": True}
        finally:
            observer.close()
