"""The Reflection (PROTOCOL.md sections 1 and 2) on a live server: hello, ghost, live, gaps."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from terrarium.registry import AgentRegistry
from tests.jupyter_extension.agents import Gate
from tests.jupyter_extension.helpers import (
    STATUS_KEYS,
    Frame,
    Gateway,
    assert_contiguous,
    assert_event_shape,
    events_of,
    is_seq,
    is_type,
    receive,
    receive_many,
    seqs_of,
    until,
)


async def perturb_echo(gateway: Gateway, times: int) -> None:
    for index in range(times):
        reply = await gateway.post("api", "agents", "echo", "perturb", body={"data": index})
        assert reply.code == 200, reply


async def replay_of(ws: WebSocketClientConnection) -> list[Frame]:
    """What the server sent before answering a ping: after hello, any gap and the ghost."""
    ws.write_message(json.dumps({"type": "ping"}))
    frames = await until(ws, is_type("pong"))
    return frames[:-1]


async def test_first_frame_is_hello_with_newest_seq_and_snapshot(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    await perturb_echo(gateway, 2)
    last = registry.get("echo").mirror.last_seq
    assert last == 5  # state, then a perturbation and a result for each

    _, hello = await gateway.observe_hello("echo")

    assert set(hello) == {"type", "protocol", "agent_id", "seq", "epoch", "snapshot"}
    assert hello["epoch"] == registry.get("echo").mirror.epoch == hello["snapshot"]["epoch"]
    assert hello["protocol"] == 1
    assert hello["agent_id"] == "echo"
    assert hello["seq"] == last
    snapshot = hello["snapshot"]
    assert set(snapshot) >= STATUS_KEYS
    assert snapshot["id"] == "echo"
    assert snapshot["state"] == "flowing"
    assert snapshot["seq"] == last
    assert snapshot["events"] == 2
    assert snapshot["pending"] == []


async def test_events_have_seq_ts_agent_id_type_and_data(gateway: Gateway) -> None:
    ws, _ = await gateway.observe_hello("echo")
    beam = await gateway.beam("echo")
    before = time.time()
    beam.write_message(json.dumps({"id": "a", "data": {"x": 1}}))
    reply = await receive(beam)
    after = time.time()
    assert reply is not None

    frames = await until(ws, is_type("result"))

    events = events_of(frames)
    assert [event["type"] for event in events] == ["state", "perturbation", "result"]
    for event in events:
        assert_event_shape(event, "echo")
    state, perturbation, result = events
    assert state["data"] == {"state": "flowing", "previous": "dormant"}
    assert perturbation["data"] == {
        "perturbation_id": reply["perturbation_id"],
        "priority": 100,
        "by": perturbation["data"]["by"],
    }
    # The identity provider's name for the caller, not the 32-digit id it generated.
    by = perturbation["data"]["by"]
    assert isinstance(by, str) and by and not re.fullmatch(r"[0-9a-f]{32}", by), by
    assert result["data"] == {"output": {"x": 1}, "perturbation_id": reply["perturbation_id"]}
    assert before <= perturbation["ts"] <= result["ts"] <= after


async def test_replay_and_live_events_are_contiguous_without_duplicates(
    gateway: Gateway, registry: AgentRegistry, gate: Gate
) -> None:
    beam = await gateway.beam("gate")
    beam.write_message(json.dumps({"id": "hold", "data": {"hold": True}}))
    await gate.held()
    for index in range(5):
        beam.write_message(json.dumps({"id": str(index), "data": index}))
    early, early_hello = await gateway.observe_hello("gate")
    gate.release()
    # A second observer attaches while the results are being reflected.
    late, _ = await gateway.observe_hello("gate")
    final = 1 + 2 * 6

    early_frames = await until(early, is_seq(final))
    late_frames = await until(late, is_seq(final))

    assert 1 < early_hello["seq"] < final
    assert_contiguous(seqs_of(early_frames), first=1)
    assert_contiguous(seqs_of(late_frames), first=1)
    assert registry.get("gate").mirror.last_seq == final


async def test_since_resumes_a_reconnect_with_exactly_the_next_seqs(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    first, _ = await gateway.observe_hello("echo")
    await perturb_echo(gateway, 2)
    seen = await until(first, is_seq(5))
    assert_contiguous(seqs_of(seen), first=1)
    first.close()

    await perturb_echo(gateway, 2)
    resumed, hello = await gateway.observe_hello("echo", since=5)
    assert hello["seq"] == 9
    assert seqs_of(await replay_of(resumed)) == [6, 7, 8, 9]

    await perturb_echo(gateway, 1)
    live = await until(resumed, is_seq(11))
    assert seqs_of(live) == [10, 11]
    assert registry.get("echo").mirror.last_seq == 11


@pytest.mark.terrarium(history_size=5)
async def test_since_zero_after_history_rolled_off_gets_a_gap_then_contiguous_events(
    gateway: Gateway,
) -> None:
    await perturb_echo(gateway, 5)  # seqs 1..11; the mirror keeps 7..11

    ws, hello = await gateway.observe_hello("echo", since=0)
    frames = await replay_of(ws)

    assert hello["seq"] == 11
    assert frames[0] == {"type": "gap", "from": 1, "to": 6}
    assert seqs_of(frames[1:]) == [7, 8, 9, 10, 11]


@pytest.mark.terrarium(history_size=5)
async def test_without_since_all_kept_events_and_no_gap(gateway: Gateway) -> None:
    await perturb_echo(gateway, 5)

    ws, _ = await gateway.observe_hello("echo")
    frames = await replay_of(ws)

    assert all(frame.get("type") != "gap" for frame in frames)
    assert seqs_of(frames) == [7, 8, 9, 10, 11]


@pytest.mark.terrarium(history_size=5)
@pytest.mark.parametrize(("since", "expected"), [(8, [9, 10, 11]), (11, []), (50, [])])
async def test_since_within_or_past_the_kept_history_needs_no_gap(
    gateway: Gateway, since: int, expected: list[int]
) -> None:
    await perturb_echo(gateway, 5)

    ws, _ = await gateway.observe_hello("echo", since=since)
    frames = await replay_of(ws)

    assert all(frame.get("type") != "gap" for frame in frames)
    assert seqs_of(frames) == expected


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", ""])
async def test_bad_since_is_refused_with_400(gateway: Gateway, since: str) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await gateway.observe("echo", since=since)
    assert refused.value.code == 400


@pytest.mark.parametrize("agent_id", ["nope", "x" * 128, "x" * 129])
async def test_unknown_agent_is_refused_with_404(gateway: Gateway, agent_id: str) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await gateway.observe(agent_id)
    assert refused.value.code == 404


async def test_ping_is_answered_with_pong(gateway: Gateway) -> None:
    ws, _ = await gateway.observe_hello("echo")
    await until(ws, is_seq(1))

    ws.write_message(json.dumps({"type": "ping"}))

    assert await receive(ws) == {"type": "pong"}


async def test_other_client_frames_are_ignored_and_never_reach_the_agent(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    agent = registry.get("echo")
    ws, _ = await gateway.observe_hello("echo")
    await until(ws, is_seq(1))

    for message in ("not json", "[1, 2]", '{"type": "pong"}', '{"id": "x", "data": 1}', "null"):
        ws.write_message(message)
    ws.write_message(b"\x00\x01binary", binary=True)
    ws.write_message(json.dumps({"type": "ping"}))

    assert await receive(ws) == {"type": "pong"}
    assert agent.mirror.last_seq == 1
    assert agent.counters().events == 0


async def test_every_observer_gets_the_same_events_emitted_once(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    observers = [(await gateway.observe_hello("echo"))[0] for _ in range(3)]
    await perturb_echo(gateway, 1)

    streams = [await until(ws, is_seq(3)) for ws in observers]

    assert streams[0] == streams[1] == streams[2]
    assert seqs_of(streams[0]) == [1, 2, 3]
    assert registry.get("echo").mirror.last_seq == 3


async def test_removing_the_agent_closes_its_observers_with_4004(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    observers = [(await gateway.observe_hello("echo"))[0] for _ in range(2)]
    bystander, _ = await gateway.observe_hello("boom")

    await registry.unregister("echo")

    for ws in observers:
        await until(ws, is_type("state"))  # stopped
        assert await receive(ws) is None
        assert ws.close_code == 4004
    bystander.write_message(json.dumps({"type": "ping"}))
    assert (await until(bystander, is_type("pong")))[-1] == {"type": "pong"}
    with pytest.raises(HTTPClientError) as refused:
        await gateway.observe("echo")
    assert refused.value.code == 404


def story(events: list[Frame], perturbation_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The events about one perturbation, in the order observers received them."""
    return [
        (event["type"], event["data"])
        for event in events
        if event["data"].get("perturbation_id") == perturbation_id
    ]


