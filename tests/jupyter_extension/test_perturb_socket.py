"""The Beam (PROTOCOL.md section 3) on a live server: replies, refusals, backpressure, order."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection

from terrarium.registry import AgentRegistry
from tests.jupyter_extension.agents import GATE_BUFFER, Gate
from tests.jupyter_extension.helpers import (
    Frame,
    Gateway,
    events_of,
    is_seq,
    is_type,
    receive,
    receive_many,
    until,
)

ERROR_KEYS = {"type", "id", "code", "message"}


def send(ws: WebSocketClientConnection, cid: str, data: Any, **options: Any) -> None:
    ws.write_message(json.dumps({"id": cid, "data": data, **options}))


def assert_error(reply: Frame | None, cid: str | None, code: str) -> None:
    assert reply is not None
    assert set(reply) == ERROR_KEYS, reply
    assert reply["type"] == "error"
    assert reply["id"] == cid
    assert reply["code"] == code, reply
    assert isinstance(reply["message"], str) and reply["message"]


async def test_result_reply_carries_id_perturbation_id_and_output(gateway: Gateway) -> None:
    beam = await gateway.beam("echo")
    data = {"text": "hi", "list": [1, 2.5, None, True], "nested": {"a": "é"}}

    send(beam, "c-1", data)
    reply = await receive(beam)

    assert reply is not None
    assert set(reply) == {"type", "id", "perturbation_id", "output"}
    assert reply["type"] == "result"
    assert reply["id"] == "c-1"
    assert isinstance(reply["perturbation_id"], str) and reply["perturbation_id"]
    assert reply["output"] == data


async def test_lone_requests_and_bursts_alternate_on_one_socket(gateway: Gateway) -> None:
    """A lone request lets the agent answer before the socket is read again; a burst
    is read on at once. Either way every request is answered, and the socket keeps reading."""
    beam = await gateway.beam("echo")
    for round_ in range(3):
        send(beam, f"lone-{round_}", round_)
        reply = await receive(beam)
        assert reply is not None and reply["id"] == f"lone-{round_}"
        for index in range(5):
            send(beam, f"burst-{round_}-{index}", index)
        replies = await receive_many(beam, 5)
        assert [r["id"] for r in replies] == [f"burst-{round_}-{i}" for i in range(5)]
        assert [r["output"] for r in replies] == list(range(5))


async def test_several_requests_may_be_in_flight_on_one_socket(gateway: Gateway) -> None:
    beam = await gateway.beam("echo")
    for index in range(10):
        send(beam, f"r{index}", index)

    answered = await receive_many(beam, 10)

    assert sorted(reply["id"] for reply in answered) == sorted(f"r{i}" for i in range(10))
    assert all(reply["output"] == int(reply["id"][1:]) for reply in answered)
    assert len({reply["perturbation_id"] for reply in answered}) == 10


@pytest.mark.parametrize(
    ("frame", "cid"),
    [
        pytest.param("not json", None, id="not-json"),
        pytest.param("[1, 2, 3]", None, id="json-array"),
        pytest.param('"text"', None, id="json-string"),
        pytest.param("null", None, id="json-null"),
        pytest.param('{"id": "m"}', "m", id="missing-data"),
        pytest.param('{"data": 1}', None, id="missing-id"),
        pytest.param('{"id": 7, "data": 1}', None, id="number-id"),
        pytest.param('{"id": null, "data": 1}', None, id="null-id"),
        pytest.param('{"id": "p", "data": 1, "priority": 0}', "p", id="priority-0"),
        pytest.param('{"id": "p", "data": 1, "priority": 200}', "p", id="priority-200"),
        pytest.param('{"id": "p", "data": 1, "priority": "high"}', "p", id="priority-str"),
        pytest.param('{"id": "p", "data": 1, "priority": true}', "p", id="priority-bool"),
        pytest.param('{"id": "p", "data": 1, "priority": 1.5}', "p", id="priority-float"),
        pytest.param('{"id": "t", "data": 1, "timeout": -1}', "t", id="timeout-negative"),
        pytest.param('{"id": "t", "data": 1, "timeout": 0}', "t", id="timeout-zero"),
        pytest.param('{"id": "t", "data": 1, "timeout": "soon"}', "t", id="timeout-str"),
        pytest.param('{"id": "t", "data": 1, "timeout": true}', "t", id="timeout-bool"),
    ],
)
async def test_bad_frames_get_bad_request_and_the_socket_stays_usable(
    gateway: Gateway, registry: AgentRegistry, frame: str, cid: str | None
) -> None:
    beam = await gateway.beam("echo")

    beam.write_message(frame)
    assert_error(await receive(beam), cid, "bad_request")

    send(beam, "after", "still here")
    reply = await receive(beam)
    assert reply is not None and reply["type"] == "result" and reply["id"] == "after"
    assert registry.get("echo").counters().events == 1


@pytest.mark.parametrize("priority", [1, 199])
async def test_priorities_at_the_edges_are_accepted(gateway: Gateway, priority: int) -> None:
    beam = await gateway.beam("echo")

    send(beam, "edge", "x", priority=priority, timeout=5)

    reply = await receive(beam)
    assert reply is not None and reply["type"] == "result"


async def test_a_null_priority_and_timeout_mean_the_defaults(gateway: Gateway) -> None:
    observer, _ = await gateway.observe_hello("echo")
    beam = await gateway.beam("echo")

    send(beam, "nulls", "x", priority=None, timeout=None)

    reply = await receive(beam)
    assert reply is not None and reply["type"] == "result" and reply["id"] == "nulls"
    accepted = await until(observer, is_type("perturbation"))
    assert accepted[-1]["data"]["priority"] == 100


@pytest.mark.terrarium(max_message_size=1024)
async def test_a_frame_larger_than_max_message_size_closes_with_1009(gateway: Gateway) -> None:
    beam = await gateway.beam("echo")
    send(beam, "fits", "x" * 900)
    reply = await receive(beam)
    assert reply is not None and reply["output"] == "x" * 900

    send(beam, "too-big", "x" * 2000)

    assert await receive(beam) is None
    assert beam.close_code == 1009


async def test_a_full_queue_refuses_exactly_the_overflow(
    gateway: Gateway, registry: AgentRegistry, gate: Gate
) -> None:
    beam = await gateway.beam("gate")
    send(beam, "hold", {"hold": True})
    await gate.held()
    flood = 20
    for index in range(flood):
        send(beam, str(index), index)

    refused = await receive_many(beam, flood - GATE_BUFFER)
    status = (await gateway.get("api", "agents", "gate")).body
    gate.release()
    served = await receive_many(beam, GATE_BUFFER + 1)

    for reply, cid in zip(refused, range(GATE_BUFFER, flood), strict=True):
        assert_error(reply, str(cid), "queue_full")
    assert status["queue_depth"] == GATE_BUFFER
    assert status["pressure"] == 100.0
    assert [reply["id"] for reply in served] == ["hold", *map(str, range(GATE_BUFFER))]
    assert all(reply["type"] == "result" for reply in served)
    assert registry.get("gate").counters().events == GATE_BUFFER + 1


@pytest.mark.terrarium(perturb_rate_limit=5)
async def test_requests_beyond_the_burst_are_rate_limited_per_connection(
    gateway: Gateway,
) -> None:
    beam = await gateway.beam("echo")
    count = 50
    started = time.monotonic()
    for index in range(count):
        send(beam, str(index), index)

    answered = await receive_many(beam, count)
    elapsed = time.monotonic() - started

    by_id = {reply["id"]: reply for reply in answered}
    assert len(by_id) == count
    assert all(by_id[str(index)]["type"] == "result" for index in range(5))
    limited = [reply for reply in answered if reply["type"] == "error"]
    assert limited
    for reply in limited:
        assert_error(reply, reply["id"], "rate_limited")
    # The bucket refills at 5/s: nothing beyond the burst and the refill got through.
    assert count - len(limited) <= 5 + 5 * elapsed + 1

    other = await gateway.beam("echo")
    send(other, "fresh", 1)
    fresh = await receive(other)
    assert fresh is not None and fresh["type"] == "result"


async def test_perturbations_from_two_sockets_each_get_their_own_replies(
    gateway: Gateway, gate: Gate
) -> None:
    first = await gateway.beam("gate")
    second = await gateway.beam("gate")
    send(first, "same", {"hold": True, "from": "first"})
    await gate.held()
    send(second, "same", {"from": "second"})
    send(first, "next", {"from": "first, again"})
    send(second, "next", {"from": "second, again"})
    await until(await gateway.observe("gate"), is_seq(5))  # all four accepted
    status = (await gateway.get("api", "agents", "gate")).body
    assert (status["state"], status["queue_depth"]) == ("perturbed", 3)

    gate.release()

    mine = await receive_many(first, 2)
    theirs = await receive_many(second, 2)
    assert [(r["id"], r["output"]["from"]) for r in mine] == [
        ("same", "first"),
        ("next", "first, again"),
    ]
    assert [(r["id"], r["output"]["from"]) for r in theirs] == [
        ("same", "second"),
        ("next", "second, again"),
    ]


async def test_a_queued_request_past_its_timeout_gets_timeout(gateway: Gateway, gate: Gate) -> None:
    watch, _ = await gateway.observe_hello("gate")
    beam = await gateway.beam("gate")
    send(beam, "hold", {"hold": True})
    await gate.held()

    send(beam, "late", "waiting", timeout=0.05)

    assert_error(await receive(beam), "late", "timeout")
    errors = events_of(await until(watch, is_type("error")))
    assert errors[-1]["data"]["error_type"] == "PerturbationTimeout"
    gate.release()
    assert (await receive(beam) or {}).get("id") == "hold"


async def test_a_request_running_past_its_timeout_gets_timeout(
    gateway: Gateway, gate: Gate
) -> None:
    beam = await gateway.beam("gate")

    send(beam, "stuck", {"hold": True}, timeout=0.05)

    await gate.held()
    assert_error(await receive(beam), "stuck", "timeout")
    send(beam, "next", "free again")
    reply = await receive(beam)
    assert reply is not None and reply["id"] == "next" and reply["type"] == "result"


async def test_an_agent_that_raises_answers_agent_error(gateway: Gateway) -> None:
    beam = await gateway.beam("boom")

    send(beam, "b", "kaboom")

    reply = await receive(beam)
    assert_error(reply, "b", "agent_error")
    assert reply is not None and "boom" in reply["message"]


async def test_a_stopped_agent_answers_agent_unavailable(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    beam = await gateway.beam("echo")
    await registry.stop("echo")

    send(beam, "s", 1)

    assert_error(await receive(beam), "s", "agent_unavailable")


async def test_a_collapsed_agent_answers_agent_unavailable(gateway: Gateway) -> None:
    beam = await gateway.beam("fragile")

    send(beam, "c", 1)

    assert_error(await receive(beam), "c", "agent_unavailable")


async def test_removing_an_agent_answers_what_it_served_and_queued_agent_unavailable(
    gateway: Gateway, registry: AgentRegistry, gate: Gate
) -> None:
    beam = await gateway.beam("gate")
    send(beam, "serving", {"hold": True})
    await gate.held()
    send(beam, "queued-1", 1)
    send(beam, "queued-2", 2)
    await until(await gateway.observe("gate"), is_seq(4))  # both queued

    await registry.unregister("gate")

    answered = {reply["id"]: reply for reply in await receive_many(beam, 3)}
    assert sorted(answered) == ["queued-1", "queued-2", "serving"]
    for cid, reply in answered.items():
        assert_error(reply, cid, "agent_unavailable")
    send(beam, "after", 3)
    assert_error(await receive(beam), "after", "agent_unavailable")


async def test_higher_priority_is_served_first_and_equal_priority_in_order(
    gateway: Gateway, gate: Gate
) -> None:
    beam = await gateway.beam("gate")
    send(beam, "hold", {"hold": True})
    await gate.held()
    queued = [("a", 10), ("b", 150), ("c", 100), ("d", 199), ("e", 1), ("f", 150), ("g", 100)]
    for cid, priority in queued:
        send(beam, cid, cid, priority=priority)
    await until(await gateway.observe("gate"), is_seq(2 + len(queued)))  # all queued

    gate.release()

    served = await receive_many(beam, 1 + len(queued))
    assert [reply["id"] for reply in served] == ["hold", "d", "b", "f", "c", "g", "a", "e"]


async def test_a_reply_to_a_socket_closed_meanwhile_is_dropped_and_the_agent_carries_on(
    gateway: Gateway, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    watch, _ = await gateway.observe_hello("gate")
    gone = await gateway.beam("gate")
    send(gone, "orphan", {"hold": True})
    await gate.held()
    gone.close()
    await asyncio.sleep(0.1)  # the server notices the close before the reply is due

    gate.release()
    result = events_of(await until(watch, is_type("result")))[-1]
    assert result["data"]["output"] == {"hold": True}
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]

    beam = await gateway.beam("gate")
    send(beam, "after", "still serving")
    reply = await receive(beam)
    assert reply is not None and reply["id"] == "after" and reply["output"] == "still serving"


async def test_after_a_reply_the_result_event_is_already_in_the_history(gateway: Gateway) -> None:
    beam = await gateway.beam("echo")
    for n in range(5):
        send(beam, f"r{n}", {"n": n})
        reply = await receive(beam)
        assert reply is not None and reply["type"] == "result"
        kept = await gateway.get("api", "agents", "echo", "events", since=0)
        results = [event for event in kept.body["events"] if event["type"] == "result"]
        assert results[-1]["data"]["perturbation_id"] == reply["perturbation_id"]
        assert results[-1]["data"]["output"] == {"n": n}
