"""The REST routes of PROTOCOL.md section 4 (agents, events, perturb, health) on a live server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import terrarium
from terrarium.registry import AgentRegistry
from tests.jupyter_extension.agents import GATE_BUFFER, Gate
from tests.jupyter_extension.helpers import (
    STATUS_KEYS,
    Gateway,
    Reply,
    assert_event_shape,
    is_seq,
    receive,
    until,
)

STATES = {"dormant", "flowing", "perturbed", "draining", "stopped", "collapsed"}


def assert_api_error(reply: Reply, status: int, code: str) -> None:
    assert reply.code == status, reply
    assert reply.headers["Content-Type"].startswith("application/json")
    assert isinstance(reply.body, dict), reply.body
    assert {"error", "message"} <= set(reply.body)
    assert reply.body["error"] == code, reply.body
    assert isinstance(reply.body["message"], str) and reply.body["message"]


async def perturb(gateway: Gateway, agent_id: str, **body: object) -> Reply:
    return await gateway.post("api", "agents", agent_id, "perturb", body=body)


async def test_agents_lists_every_agent_with_exactly_the_status_keys(gateway: Gateway) -> None:
    reply = await gateway.get("api", "agents")

    assert reply.code == 200
    assert set(reply.body) == {"agents"}
    statuses = {status["id"]: status for status in reply.body["agents"]}
    assert {"echo", "heartbeat", "slow", "gate", "boom", "chatty", "fragile"} <= set(statuses)
    for status in statuses.values():
        assert set(status) == STATUS_KEYS, status
        assert status["genus"] is None or isinstance(status["genus"], str)
        assert status["state"] in STATES
        for key in ("seq", "observers", "events", "queue_depth", "pending_semaphores"):
            assert isinstance(status[key], int) and status[key] >= 0
        assert 0 <= status["pressure"] <= 100
        assert status["flow"] >= 0
        assert 0 <= status["temperature"] <= 1
        assert 0 <= status["turbulence"] <= 1
        assert isinstance(status["commands"], list)
    assert statuses["gate"]["genus"] == "gate"
    assert statuses["fragile"]["state"] == "collapsed"


async def test_agent_status_and_unknown_agent(gateway: Gateway, registry: AgentRegistry) -> None:
    await perturb(gateway, "echo", data=1)
    await gateway.observe_hello("echo")

    reply = await gateway.get("api", "agents", "echo")

    assert reply.code == 200
    assert set(reply.body) == STATUS_KEYS
    assert reply.body["id"] == "echo"
    assert reply.body["state"] == "flowing"
    assert reply.body["seq"] == registry.get("echo").mirror.last_seq == 3
    assert reply.body["events"] == 1
    assert reply.body["observers"] == 1
    assert_api_error(await gateway.get("api", "agents", "nope"), 404, "unknown_agent")


@pytest.mark.terrarium(history_size=5)
async def test_events_returns_kept_history_and_the_gap_before_it(gateway: Gateway) -> None:
    for index in range(5):
        await perturb(gateway, "echo", data=index)  # seqs 1..11; 7..11 are kept

    everything = await gateway.get("api", "agents", "echo", "events", since=0)
    kept = await gateway.get("api", "agents", "echo", "events")
    window = await gateway.get("api", "agents", "echo", "events", since=8, limit=2)
    first = await gateway.get("api", "agents", "echo", "events", limit=1)
    nothing_new = await gateway.get("api", "agents", "echo", "events", since=11)

    assert everything.code == 200
    assert set(everything.body) == {"events", "gap", "epoch"}
    assert everything.body["gap"] == {"from": 1, "to": 6}
    epoch = everything.body["epoch"]
    assert [event["seq"] for event in everything.body["events"]] == [7, 8, 9, 10, 11]
    for event in everything.body["events"]:
        assert_event_shape(event, "echo")
    assert kept.body == {"events": everything.body["events"], "gap": None, "epoch": epoch}
    assert window.body == {"events": everything.body["events"][2:4], "gap": None, "epoch": epoch}
    assert first.body == {"events": everything.body["events"][:1], "gap": None, "epoch": epoch}
    assert nothing_new.body == {"events": [], "gap": None, "epoch": epoch}


@pytest.mark.terrarium(history_size=5)
async def test_events_since_another_epoch_start_over_from_what_is_kept(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    for index in range(5):
        await perturb(gateway, "echo", data=index)  # seqs 1..11; 7..11 are kept
    epoch = registry.get("echo").mirror.epoch

    same = await gateway.get("api", "agents", "echo", "events", since=9, epoch=epoch)
    other = await gateway.get("api", "agents", "echo", "events", since=9, epoch="gone")

    assert [event["seq"] for event in same.body["events"]] == [10, 11]
    assert "reset" not in same.body
    assert other.body["reset"] is True
    assert other.body["epoch"] == epoch
    assert other.body["gap"] == {"from": 1, "to": 6}
    assert [event["seq"] for event in other.body["events"]] == [7, 8, 9, 10, 11]


async def test_events_are_the_same_json_the_observers_received(gateway: Gateway) -> None:
    observer, _ = await gateway.observe_hello("echo")
    await perturb(gateway, "echo", data={"k": [1, 2]})
    live = [await receive(observer) for _ in range(3)]

    reply = await gateway.get("api", "agents", "echo", "events", since=0)

    assert reply.body == {"events": live, "gap": None, "epoch": reply.body["epoch"]}


@pytest.mark.parametrize(
    "params",
    [{"since": "-1"}, {"since": "x"}, {"limit": "0"}, {"limit": "-3"}, {"limit": "many"}],
)
async def test_events_refuses_bad_since_or_limit(gateway: Gateway, params: dict[str, Any]) -> None:
    reply = await gateway.get("api", "agents", "echo", "events", **params)

    assert_api_error(reply, 400, "bad_request")


async def test_events_of_an_unknown_agent_is_404(gateway: Gateway) -> None:
    assert_api_error(await gateway.get("api", "agents", "nope", "events"), 404, "unknown_agent")


async def test_perturb_answers_200_with_the_output(gateway: Gateway) -> None:
    reply = await perturb(gateway, "echo", data={"q": "hi"}, priority=150, timeout=5)

    assert reply.code == 200
    assert set(reply.body) == {"perturbation_id", "output"}
    assert isinstance(reply.body["perturbation_id"], str) and reply.body["perturbation_id"]
    assert reply.body["output"] == {"q": "hi"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"priority": 5}', id="missing-data"),
        pytest.param(b'{"data": 1, "priority": 0}', id="priority-0"),
        pytest.param(b'{"data": 1, "priority": 200}', id="priority-200"),
        pytest.param(b'{"data": 1, "priority": "high"}', id="priority-str"),
        pytest.param(b'{"data": 1, "priority": true}', id="priority-bool"),
        pytest.param(b'{"data": 1, "timeout": -1}', id="timeout-negative"),
        pytest.param(b'{"data": 1, "timeout": "soon"}', id="timeout-str"),
    ],
)
async def test_perturb_refuses_a_bad_body_with_400(
    gateway: Gateway, registry: AgentRegistry, body: bytes
) -> None:
    reply = await gateway.fetch(
        gateway.path("api", "agents", "echo", "perturb"), method="POST", raw_body=body
    )

    assert_api_error(reply, 400, "bad_request")
    assert registry.get("echo").mirror.last_seq == 1  # nothing was accepted


async def test_perturb_an_unknown_agent_is_404(gateway: Gateway) -> None:
    assert_api_error(await perturb(gateway, "nope", data=1), 404, "unknown_agent")


async def test_perturb_a_full_queue_is_429_queue_full(gateway: Gateway, gate: Gate) -> None:
    beam = await gateway.beam("gate")
    beam.write_message(json.dumps({"id": "hold", "data": {"hold": True}}))
    await gate.held()
    for index in range(GATE_BUFFER):
        beam.write_message(json.dumps({"id": str(index), "data": index}))
    await until(await gateway.observe("gate"), is_seq(2 + GATE_BUFFER))  # all accepted

    reply = await perturb(gateway, "gate", data="one more")

    assert_api_error(reply, 429, "queue_full")
    gate.release()


@pytest.mark.terrarium(perturb_rate_limit=5)
async def test_perturb_beyond_the_burst_is_429_rate_limited(gateway: Gateway) -> None:
    count = 30
    started = time.monotonic()
    replies = [await perturb(gateway, "echo", data=index) for index in range(count)]
    elapsed = time.monotonic() - started

    assert all(reply.code == 200 for reply in replies[:5])
    limited = [reply for reply in replies if reply.code != 200]
    assert limited
    for reply in limited:
        assert_api_error(reply, 429, "rate_limited")
    assert count - len(limited) <= 5 + 5 * elapsed + 1


async def test_perturb_an_agent_that_raises_is_500_agent_error(gateway: Gateway) -> None:
    reply = await perturb(gateway, "boom", data="x")

    assert_api_error(reply, 500, "agent_error")
    assert "boom" in reply.body["message"]


async def test_perturb_a_stopped_or_collapsed_agent_is_503(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    await registry.stop("echo")

    assert_api_error(await perturb(gateway, "echo", data=1), 503, "agent_unavailable")
    assert_api_error(await perturb(gateway, "fragile", data=1), 503, "agent_unavailable")


async def test_perturb_past_its_timeout_is_504(gateway: Gateway, gate: Gate) -> None:
    beam = await gateway.beam("gate")
    beam.write_message(json.dumps({"id": "hold", "data": {"hold": True}}))
    await gate.held()

    reply = await perturb(gateway, "gate", data="late", timeout=0.05)

    assert_api_error(reply, 504, "timeout")
    gate.release()


async def test_perturb_without_a_token_is_403(gateway: Gateway, registry: AgentRegistry) -> None:
    reply = await gateway.post("api", "agents", "echo", "perturb", body={"data": 1}, auth=False)

    assert_api_error(reply, 403, "forbidden")
    assert registry.get("echo").mirror.last_seq == 1


@pytest.mark.terrarium(max_message_size=1024)
async def test_perturb_a_body_larger_than_max_message_size_is_refused(gateway: Gateway) -> None:
    reply = await perturb(gateway, "echo", data="x" * 2000)

    assert_api_error(reply, 413, "too_large")


async def test_health(gateway: Gateway, registry: AgentRegistry) -> None:
    reply = await gateway.get("api", "health")

    assert reply.code == 200
    assert reply.body == {"status": "ok", "agents": len(registry), "version": terrarium.__version__}
    assert isinstance(reply.body["agents"], int) and reply.body["agents"] >= 7
