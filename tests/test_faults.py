"""Purgatory under kill -9: a child ``jupyter terrarium`` is SIGKILLed and restarted.

Every server here keeps its tokens in ``<tmp>/purgatory.sqlite`` and runs
``ledger`` from ``tests/fault_agents.py`` (no demo agents): ``{"key": K}``
ejects a semaphore, and its ``resume`` appends a fsynced line per call to a
log file, so resumes are counted across processes. The kill is
``process.send_signal(signal.SIGKILL)``; the same SQLite file is checked with
``PRAGMA integrity_check`` after it, and a new server is started on it.

- A burst of ejects and settlements (resolve, cancel, two resolves racing, a
  resolve racing a cancel), eight at a time, is cut by the kill after an
  arbitrary number of answers (drawn from a seed: ``TERRARIUM_FAULT_SEED``
  replays one; a failure names its seed). No token the client saw ejected is
  lost, none is doubled, none is settled twice, each reads what the client was
  told, and no resume runs for a token nobody answered.
- Every token answered 200 to resolve has its ``resume`` run exactly once:
  before the kill, or after the restart when the dead server still owed it
  (also checked, deterministically, by holding resumes until the kill). A
  resume runs at least once (one that ran just before the kill, before the
  server recorded so, is called again), so "exactly once" is of its effect:
  ledger makes a second call a no-op by its own key, and the test checks that
  a call after the restart only ever comes for a token the dead server had
  recorded as owed (``resuming``).
- A deadline that passes while the server is down voids the token when the
  server comes back (``semaphore_voided`` with reason ``deadline``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.fault_agents import HOLD_RESUMES, RESUME_LOG, read_log
from tests.launcher import TOKEN, TerrariumProcess

ROOT = Path(__file__).resolve().parents[1]
AGENT = "ledger"
#: Operations in one burst, and how many run at once.
BURST = 60
CONCURRENCY = 8
#: Generous guards against hangs; no test relies on them for timing.
REQUEST_TIMEOUT = 15.0
WAIT = 20.0
#: Seconds a token of the deadline test has before it is voided.
SHORT_DEADLINE = 3.0


@dataclass
class FaultServer(TerrariumProcess):
    """A child server running the fault agents, with its environment for them."""

    extra_env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.update(self.extra_env)
        return env

    def kill(self) -> None:
        """SIGKILL, as the brief of these tests says; then reap the process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@dataclass
class Paths:
    home: Path
    database: Path
    log: Path


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path, tmp_path / "purgatory.sqlite", tmp_path / "resumes.log")


def server(paths: Paths, *, hold_resumes: bool = False) -> FaultServer:
    env = {RESUME_LOG: str(paths.log)}
    if hold_resumes:
        env[HOLD_RESUMES] = "1"
    return FaultServer(
        paths.home,
        [
            f"--TerrariumApp.purgatory_path={paths.database}",
            "--TerrariumApp.agents=tests.fault_agents:make_fault_agents",
            "--TerrariumApp.demo_agents=False",
            "--TerrariumApp.load_entry_points=False",
        ],
        extra_env=env,
    )


@asynccontextmanager
async def running(process: FaultServer) -> AsyncIterator[FaultServer]:
    with process:
        await process.healthy()
        yield process


