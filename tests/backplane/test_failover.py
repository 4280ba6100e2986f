"""Things going away: Redis restarting under both replicas, and an owner killed outright."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.backplane.conftest import HEARTBEAT_TTL, Pair
from tests.backplane.servers import eventually, kill, replica, wait_healthy
from tests.jupyter_extension.helpers import FRAME_TYPES, assert_contiguous, receive, seqs_of, until

#: Generous guard for conditions that settle asynchronously; never a measured figure.
DEADLINE = 30.0


def is_state(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("type") == "state" and frame["data"].get("state") == state


async def test_redis_restart_loses_no_accepted_perturbation(pair: Pair) -> None:
    a, b = pair.gateway(pair.a), pair.gateway(pair.b)

    async def listed_on_b() -> bool:
        reply = await b.get("api", "agents")
        return {"slow", "heartbeat"} <= {status["id"] for status in reply.body["agents"]}

    # a's health answers before it has claimed its agents in the directory.
    await eventually(listed_on_b, "a's agents listed on b")
    try:
        watch_a, _ = await a.observe_hello("slow")
        watch_b, hello_b = await b.observe_hello("heartbeat", since=0)
        beam = await b.beam("slow")
        count = 4
        for index in range(count):
            frame = {"id": f"p{index}", "data": {"seconds": 0.5}, "timeout": 25}
            await beam.write_message(json.dumps(frame))
        # Every one is in the agent's queue on a before Redis goes away.
        accepted: list[dict[str, Any]] = []
        while len(accepted) < count:
            frame = await receive(watch_a)
            assert frame is not None
            if frame.get("type") == "perturbation":
                accepted.append(frame)

        pair.redis.restart()

        replies = [await receive(beam, timeout=DEADLINE) for _ in range(count)]
        assert sorted(reply["id"] for reply in replies if reply) == [f"p{i}" for i in range(count)]
        assert all(reply and reply["type"] == "result" for reply in replies), replies
        ids = {frame["data"]["perturbation_id"] for frame in accepted}
        assert {reply["perturbation_id"] for reply in replies if reply} == ids

        # The observer on b kept its place: strictly increasing seqs, any loss told as a gap.
        frames = await until(
            watch_b, lambda f: f.get("seq", 0) > hello_b["seq"] + 4, timeout=DEADLINE
        )
        expected = 1
        for frame in frames:
            if frame.get("type") == "gap":
                assert frame["from"] == expected
                expected = frame["to"] + 1
            elif frame.get("type") not in FRAME_TYPES:
                assert frame["seq"] == expected
                expected += 1

        # And both replicas serve new requests through the restarted Redis.
        reply = await b.post("api", "agents", "echo", "perturb", body={"data": "after"})
        assert reply.code == 200 and reply.body["output"] == "after"
    finally:
        a.close_all()
        b.close_all()


async def test_a_killed_owner_shows_unavailable_then_comes_back(pair: Pair) -> None:
    b = pair.gateway(pair.b)

    async def echo_on_b() -> dict[str, Any]:
        reply = await b.get("api", "agents")
        return {status["id"]: status for status in reply.body["agents"]}.get("echo", {})

    async def listed() -> bool:
        return (await echo_on_b()).get("available") is True

    # b learns a's agents from the directory, which a fills once it has claimed them.
    await eventually(listed, "a's echo listed as available on b")
    epoch = (await echo_on_b())["epoch"]
    beam = await b.beam("echo")
    watcher, hello = await b.observe_hello("echo")
    kill(pair.a)

    async def gone() -> bool:
        status = await echo_on_b()
        return status.get("available") is False and status.get("state") == "stopped"

    await eventually(gone, "the killed owner's agents listed as unavailable on b")
    # An observer through b is told, not left with a stream that just stops.
    told = await until(watcher, is_state("unavailable"), timeout=DEADLINE)
    assert told[-1]["data"] == {"state": "unavailable", "previous": "flowing"}
    assert told[-1]["seq"] > hello["seq"]
    assert_contiguous(seqs_of(told))
    refused = await b.post("api", "agents", "echo", "perturb", body={"data": 1})
    assert refused.code == 503 and refused.body["error"] == "agent_unavailable"
    await beam.write_message(json.dumps({"id": "late", "data": 1}))
    answer = await receive(beam)
    assert answer is not None and answer["code"] == "agent_unavailable", answer

    # The owner comes back (a new process, so a new replica id) and registers them again.
    pair.a = replica(pair.home, pair.redis, "a2", HEARTBEAT_TTL).start()
    wait_healthy(pair.a)

    async def back() -> bool:
        status = await echo_on_b()
        return status.get("available") is True and status.get("owner") == "a2"

    await eventually(back, "the agents available again under their new owner")
    again = await until(watcher, is_state("available"), timeout=DEADLINE)
    assert again[-1]["data"] == {"state": "available", "previous": "unavailable"}
    assert seqs_of(again) == [told[-1]["seq"] + 1]
    reply = await b.post("api", "agents", "echo", "perturb", body={"data": "again"})
    assert reply.code == 200 and reply.body["output"] == "again"
    # The new owner carried the stream on from Redis: the same numbering, the same epoch.
    assert (await echo_on_b())["epoch"] == epoch
    a2 = pair.gateway(pair.a)
    _, hello = await a2.observe_hello("echo", since=1, epoch=epoch)
    assert hello["epoch"] == epoch and "reset" not in hello
    a2.close_all()
    b.close_all()
