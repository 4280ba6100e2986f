"""Redis failing under load: routed perturbations across its restart and its death, a
replica that keeps serving its own agents while Redis is gone, and bursts larger than
the backplane's Redis client has connections for.

Replica ``a`` owns the demo agents, ``b`` routes to them (``tests/backplane/conftest.py``).
The Beam's contract holds through every fault: each perturbation gets exactly one
answer, a result or one of the protocol's error codes, never silence and never two.
Which answer each gets depends on when it met the fault (PROTOCOL.md section 7:
refused at once with ``agent_unavailable`` when Redis could not take it, ``timeout``
when it was taken and its answer never came back in time); the counts are printed
(``pytest -s``) and asserted on only where the protocol leaves no choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tornado.simple_httpclient import HTTPTimeoutError
from tornado.websocket import WebSocketClientConnection

from tests.backplane.conftest import Pair
from tests.backplane.servers import eventually
from tests.jupyter_extension.helpers import (
    FRAME_TYPES,
    Gateway,
    HandshakeRefused,
    RawWebSocket,
    receive,
)

#: Generous guard for anything that settles asynchronously; never a measured figure.
DEADLINE = 60.0
#: Perturbations per fault, sent in batches with a pause between them, so the fault
#: lands while some are in flight and more are still to be sent.
PERTURBATIONS = 1000
BATCH = 25
PAUSE = 0.1
#: The fault is set off once this many have been sent.
FAULT_AFTER = 300
#: Each perturbation's own timeout: an accepted one whose answer never comes back is
#: answered ``timeout`` about this long (plus the route's trip) after it was sent.
TIMEOUT = 10.0
#: Seconds Redis stays away (after SIGTERM or SIGKILL) before it starts again on the same port.
DOWN_FOR = 1.0
#: The timeout of the REST perturbations that check echo answers (requests time out at 10 s).
PROBE_TIMEOUT = 5.0
#: After every perturbation was answered, read on this long: a second answer would show.
QUIET = 2.0
#: Guard on a run of heartbeat events (two a second) arriving; never a measured figure.
OBSERVED_WITHIN = 20.0
#: Every error code of the Beam (PROTOCOL.md section 3).
PROTOCOL_CODES = {
    "bad_request",
    "queue_full",
    "rate_limited",
    "timeout",
    "agent_error",
    "agent_unavailable",
}


class Answers:
    """Every frame the Beam sends back, by the id it carries, read by one task."""

    def __init__(self, beam: WebSocketClientConnection) -> None:
        self.beam = beam
        self.by_id: dict[Any, list[dict[str, Any]]] = {}
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.beam.read_message()
            if message is None:
                self.closed = True
                return
            frame = json.loads(message)
            self.by_id.setdefault(frame.get("id"), []).append(frame)

    def answered(self, ids: list[str]) -> bool:
        return all(cid in self.by_id for cid in ids)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Served:
    """What the owner's echo actually served: the ``result`` events its mirror reflects,
    by the correlation id the test put in the data, read on a (nothing here crosses Redis)."""

    def __init__(self, watch: WebSocketClientConnection) -> None:
        self.watch = watch
        self.times: Counter[str] = Counter()
        self.gaps: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.watch.read_message()
            if message is None:
                return
            frame = json.loads(message)
            if frame.get("type") == "gap":
                self.gaps.append(frame)
            elif frame.get("type") == "result":
                output = frame["data"].get("output")
                if isinstance(output, dict) and isinstance(output.get("cid"), str):
                    self.times[output["cid"]] += 1

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def restart_gracefully(pair: Pair) -> None:
    """SIGTERM (Redis writes its AOF out and exits); after a while, start it again on the
    same port, so perturbations also meet a Redis that is not there."""
    pair.redis.stop()
    time.sleep(DOWN_FOR)
    pair.redis.start()


def kill_and_start(pair: Pair) -> None:
    """SIGKILL: Redis gets no chance to write anything out; then start it on the same port."""
    process = pair.redis.process
    assert process is not None
    process.kill()
    process.wait()
    time.sleep(DOWN_FOR)
    pair.redis.start()


async def echo_answers_through(gateway: Gateway) -> bool:
    """A REST perturbation of echo answers with its result (its timeout well inside the
    request's, so a routed one that is lost answers ``timeout`` rather than hanging)."""
    body = {"data": "probe", "timeout": PROBE_TIMEOUT}
    try:
        reply = await gateway.post("api", "agents", "echo", "perturb", body=body)
    except HTTPTimeoutError:
        return False
    return reply.code == 200 and reply.body.get("output") == "probe"


async def perturb_through_fault(
    pair: Pair,
    beam: WebSocketClientConnection,
    answers: Answers,
    name: str,
    fault: Callable[[Pair], None],
) -> list[str]:
    """Send ``PERTURBATIONS`` to ``echo`` through b, setting ``fault`` off partway, and
    wait until each has an answer; returns their ids."""
    loop = asyncio.get_running_loop()
    ids = [f"{name}-{index}" for index in range(PERTURBATIONS)]
    faulted: asyncio.Future[None] | None = None
    for start in range(0, PERTURBATIONS, BATCH):
        if faulted is None and start >= FAULT_AFTER:
            # In a thread: the loop keeps sending and reading while Redis goes and comes back.
            faulted = loop.run_in_executor(None, fault, pair)
        for cid in ids[start : start + BATCH]:
            frame = {"id": cid, "data": {"cid": cid}, "timeout": TIMEOUT}
            await beam.write_message(json.dumps(frame))
        await asyncio.sleep(PAUSE)
    assert faulted is not None
    await asyncio.wait_for(faulted, DEADLINE)

    async def all_answered() -> bool:
        return answers.answered(ids) or answers.closed

    await eventually(all_answered, f"an answer to each of the {name} perturbations")
    assert not answers.closed, "the Beam closed"
    return ids


def outcomes_of(ids: list[str], answers: Answers, served: Served) -> Counter[str]:
    """Each perturbation's (first) answer, checked and counted; and how the owner's
    record of what it served compares (counted, not asserted: see the report)."""
    outcomes: Counter[str] = Counter()
    for cid in ids:
        frame = answers.by_id[cid][0]
        if frame["type"] == "result":
            assert frame["output"] == {"cid": cid}, frame
            assert isinstance(frame["perturbation_id"], str), frame
            outcomes["result"] += 1
        else:
            assert frame["type"] == "error", frame
            assert frame["code"] in PROTOCOL_CODES, frame
            assert isinstance(frame["message"], str), frame
            outcomes[frame["code"]] += 1
            if served.times[cid]:
                outcomes[f"{frame['code']} yet served by a"] += 1
        if served.times[cid] > 1:
            outcomes["served more than once by a"] += 1
    return outcomes


async def test_routed_perturbations_through_a_redis_restart_and_a_redis_kill(pair: Pair) -> None:
    a, b = pair.gateway(pair.a), pair.gateway(pair.b)
    try:
        await eventually(lambda: echo_answers_through(b), "echo on a answering through b")
        served = Served(await a.observe("echo"))
        beam = await b.beam("echo")
        answers = Answers(beam)
        sent: dict[str, list[str]] = {}
        for name, fault in (("restart", restart_gracefully), ("kill", kill_and_start)):
            sent[name] = await perturb_through_fault(pair, beam, answers, name, fault)
            # The pair recovers: echo answers through b again before the next fault.
            await eventually(lambda: echo_answers_through(b), f"echo answering after the {name}")

        # Read on a while: a second answer to anything would arrive now.
        await asyncio.sleep(QUIET)
        await answers.stop()
        await served.stop()
        outcomes = {name: outcomes_of(ids, answers, served) for name, ids in sent.items()}
        for name, counted in outcomes.items():
            print(f"\nRedis {name} under {PERTURBATIONS} routed perturbations: {dict(counted)}")
        if served.gaps:
            print(f"(the owner-side observer missed events: {served.gaps})")

        doubled = {cid: frames for cid, frames in answers.by_id.items() if len(frames) != 1}
        assert not doubled, f"answered more than once: {doubled}"
        every = {cid for ids in sent.values() for cid in ids}
        strays = {cid: frames for cid, frames in answers.by_id.items() if cid not in every}
        assert not strays, f"answers to nothing that was sent: {strays}"
        for name in sent:
            counted = outcomes[name]
            answered = sum(counted[kind] for kind in ("result", *PROTOCOL_CODES))
            assert answered == PERTURBATIONS, (name, counted)
            # Redis was there before the fault: those sent before it were served.
            assert counted["result"] >= FAULT_AFTER, (name, counted)
        # Redis keeps what it acknowledged across an orderly restart: no accepted
        # perturbation is left unanswered until its deadline.
        assert outcomes["restart"]["timeout"] == 0, outcomes["restart"]
    finally:
        a.close_all()
        b.close_all()


async def results_of(
    watch: WebSocketClientConnection, count: int, after: int
) -> list[dict[str, Any]]:
    """The frames after seq ``after`` (replayed history before it is passed over) up to
    and including the ``count``-th ``result`` event."""
    frames: list[dict[str, Any]] = []
    seen = 0
    try:
        async with asyncio.timeout(OBSERVED_WITHIN):
            while seen < count:
                frame = await receive(watch, timeout=OBSERVED_WITHIN)
                assert frame is not None, f"observer closed after {frames}"
                if frame.get("type") not in FRAME_TYPES and frame["seq"] <= after:
                    continue
                frames.append(frame)
                seen += frame.get("type") == "result"
    except TimeoutError:
        raise AssertionError(f"fewer than {count} results after seq {after}: {frames}") from None
    return frames


def assert_in_order(frames: list[dict[str, Any]], after: int) -> int:
    """Seqs strictly increase by one from ``after`` (no gap: the mirror is local)."""
    expected = after + 1
    for frame in frames:
        assert frame.get("type") != "gap", frames
        if frame.get("type") not in FRAME_TYPES:
            assert frame["seq"] == expected, (expected, frames)
            expected += 1
    return expected - 1


async def perturb_echo(beam: WebSocketClientConnection, cid: str) -> dict[str, Any]:
    await beam.write_message(json.dumps({"id": cid, "data": {"cid": cid}, "timeout": TIMEOUT}))
    reply = await receive(beam, timeout=OBSERVED_WITHIN)
    assert reply is not None, f"the Beam closed before answering {cid}"
    return reply


async def test_a_replica_without_redis_serves_its_own_agents_to_its_own_clients(
    pair: Pair,
) -> None:
    a = pair.gateway(pair.a)
    try:
        watch, hello = await a.observe_hello("heartbeat")
        last = assert_in_order(await results_of(watch, 1, hello["seq"]), hello["seq"])
        beam_before = await a.beam("echo")

        pair.redis.stop()

        # The heartbeat keeps beating to the observer that was there: well past the
        # backplane's heartbeat TTL (2 s here), so a's own entry has expired meanwhile.
        last = assert_in_order(await results_of(watch, 8, last), last)

        # A perturbation of a's own echo through a is answered: on the Beam opened
        # before, on one opened now, and on REST.
        reply = await perturb_echo(beam_before, "before")
        assert reply["type"] == "result" and reply["output"] == {"cid": "before"}, reply
        beam_now = await a.beam("echo")
        reply = await perturb_echo(beam_now, "now")
        assert reply["type"] == "result" and reply["output"] == {"cid": "now"}, reply
        rest = await a.post("api", "agents", "echo", "perturb", body={"data": "rest"})
        assert rest.code == 200 and rest.body["output"] == "rest", rest

        # A new observer of a's agent is served too, from where it asks.
        late, late_hello = await a.observe_hello("heartbeat", since=last)
        assert late_hello["seq"] >= last
        assert_in_order(await results_of(late, 2, last), last)
        # And the first observer is still served.
        assert_in_order(await results_of(watch, 2, last), last)
    finally:
        a.close_all()


# -- bursts: more at once than the backplane's Redis client has connections for ------------

#: Routed perturbations sent at once on one Beam socket, and observers of a remote agent
#: opening at once (``GATHER`` handshakes in flight): each takes a Redis connection on b
#: while it waits, more than redis-py's default pool of 100 (which refused the rest at
#: once, read as "Redis unreachable"); b's pool now makes them wait for a connection.
BURST_PERTURBATIONS = 500
BURST_OBSERVERS = 300
GATHER = 200


async def test_a_burst_of_routed_perturbations_is_served_while_redis_is_up(
    shared_pair: Pair,
) -> None:
    b = shared_pair.gateway(shared_pair.b)
    try:
        await eventually(lambda: echo_answers_through(b), "echo on a answering through b")
        beam = await b.beam("echo")
        answers = Answers(beam)
        ids = [f"burst-{index}" for index in range(BURST_PERTURBATIONS)]
        for cid in ids:
            await beam.write_message(json.dumps({"id": cid, "data": {"cid": cid}}))

        async def all_answered() -> bool:
            return answers.answered(ids) or answers.closed

        await eventually(all_answered, "an answer to each perturbation of the burst")
        await answers.stop()
        firsts = [answers.by_id[cid][0] for cid in ids]
        outcomes = Counter(frame.get("code", frame["type"]) for frame in firsts)
        refusal = next((frame for frame in firsts if frame["type"] != "result"), None)
        # Redis is up the whole time: the protocol refuses only what Redis cannot take.
        assert outcomes == {"result": BURST_PERTURBATIONS}, (dict(outcomes), refusal)
    finally:
        b.close_all()


async def test_a_burst_of_observers_of_a_remote_agent_is_served(shared_pair: Pair) -> None:
    b = shared_pair.gateway(shared_pair.b)
    # b knows echo (the directory listed it), and follows it only once observed: here.
    await eventually(lambda: echo_answers_through(b), "echo on a answering through b")
    gate = asyncio.Semaphore(GATHER)

    async def observe() -> int:
        async with gate:
            try:
                raw = await RawWebSocket.connect(b.port, b.path("observe", "echo"))
            except HandshakeRefused as refused:
                return refused.status
            try:
                hello = (await raw.read_message()).json()
                assert hello["type"] == "hello", hello
            finally:
                raw.abort()
            return 101

    statuses = Counter(await asyncio.gather(*(observe() for _ in range(BURST_OBSERVERS))))
    assert statuses == {101: BURST_OBSERVERS}, dict(statuses)