class Api:
    """REST calls with the token; an answer that never came (the server died) is None."""

    def __init__(self, process: FaultServer) -> None:
        self.base = f"{process.url}/terrarium/api"
        self.client = AsyncHTTPClient(force_instance=True, max_clients=CONCURRENCY * 2)

    def close(self) -> None:
        self.client.close()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int | None, Any]:
        request = HTTPRequest(
            self.base + path,
            method=method,
            body=None if method == "GET" else json.dumps(body if body is not None else {}),
            headers={"Authorization": f"token {TOKEN}"},
            request_timeout=REQUEST_TIMEOUT,
        )
        try:
            response = await self.client.fetch(request, raise_error=False)
        except Exception:
            return None, None
        if response.code == 599:
            return None, None
        return response.code, json.loads(response.body) if response.body else None

    async def eject(self, key: str, deadline: float | None = None) -> tuple[int | None, Any]:
        data: dict[str, Any] = {"key": key}
        if deadline is not None:
            data["deadline"] = deadline
        return await self.call("POST", f"/agents/{AGENT}/perturb", {"data": data})

    async def resolve(self, token_id: str, answer: Any = "yes") -> tuple[int | None, Any]:
        return await self.call(
            "POST", f"/purgatory/{AGENT}/resolve/{token_id}", {"human_input": answer}
        )

    async def cancel(self, token_id: str) -> tuple[int | None, Any]:
        return await self.call("POST", f"/purgatory/{AGENT}/cancel/{token_id}")

    async def token(self, token_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/purgatory/{AGENT}/{token_id}")
        assert status == 200, (token_id, status, body)
        return dict(body)

    async def pending(self) -> list[dict[str, Any]]:
        status, body = await self.call("GET", f"/purgatory/{AGENT}/pending")
        assert status == 200, body
        return list(body["pending"])

    async def events(self) -> list[dict[str, Any]]:
        status, body = await self.call("GET", f"/agents/{AGENT}/events?since=0")
        assert status == 200, body
        return list(body["events"])


@asynccontextmanager
async def api_of(process: FaultServer) -> AsyncIterator[Api]:
    api = Api(process)
    try:
        yield api
    finally:
        api.close()


# -- what the file on disk holds ------------------------------------------------------------


def integrity(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("PRAGMA integrity_check")]


def stored(database: Path) -> list[dict[str, Any]]:
    """Every token row: its id, status, and the record's key (frozen state)."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT id, agent_id, status, record FROM semaphore_tokens").fetchall()
    found = []
    for token_id, agent_id, status, record in rows:
        parsed = json.loads(record)
        assert parsed["id"] == token_id and parsed["status"] == status, (token_id, parsed)
        found.append(
            {
                "id": token_id,
                "agent_id": agent_id,
                "status": status,
                "key": (parsed.get("frozen_state") or {}).get("key"),
            }
        )
    return found


def resumes(log: Path, phase: str) -> Counter[str]:
    return Counter(entry["key"] for entry in read_log(log) if entry["phase"] == phase)


async def until(condition: Callable[[], Any], what: str, within: float = WAIT) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``within`` seconds."""
    give_up = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < give_up, f"still waiting for {what}"
        await asyncio.sleep(0.05)


# -- (a) a burst cut by the kill -----------------------------------------------------------------


@dataclass
class Told:
    """What the client was told during the burst."""

    #: key -> token id, for every eject answered 202.
    ejected: dict[str, str] = field(default_factory=dict)
    #: keys whose eject got no answer (the server died first).
    unanswered_ejects: set[str] = field(default_factory=set)
    #: token id -> [(action, status or None)] for every resolve and cancel sent.
    settled: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)


ACTIONS = ["resolve", "resolve", "cancel", "resolve twice", "resolve and cancel", "leave"]


async def burst(api: Api, process: FaultServer, rng: random.Random, kill_after: int) -> Told:
    """Run BURST operations, CONCURRENCY at a time; SIGKILL after ``kill_after`` answers."""
    told = Told()
    answered = 0
    killed = False

    def answer(status: int | None) -> None:
        nonlocal answered, killed
        if status is None or killed:
            return
        answered += 1
        if answered >= kill_after:
            killed = True
            process.kill()

    async def settle(token_id: str, action: str, answer_with: str) -> None:
        reply = (
            await api.resolve(token_id, answer_with)
            if action == "resolve"
            else await api.cancel(token_id)
        )
        assert reply[0] in (200, 409, None), (action, reply)
        told.settled.setdefault(token_id, []).append((action, reply[0]))
        answer(reply[0])

    async def operation(
        index: int, action: str, answer_with: str, slots: asyncio.Semaphore
    ) -> None:
        async with slots:
            if killed:
                return
            key = f"burst-{index}"
            status, body = await api.eject(key)
            answer(status)
            if status is None:
                told.unanswered_ejects.add(key)
                return
            assert status == 202, body
            token_id = body["token"]["id"]
            told.ejected[key] = token_id
            if action == "resolve twice":
                await asyncio.gather(
                    settle(token_id, "resolve", answer_with),
                    settle(token_id, "resolve", answer_with),
                )
            elif action == "resolve and cancel":
                await asyncio.gather(
                    settle(token_id, "resolve", answer_with), settle(token_id, "cancel", "")
                )
            elif action != "leave":
                await settle(token_id, action, answer_with)

    slots = asyncio.Semaphore(CONCURRENCY)
    plan = [(rng.choice(ACTIONS), rng.choice(["yes", "no"])) for _ in range(BURST)]
    await asyncio.gather(*(operation(index, *step, slots) for index, step in enumerate(plan)))
    if not killed:  # every operation was answered before the count came up
        process.kill()
    return told