async def test_accepted_perturbations_appear_as_perturbation_then_result_or_error(
    gateway: Gateway,
) -> None:
    watch_echo, _ = await gateway.observe_hello("echo")
    watch_boom, _ = await gateway.observe_hello("boom")
    echo_beam = await gateway.beam("echo")
    boom_beam = await gateway.beam("boom")
    for index in range(3):
        echo_beam.write_message(json.dumps({"id": f"e{index}", "data": index, "priority": 7}))
        boom_beam.write_message(json.dumps({"id": f"b{index}", "data": index}))
    echo_beam.write_message(json.dumps({"id": "bad", "priority": 7}))  # refused: no data

    echo_replies = {frame["id"]: frame for frame in await receive_many(echo_beam, 4)}
    boom_replies = await receive_many(boom_beam, 3)
    echo_events = events_of(await until(watch_echo, is_seq(7)))
    boom_events = events_of(await until(watch_boom, is_seq(7)))

    assert echo_replies.pop("bad")["code"] == "bad_request"
    assert sorted(echo_replies) == ["e0", "e1", "e2"]
    for cid, reply in echo_replies.items():
        (accepted, data), answered = story(echo_events, reply["perturbation_id"])
        assert accepted == "perturbation" and data["priority"] == 7
        assert answered == (
            "result",
            {"output": int(cid[1:]), "perturbation_id": data["perturbation_id"]},
        )
    assert [event["type"] for event in echo_events].count("perturbation") == 3
    assert {reply["code"] for reply in boom_replies} == {"agent_error"}
    boom_ids = [e["data"]["perturbation_id"] for e in boom_events if e["type"] == "perturbation"]
    assert len(boom_ids) == 3
    for perturbation_id in boom_ids:
        (accepted, _), (failed, data) = story(boom_events, perturbation_id)
        assert (accepted, failed) == ("perturbation", "error")
        assert data["error_type"] == "ValueError"
        assert "boom" in data["error"]


