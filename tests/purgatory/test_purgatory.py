"""Purgatory in the core: tokens, stores, and semaphores that never block the stream."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from terrarium.errors import AgentError, AgentUnavailable, PerturbationTimeout
from terrarium.flux import Ejected, FluxAgent, FluxConfig
from terrarium.purgatory import NotPending, SemaphoreCancelled, UnknownToken
from terrarium.purgatory.stores import MemoryTokenStore, SQLiteTokenStore
from terrarium.purgatory.tokens import SemaphoreReason, SemaphoreToken, eject
from terrarium.registry import AgentRegistry

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


class Recorder:
    """An observer that keeps every frame it is sent."""

    def __init__(self) -> None:
        self.data = b""

    def send(self, data: bytes) -> None:
        self.data += data

    def backlogged(self) -> bool:
        return False

    def close(self, code: int, reason: str) -> None:
        pass

    def events(self, kind: str) -> list[dict[str, Any]]:
        frames = [json.loads(line) for line in self.data.splitlines() if line]
        return (
            [f for f in frames if "seq" in f and f.get("type") != "hello"]
            if kind is None
            else [f for f in frames if f.get("type") == kind]
        )


class Deleter:
    """Asks a human before deleting more than ten records; counts its resumes."""

    def __init__(self, decision_seconds: float | None = None) -> None:
        self.resumed: list[tuple[Any, Any]] = []
        self.decision_seconds = decision_seconds

    async def invoke(self, data: Any) -> Any:
        if data.get("records", 0) > 10:
            return eject(
                f"Delete {data['records']} records?",
                options=("Approve", "Reject"),
                severity="critical",
                state={"records": data["records"]},
                timeout=data.get("decision_seconds", self.decision_seconds),
            )
        return {"deleted": data.get("records", 0)}

    async def resume(self, state: Any, human_input: Any) -> Any:
        self.resumed.append((state, human_input))
        if human_input == "again":
            return eject("Really?", state=state)
        if human_input == "explode":
            raise RuntimeError("resume failed")
        return {"deleted": state["records"], "answer": human_input}


async def started(
    handler: Any = None, store: Any = None
) -> tuple[AgentRegistry, FluxAgent, Recorder]:
    registry = AgentRegistry(token_store=store)
    agent = registry.register(FluxAgent(handler or Deleter(), agent_id="deleter"))
    recorder = Recorder()
    agent.mirror.attach(recorder)
    return registry, agent, recorder


async def ejected(agent: FluxAgent, records: int = 47, **data: Any) -> Ejected:
    output = await agent.perturb({"records": records, **data})
    assert isinstance(output, Ejected)
    return output


# -- tokens ------------------------------------------------------------------------


def test_token_speaks_the_protocol() -> None:
    token = eject("Delete 47 records?", options=["Approve", "Reject"], timeout=60)
    wire = token.as_protocol()
    assert set(wire) == TOKEN_KEYS
    assert wire["reason"] == "approval"
    assert wire["status"] == "pending"
    assert wire["options"] == ["Approve", "Reject"]
    assert wire["created_at"].endswith("Z")
    assert wire["deadline"].endswith("Z")
    created = datetime.fromisoformat(wire["created_at"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(wire["deadline"].replace("Z", "+00:00"))
    assert 59 < (deadline - created).total_seconds() < 61


def test_token_state_must_be_json() -> None:
    with pytest.raises(ValueError, match="frozen_state"):
        eject("?", state={"when": datetime.now(UTC)})
    with pytest.raises(ValueError, match="frozen_state"):
        eject("?", state=float("nan"))


def test_token_refuses_a_bad_severity_reason_or_naive_deadline() -> None:
    with pytest.raises(ValueError):
        eject("?", severity="panic")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        eject("?", reason="whim")
    with pytest.raises(ValueError, match="timezone"):
        SemaphoreToken(reason=SemaphoreReason.REVIEW, prompt="?", deadline=datetime(2030, 1, 1))


def test_token_record_round_trips() -> None:
    token = eject("Ship it?", reason="review", state={"a": [1, 2]}, event={"id": 7}, timeout=5)
    again = SemaphoreToken.from_record(json.loads(json.dumps(token.to_record())))
    assert again == token


# -- stores ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_keeps_tokens_and_lists_pending_oldest_first(kind: str, tmp_path: Path) -> None:
    store = MemoryTokenStore() if kind == "memory" else SQLiteTokenStore(tmp_path / "t.sqlite")
    first = SemaphoreToken(reason=SemaphoreReason.APPROVAL, prompt="1", agent_id="a")
    second = SemaphoreToken(reason=SemaphoreReason.APPROVAL, prompt="2", agent_id="a")
    other = SemaphoreToken(reason=SemaphoreReason.APPROVAL, prompt="3", agent_id="b")
    for token in (second, first, other):
        store.save(token)
    assert [t.prompt for t in store.pending("a")] == ["1", "2"]
    store.save(first.with_status("resolved"))
    assert [t.prompt for t in store.pending("a")] == ["2"]
    got = store.get(first.id)
    assert got is not None and got.status == "resolved"
    assert store.get("missing") is None
    store.close()


def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "purgatory.sqlite"
    store = SQLiteTokenStore(path)
    token = eject("Keep me?", state={"n": 1})
    store.save(replace(token, agent_id="x"))
    store.close()
    reopened = SQLiteTokenStore(path)
    (kept,) = reopened.pending("x")
    assert kept.prompt == "Keep me?"
    assert kept.frozen_state == {"n": 1}
    reopened.close()


# -- the agent and its purgatory ----------------------------------------------------------------


async def test_ejecting_answers_at_once_and_the_stream_carries_on() -> None:
    registry, agent, recorder = await started()
    out = await ejected(agent)
    assert out.token.agent_id == "deleter"
    assert out.token.status == "pending"
    assert not out.resolution.done()
    assert await agent.perturb({"records": 3}) == {"deleted": 3}
    (event,) = recorder.events("semaphore_ejected")
    assert event["data"]["token"] == out.token.as_protocol()
    assert [t.id for t in agent.purgatory.pending()] == [out.token.id]
    assert registry.status("deleter")["pending_semaphores"] == 1
    assert registry.snapshot("deleter")["pending"] == [out.token.as_protocol()]
    await registry.close()


async def test_resolving_resumes_once_and_answers_the_original_caller() -> None:
    handler = Deleter()
    registry, agent, recorder = await started(handler)
    out = await ejected(agent)
    answered = agent.purgatory.resolve(out.token.id, "Approve", by="ada")
    # Recorded, its resume owed: "resolved" only once the resume has run.
    assert answered.status == "resuming"
    assert agent.purgatory.get(out.token.id).status == "resuming"
    assert await asyncio.wait_for(out.resolution, 5) == {"deleted": 47, "answer": "Approve"}
    assert agent.purgatory.get(out.token.id).status == "resolved"
    with pytest.raises(NotPending):
        agent.purgatory.resolve(out.token.id, "Approve")
    assert handler.resumed == [({"records": 47}, "Approve")]
    (event,) = recorder.events("semaphore_resolved")
    assert event["data"] == {
        "token_id": out.token.id,
        "output": {"deleted": 47, "answer": "Approve"},
    }
    reentry = [e for e in recorder.events("perturbation") if e["data"]["priority"] == 200]
    assert [e["data"]["by"] for e in reentry] == ["ada"]
    assert agent.purgatory.pending() == []
    await registry.close()


async def test_concurrent_resolutions_run_resume_once() -> None:
    handler = Deleter()
    registry, agent, _ = await started(handler)
    out = await ejected(agent)

    async def resolve(answer: str) -> str:
        await asyncio.sleep(0)
        try:
            agent.purgatory.resolve(out.token.id, answer)
        except NotPending:
            return "refused"
        return "resolved"

    results = await asyncio.gather(*(resolve(f"answer {n}") for n in range(5)))
    assert sorted(results) == ["refused"] * 4 + ["resolved"]
    await asyncio.wait_for(out.resolution, 5)
    assert len(handler.resumed) == 1
    await registry.close()


async def test_cancel_tells_the_caller_and_the_observers() -> None:
    registry, agent, recorder = await started()
    out = await ejected(agent)
    assert agent.purgatory.cancel(out.token.id).status == "cancelled"
    with pytest.raises(SemaphoreCancelled):
        await asyncio.wait_for(out.resolution, 5)
    assert [e["data"] for e in recorder.events("semaphore_cancelled")] == [
        {"token_id": out.token.id}
    ]
    with pytest.raises(NotPending):
        agent.purgatory.cancel(out.token.id)
    with pytest.raises(UnknownToken):
        agent.purgatory.cancel("no-such-token")
    await registry.close()


async def test_a_deadline_voids_the_token_without_polling() -> None:
    registry, agent, recorder = await started()
    out = await ejected(agent, decision_seconds=0.05)
    with pytest.raises(PerturbationTimeout):
        await asyncio.wait_for(out.resolution, 5)
    assert agent.purgatory.get(out.token.id).status == "voided"
    assert [e["data"] for e in recorder.events("semaphore_voided")] == [
        {"token_id": out.token.id, "reason": "deadline"}
    ]
    with pytest.raises(NotPending):
        agent.purgatory.resolve(out.token.id, "Approve")
    await registry.close()


async def test_pending_tokens_survive_a_restart_and_resume_there(tmp_path: Path) -> None:
    path = tmp_path / "purgatory.sqlite"
    registry, agent, _ = await started(store=SQLiteTokenStore(path))
    out = await ejected(agent)
    await registry.close()
    registry.token_store.close()

    handler = Deleter()
    again, agent, recorder = await started(handler, store=SQLiteTokenStore(path))
    (kept,) = agent.purgatory.pending()
    assert kept.id == out.token.id
    assert kept.frozen_state == {"records": 47}
    agent.purgatory.resolve(kept.id, "Reject")
    for _ in range(100):
        if recorder.events("semaphore_resolved"):
            break
        await asyncio.sleep(0.01)
    (event,) = recorder.events("semaphore_resolved")
    assert event["data"]["output"] == {"deleted": 47, "answer": "Reject"}
    assert handler.resumed == [({"records": 47}, "Reject")]
    await again.close()
    again.token_store.close()


class Stalling(Deleter):
    """A resume that never finishes here: the server stops (is killed) while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    async def resume(self, state: Any, human_input: Any) -> Any:
        self.resumed.append((state, human_input))
        self.started.set()
        await asyncio.Event().wait()