#: A token answered by a human: its resume owed (``resuming``) or had (``resolved``).
ANSWERED = {"resuming", "resolved"}


def expected_statuses(attempts: list[tuple[str, int | None]]) -> set[str]:
    """What a token may read after the restart, given what its settlements were told."""
    done = [action for action, status in attempts if status == 200]
    assert len(done) <= 1, f"settled more than once: {attempts}"
    if done:
        return set(ANSWERED) if done[0] == "resolve" else {"cancelled"}
    possible = {"pending"}
    for action, status in attempts:
        if status is None:
            possible |= ANSWERED if action == "resolve" else {"cancelled"}
        else:
            # With no settlement answered 200, nothing could have made this one not pending.
            assert status != 409 or any(other is None for _, other in attempts), attempts
    return possible


@pytest.mark.parametrize("run", [0, 1])
async def test_a_burst_killed_at_an_arbitrary_point_loses_and_doubles_nothing(
    paths: Paths, run: int
) -> None:
    seed = int(os.environ.get("TERRARIUM_FAULT_SEED", random.randrange(2**32))) + run
    rng = random.Random(seed)
    kill_after = rng.randint(1, BURST)
    context = f"seed {seed} (TERRARIUM_FAULT_SEED={seed - run}), killed after {kill_after} answers"

    async with running(server(paths)) as first, api_of(first) as api:
        told = await burst(api, first, rng, kill_after)
    assert first.process is not None and first.process.returncode == -signal.SIGKILL

    # The file the dead server left: sound, every token the client saw, none twice.
    assert integrity(paths.database) == ["ok"], context
    rows = stored(paths.database)
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows), context
    keys = Counter(row["key"] for row in rows)
    assert all(count == 1 for count in keys.values()), (keys, context)
    assert set(told.ejected.values()) <= set(by_id), context
    for row in rows:
        assert row["agent_id"] == AGENT and row["key"] is not None, row
        if row["id"] not in told.ejected.values():
            # Ejected, but the answer never reached the client: nobody could settle it.
            assert row["key"] in told.unanswered_ejects and row["status"] == "pending", row

    at_kill = {row["key"]: row["status"] for row in rows}
    async with running(server(paths)) as second, api_of(second) as api:
        for token_id in told.ejected.values():
            expected = expected_statuses(told.settled.get(token_id, []))
            token = await api.token(token_id)
            assert token["status"] in expected, (token, expected, context)
            # What the human side now holds: answered, cancelled or still pending.
            by_id[token_id]["status"] = (
                "answered" if token["status"] in ANSWERED else token["status"]
            )

        listed = [token["id"] for token in await api.pending()]
        assert len(listed) == len(set(listed)), (listed, context)
        assert set(listed) == {row["id"] for row in rows if row["status"] == "pending"}, context

        # Settled once is settled for good, across the restart too.
        settled_before = [row["id"] for row in rows if row["status"] != "pending"]
        for token_id in settled_before:
            assert (await api.resolve(token_id))[0] == 409, (token_id, context)
            assert (await api.cancel(token_id))[0] == 409, (token_id, context)
        # What is still pending resolves now, once.
        for token_id in listed:
            assert (await api.resolve(token_id))[0] == 200, (token_id, context)
            assert (await api.resolve(token_id))[0] == 409, (token_id, context)
        late = {by_id[token_id]["key"] for token_id in listed}
        # And a sentinel, so there is always a last resume to wait for. Resolved last,
        # it resumes after everything the restart queued: once it is done, any second
        # run of an earlier resume has happened too.
        status, sentinel = await api.eject("sentinel")
        assert status == 202, sentinel
        assert (await api.resolve(sentinel["token"]["id"]))[0] == 200
        await until(
            lambda: late | {"sentinel"} <= set(resumes(paths.log, "done")), "the late resumes"
        )

        log = read_log(paths.log)
        done = resumes(paths.log, "done")
        assert first.process is not None and second.process is not None
        calls = Counter((entry["key"], entry["pid"]) for entry in log if entry["phase"] == "start")
        for row in rows:
            key = row["key"]
            # The effect at most once (once a resume had it, a second run is a no-op),
            # and never for a token nobody answered.
            assert done[key] <= 1, (key, done[key], context)
            if row["status"] != "answered" and key not in late:
                assert not any(k == key for k, _ in calls), (key, row, context)
            # Called at most once per process, and again after the restart only for a
            # token the dead server had recorded as answered with its resume owed.
            assert calls[key, first.process.pid] <= 1, (key, context)
            again = calls[key, second.process.pid]
            assert again <= 1, (key, context)
            if key not in late and again:
                assert at_kill[key] == "resuming", (key, at_kill[key], context)
        # Every answer has had its resume, exactly once: before the kill, or after the
        # restart for one the dead server still owed.
        never = sorted(
            row["key"] for row in rows if row["status"] == "answered" and not done[row["key"]]
        )
        assert not never, (f"answered, never resumed: {never}", context)
        assert all(done[key] == 1 for key in late), (done, context)
        resumed_again = sorted(key for key, pid in calls if pid == second.process.pid)
        print(f"{context}: {len(told.ejected)} ejected, {len(settled_before)} settled")
        print(
            f"  called again after the restart: {sorted(set(resumed_again) - late - {'sentinel'})}"
        )