@pytest.mark.terrarium(metrics_interval=0.05)
async def test_metabolism_events_tick_while_observed(gateway: Gateway) -> None:
    ws, _ = await gateway.observe_hello("echo")

    metabolism = (await until(ws, is_type("metabolism")))[-1]

    assert_event_shape(metabolism, "echo")
    data = metabolism["data"]
    assert set(data) == {
        "state",
        "pressure",
        "flow",
        "temperature",
        "turbulence",
        "queue_depth",
        "observers",
    }
    assert data["state"] == "flowing"
    assert 0 <= data["pressure"] <= 100
    assert data["flow"] >= 0
    assert 0 <= data["temperature"] <= 1
    assert 0 <= data["turbulence"] <= 1
    assert data["queue_depth"] == 0
    assert data["observers"] == 1


async def test_non_finite_numbers_never_reach_the_wire(gateway: Gateway) -> None:
    ws, _ = await gateway.observe_hello("echo")
    beam = await gateway.beam("echo")

    beam.write_message('{"id": "n", "data": [NaN, Infinity, -Infinity, 1.5]}')

    reply = await receive(beam)  # parsed strictly: NaN or Infinity would raise
    assert reply is not None and reply["output"] == [None, None, None, 1.5]
    result = (await until(ws, is_type("result")))[-1]
    assert result["data"]["output"] == [None, None, None, 1.5]


async def test_a_collapsed_agent_is_described_by_its_snapshot_and_ghost(gateway: Gateway) -> None:
    ws, hello = await gateway.observe_hello("fragile")
    frames = await replay_of(ws)

    assert hello["snapshot"]["state"] == "collapsed"
    events = events_of(frames)
    assert [event["type"] for event in events] == ["state", "error", "state"]
    assert events[1]["data"] == {
        "error": "the source broke",
        "error_type": "RuntimeError",
        "perturbation_id": None,
    }
    assert events[2]["data"] == {"state": "collapsed", "previous": "flowing"}


@pytest.mark.terrarium(history_size=5)
async def test_a_since_of_another_epoch_gets_an_explicit_reset_and_the_kept_history(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    """A client resuming after a restart cannot tell by seqs alone once the new stream
    has passed its old seq; the epoch tells, and the server says so."""
    await perturb_echo(gateway, 5)  # seqs 1..11; 7..11 are kept
    epoch = registry.get("echo").mirror.epoch

    same, hello = await gateway.observe_hello("echo", since=9, epoch=epoch)
    assert "reset" not in hello
    assert seqs_of(await replay_of(same)) == [10, 11]

    other, hello = await gateway.observe_hello("echo", since=9, epoch="an-epoch-gone-by")
    assert hello["reset"] is True
    assert hello["epoch"] == epoch
    replay = await replay_of(other)
    assert replay[0] == {"type": "gap", "from": 1, "to": 6}
    assert seqs_of(replay) == [7, 8, 9, 10, 11]
