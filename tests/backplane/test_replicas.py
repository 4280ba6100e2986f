"""Two real gateway replicas sharing one real Redis: what an outside client sees.

Replica ``a`` owns the demo agents; replica ``b`` has none of its own and
serves them through the backplane.
"""

from __future__ import annotations

import json
from typing import Any

from tests.backplane.conftest import Pair
from tests.jupyter_extension.helpers import (
    assert_contiguous,
    assert_event_shape,
    events_of,
    receive,
    receive_many,
    seqs_of,
    until,
)

#: Generous guard for conditions that settle asynchronously; never a measured figure.
DEADLINE = 30.0


async def listing(pair: Pair, which: str) -> dict[str, dict[str, Any]]:
    gateway = pair.gateway(pair.a if which == "a" else pair.b)
    reply = await gateway.get("api", "agents")
    assert reply.code == 200, reply
    return {status["id"]: status for status in reply.body["agents"]}


async def test_b_lists_every_agent_of_a_with_its_owner(shared_pair: Pair) -> None:
    on_b = await listing(shared_pair, "b")
    assert {"echo", "heartbeat", "slow", "approver"} <= set(on_b)
    for status in on_b.values():
        assert status["owner"] == "a"
        assert status["available"] is True
    on_a = await listing(shared_pair, "a")
    assert on_a["echo"]["owner"] == "a"
    single = await shared_pair.gateway(shared_pair.b).get("api", "agents", "echo")
    assert single.code == 200 and single.body["owner"] == "a"
    missing = await shared_pair.gateway(shared_pair.b).get("api", "agents", "nobody")
    assert missing.code == 404


async def test_observer_on_b_sees_events_of_a_with_contiguous_seqs(shared_pair: Pair) -> None:
    b, a = shared_pair.gateway(shared_pair.b), shared_pair.gateway(shared_pair.a)
    try:
        ws_b, hello = await b.observe_hello("heartbeat", since=0)
        assert hello["agent_id"] == "heartbeat" and hello["snapshot"]["owner"] == "a"
        frames = await until(ws_b, lambda f: f.get("seq", 0) >= hello["seq"] + 3)
        assert not [f for f in frames if f.get("type") == "gap"]
        seqs = seqs_of(frames)
        assert_contiguous(seqs, first=1)
        for frame in events_of(frames):
            assert_event_shape(frame, "heartbeat")
        # The owner's own observers get the very same events under the same seqs.
        ws_a, _ = await a.observe_hello("heartbeat", since=seqs[-3])
        from_a = await receive_many(ws_a, 2)
        by_seq = {frame["seq"]: frame for frame in events_of(frames)}
        for frame in from_a:
            assert by_seq[frame["seq"]] == frame
    finally:
        a.close_all()
        b.close_all()


async def test_beam_on_b_reaches_the_agent_on_a(shared_pair: Pair) -> None:
    b, a = shared_pair.gateway(shared_pair.b), shared_pair.gateway(shared_pair.a)
    try:
        watch, _ = await a.observe_hello("echo")
        beam = await b.beam("echo")
        await beam.write_message(json.dumps({"id": "c1", "data": {"hello": "from b"}}))
        reply = await receive(beam)
        assert reply is not None
        assert reply["type"] == "result" and reply["id"] == "c1"
        assert reply["output"] == {"hello": "from b"}
        # The owner's mirror shows the same perturbation, under the id b answered with.
        seen = await until(watch, lambda f: f.get("type") == "result")
        accepted = [f for f in seen if f.get("type") == "perturbation"]
        assert accepted[-1]["data"]["perturbation_id"] == reply["perturbation_id"]
    finally:
        a.close_all()
        b.close_all()


async def test_rest_perturb_on_b_reaches_the_agent_on_a(shared_pair: Pair) -> None:
    b = shared_pair.gateway(shared_pair.b)
    reply = await b.post("api", "agents", "echo", "perturb", body={"data": [1, 2, 3]})
    assert reply.code == 200, reply.body
    assert reply.body["output"] == [1, 2, 3]
    assert isinstance(reply.body["perturbation_id"], str)
    bad = await b.post("api", "agents", "echo", "perturb", body={"data": 1, "priority": 500})
    assert bad.code == 400 and bad.body["error"] == "bad_request"