# -- (a) the resume a crash leaves owed ---------------------------------------------------------


async def test_a_resolve_answered_before_the_kill_is_resumed_once_after_the_restart(
    paths: Paths,
) -> None:
    async with running(server(paths, hold_resumes=True)) as first, api_of(first) as api:
        tokens = {}
        for key in ("running", "queued", "later"):
            status, body = await api.eject(key)
            assert status == 202, body
            tokens[key] = body["token"]["id"]
        # "running" starts its resume and holds the agent; "queued" waits behind it.
        assert (await api.resolve(tokens["running"]))[0] == 200
        assert (await api.resolve(tokens["queued"]))[0] == 200
        await until(lambda: resumes(paths.log, "start")["running"], "the first resume to start")
        first.kill()

    assert integrity(paths.database) == ["ok"]
    statuses = {row["key"]: row["status"] for row in stored(paths.database)}
    assert statuses["later"] == "pending"
    assert {statuses["running"], statuses["queued"]} <= ANSWERED, statuses
    assert not resumes(paths.log, "done")

    async with running(server(paths)) as second, api_of(second) as api:
        for key in ("running", "queued"):
            assert (await api.token(tokens[key]))["status"] in ANSWERED
        # Resolved after the restart, "later" resumes after whatever the restart owed.
        assert (await api.resolve(tokens["later"]))[0] == 200
        await until(lambda: resumes(paths.log, "done")["later"], "the resume of 'later'")
        assert resumes(paths.log, "done") == {"running": 1, "queued": 1, "later": 1}

        async def all_resolved() -> bool:
            statuses = [(await api.token(token_id))["status"] for token_id in tokens.values()]
            return statuses == ["resolved"] * len(tokens)

        await until(all_resolved, "every token to read resolved")


# -- (b) a deadline that passes while the server is down ---------------------------------------


async def test_a_deadline_that_passes_while_the_server_is_down_voids_the_token(
    paths: Paths,
) -> None:
    async with running(server(paths)) as first, api_of(first) as api:
        status, short = await api.eject("short", deadline=SHORT_DEADLINE)
        assert status == 202, short
        first.kill()
    short_token = short["token"]
    assert integrity(paths.database) == ["ok"]
    # The server died before the deadline: the file still says pending.
    assert {row["key"]: row["status"] for row in stored(paths.database)} == {"short": "pending"}

    deadline = datetime.fromisoformat(short_token["deadline"].replace("Z", "+00:00"))
    await until(lambda: datetime.now(UTC) > deadline, "the deadline to pass", SHORT_DEADLINE + WAIT)

    async with running(server(paths)) as second, api_of(second) as api:
        status, lasting = await api.eject("lasting", deadline=3600)
        assert status == 202, lasting
        status, open_ended = await api.eject("open")
        assert status == 202, open_ended

        async def voided() -> bool:
            token = await api.token(short_token["id"])
            return bool(token["status"] == "voided")

        await until(voided, "the token to be voided")
        about = [
            (event["type"], event["data"])
            for event in await api.events()
            if short_token["id"]
            in (event["data"].get("token_id"), event["data"].get("token", {}).get("id"))
        ]
        assert about == [
            ("semaphore_voided", {"token_id": short_token["id"], "reason": "deadline"})
        ], about
        pending = {token["id"] for token in await api.pending()}
        assert pending == {lasting["token"]["id"], open_ended["token"]["id"]}
        assert (await api.resolve(short_token["id"]))[0] == 409
        assert (await api.cancel(short_token["id"]))[0] == 409
    assert resumes(paths.log, "start") == Counter()