class Keyed(Deleter):
    """A resume that takes the idempotency key, as an agent that records it would."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    async def resume(self, state: Any, human_input: Any, *, idempotency_key: str) -> Any:
        self.keys.append(idempotency_key)
        return await super().resume(state, human_input)


async def test_an_answer_whose_resume_had_not_run_is_resumed_after_a_restart(
    tmp_path: Path,
) -> None:
    """The human's Approve was taken (a 200); the server stopped before resume finished.
    The answer is in the store, so the restarted agent runs the resume it owes."""
    path = tmp_path / "purgatory.sqlite"
    stalling = Stalling()
    registry, agent, _ = await started(stalling, store=SQLiteTokenStore(path))
    out = await ejected(agent)
    agent.purgatory.resolve(out.token.id, "Approve", by="ada")
    await asyncio.wait_for(stalling.started.wait(), 5)
    await agent.kill()  # the server dies mid-resume
    await registry.close()
    registry.token_store.close()
    assert SQLiteTokenStore(path).get(out.token.id).status == "resuming"  # type: ignore[union-attr]

    handler = Keyed()
    again, agent, recorder = await started(handler, store=SQLiteTokenStore(path))
    for _ in range(500):
        if recorder.events("semaphore_resolved"):
            break
        await asyncio.sleep(0.01)
    (event,) = recorder.events("semaphore_resolved")
    assert event["data"] == {
        "token_id": out.token.id,
        "output": {"deleted": 47, "answer": "Approve"},
    }
    assert handler.resumed == [({"records": 47}, "Approve")]
    assert handler.keys == [out.token.id]
    assert agent.purgatory.get(out.token.id).status == "resolved"
    reentry = [e for e in recorder.events("perturbation") if e["data"]["priority"] == 200]
    assert [e["data"]["by"] for e in reentry] == ["ada"]
    await again.close()
    again.token_store.close()

    # Once resolved, a third start owes nothing.
    third, agent, _ = await started(Keyed(), store=SQLiteTokenStore(path))
    assert agent.purgatory.store.owed("deleter") == []
    await third.close()
    third.token_store.close()


async def test_a_resume_that_raised_was_had_and_is_not_owed() -> None:
    registry, agent, _ = await started(Deleter())
    out = await ejected(agent)
    agent.purgatory.resolve(out.token.id, "explode")
    with pytest.raises(AgentError):
        await asyncio.wait_for(out.resolution, 5)
    assert agent.purgatory.get(out.token.id).status == "resolved"
    assert agent.purgatory.store.owed("deleter") == []
    await registry.close()


async def test_a_restored_deadline_in_the_past_voids_at_once(tmp_path: Path) -> None:
    path = tmp_path / "purgatory.sqlite"
    registry, agent, _ = await started(store=SQLiteTokenStore(path))
    out = await ejected(agent, decision_seconds=0.05)
    await registry.close()
    registry.token_store.close()
    await asyncio.sleep(0.1)
    again, agent, recorder = await started(store=SQLiteTokenStore(path))
    await asyncio.sleep(0.05)
    assert agent.purgatory.get(out.token.id).status == "voided"
    assert recorder.events("semaphore_voided")
    await again.close()
    again.token_store.close()


async def test_resolving_for_a_stopped_agent_keeps_the_token_pending() -> None:
    registry, agent, _ = await started()
    out = await ejected(agent)
    await agent.stop()
    with pytest.raises(AgentUnavailable):
        agent.purgatory.resolve(out.token.id, "Approve")
    assert agent.purgatory.get(out.token.id).status == "pending"
    await registry.close()


async def test_a_failing_resume_reaches_the_caller_as_agent_error() -> None:
    registry, agent, recorder = await started()
    out = await ejected(agent)
    agent.purgatory.resolve(out.token.id, "explode")
    with pytest.raises(AgentError, match="resume failed"):
        await asyncio.wait_for(out.resolution, 5)
    assert any(e["data"]["error_type"] == "RuntimeError" for e in recorder.events("error"))
    await registry.close()


async def test_a_resume_that_asks_again_hands_the_caller_to_the_new_token() -> None:
    handler = Deleter()
    registry, agent, recorder = await started(handler)
    out = await ejected(agent)
    agent.purgatory.resolve(out.token.id, "again")
    for _ in range(100):
        if len(recorder.events("semaphore_ejected")) == 2:
            break
        await asyncio.sleep(0.01)
    second = recorder.events("semaphore_ejected")[1]["data"]["token"]
    assert second["prompt"] == "Really?"
    assert not out.resolution.done()
    agent.purgatory.resolve(second["id"], "Approve")
    assert await asyncio.wait_for(out.resolution, 5) == {"deleted": 47, "answer": "Approve"}
    await registry.close()


async def test_reentries_jump_the_queue_and_are_never_refused() -> None:
    order: list[Any] = []
    release = asyncio.Event()

    class Busy(Deleter):
        async def invoke(self, data: Any) -> Any:
            if data == "block":
                await release.wait()
            order.append(data)
            return await super().invoke(data) if isinstance(data, dict) else data

        async def resume(self, state: Any, human_input: Any) -> Any:
            order.append("resume")
            return await super().resume(state, human_input)

    registry = AgentRegistry()
    agent = registry.register(FluxAgent(Busy(), agent_id="busy", config=FluxConfig(buffer_size=2)))
    out = await ejected(agent)
    blocker = agent.submit("block")
    await asyncio.sleep(0.01)
    queued = [agent.submit(n, priority=199) for n in (1, 2)]
    agent.purgatory.resolve(out.token.id, "Approve")
    release.set()
    await asyncio.wait_for(out.resolution, 5)
    assert blocker.future is not None
    await blocker.future
    await asyncio.gather(*(p.future for p in queued if p.future is not None))
    assert order[order.index("block") + 1] == "resume"
    await registry.close()


async def test_a_source_can_eject_too() -> None:
    async def requests() -> Any:
        yield {"records": 99}

    registry = AgentRegistry()
    agent = registry.register(FluxAgent(Deleter(), agent_id="fed", source=requests()))
    for _ in range(100):
        if agent.purgatory.pending():
            break
        await asyncio.sleep(0.01)
    (token,) = agent.purgatory.pending()
    assert token.original_event == {"records": 99}
    assert token.perturbation_id is None
    await registry.close()


async def test_a_token_past_its_deadline_is_never_listed_as_pending() -> None:
    store = MemoryTokenStore()
    stale = replace(eject("Left behind?", timeout=0.01), agent_id="deleter")
    registry, agent, recorder = await started(store=store)
    agent.purgatory.close()  # no timer of ours: as if another, stopped, server had held it
    store.save(stale)
    await asyncio.sleep(0.02)
    assert agent.purgatory.pending() == []
    assert agent.purgatory.get(stale.id).status == "voided"
    await asyncio.sleep(0)
    assert [e["data"]["token_id"] for e in recorder.events("semaphore_voided")] == [stale.id]
    await registry.close()