async def test_queue_full_from_b_keeps_its_meaning(shared_pair: Pair) -> None:
    """``slow`` holds 16 waiting perturbations: of a burst of 20, some are refused."""
    b = shared_pair.gateway(shared_pair.b)
    try:
        beam = await b.beam("slow")
        burst = 20
        for index in range(burst):
            frame = {"id": f"s{index}", "data": {"seconds": 0.2}}
            await beam.write_message(json.dumps(frame))
        replies = await receive_many(beam, burst)
        codes = [reply.get("code") for reply in replies if reply["type"] == "error"]
        results = [reply for reply in replies if reply["type"] == "result"]
        assert codes and set(codes) == {"queue_full"}, replies
        assert len(results) + len(codes) == burst
        assert 1 <= len(results) <= 17
    finally:
        b.close_all()


async def test_routed_timeout_answers_timeout(shared_pair: Pair) -> None:
    b = shared_pair.gateway(shared_pair.b)
    reply = await b.post(
        "api", "agents", "slow", "perturb", body={"data": {"seconds": 2}, "timeout": 0.3}
    )
    assert reply.code == 504 and reply.body["error"] == "timeout", reply.body


async def test_semaphore_through_b(shared_pair: Pair) -> None:
    """The approver asks a human; b shows the token, resolves it, and the result follows."""
    b = shared_pair.gateway(shared_pair.b)
    try:
        beam = await b.beam("approver")
        request = {"action": "delete", "records": 47}
        await beam.write_message(json.dumps({"id": "ask", "data": request}))
        asked = await receive(beam)
        assert asked is not None and asked["type"] == "semaphore", asked
        token = asked["token"]
        pending = await b.get("api", "purgatory", "approver", "pending")
        assert token["id"] in [t["id"] for t in pending.body["pending"]]
        read = await b.get("api", "purgatory", "approver", token["id"])
        assert read.code == 200 and read.body["status"] == "pending"
        resolved = await b.post(
            "api", "purgatory", "approver", "resolve", token["id"], body={"human_input": "Approve"}
        )
        assert resolved.code == 200, resolved.body
        assert resolved.body["token"]["status"] == "resuming"
        result = await receive(beam)
        assert result is not None and result["type"] == "result" and result["id"] == "ask"
        assert result["output"] == {"deleted": 47, "approved": True}
        again = await b.post(
            "api", "purgatory", "approver", "resolve", token["id"], body={"human_input": "Approve"}
        )
        assert again.code == 409 and again.body["error"] == "not_pending"
    finally:
        b.close_all()


async def test_events_route_on_b_reads_the_stream(shared_pair: Pair) -> None:
    b, a = shared_pair.gateway(shared_pair.b), shared_pair.gateway(shared_pair.a)
    from_a = await a.get("api", "agents", "heartbeat", "events", since=0)
    last = from_a.body["events"][-1]["seq"]
    from_b = await b.get("api", "agents", "heartbeat", "events", since=last - 5, limit=3)
    assert [e["seq"] for e in from_b.body["events"]] == [last - 4, last - 3, last - 2]
    assert from_b.body["events"] == [
        e for e in from_a.body["events"] if last - 5 < e["seq"] <= last - 2
    ]


async def test_every_replica_names_an_agents_stream_by_the_same_epoch(shared_pair: Pair) -> None:
    a, b = shared_pair.gateway(shared_pair.a), shared_pair.gateway(shared_pair.b)
    _, on_a = await a.observe_hello("heartbeat")
    _, on_b = await b.observe_hello("heartbeat")
    events = await b.get("api", "agents", "heartbeat", "events", limit=1)
    status = (await listing(shared_pair, "b"))["heartbeat"]
    assert on_a["epoch"] == on_b["epoch"] == events.body["epoch"] == status["epoch"]
    # Resuming on the other replica with that epoch is no reset.
    _, hello = await a.observe_hello("heartbeat", since=on_b["seq"], epoch=on_b["epoch"])
    assert "reset" not in hello
    a.close_all()
    b.close_all()


async def test_observers_of_b_resume_with_since_after_b_restarts(shared_pair: Pair) -> None:
    """Last in this module: it restarts replica b (same port, new process)."""
    b = shared_pair.gateway(shared_pair.b)
    ws, hello = await b.observe_hello("heartbeat")
    frames = await until(ws, lambda f: f.get("seq", 0) > hello["seq"])
    last = seqs_of(frames)[-1]
    epoch = hello["epoch"]
    b.close_all()

    shared_pair.restart_b()
    b = shared_pair.gateway(shared_pair.b)
    try:
        ws, hello = await b.observe_hello("heartbeat", since=last, epoch=epoch)
        assert hello["seq"] > last  # heartbeat kept beating on a while b was away
        assert hello["epoch"] == epoch and "reset" not in hello
        frames = await until(ws, lambda f: f.get("seq", 0) > hello["seq"])
        assert not [f for f in frames if f.get("type") == "gap"]
        assert_contiguous(seqs_of(frames), first=last + 1)
    finally:
        b.close_all()
