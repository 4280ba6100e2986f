"""``terrarium.connect()``: finding the server that runs this kernel, and the client's methods.

Discovery is checked on runtime directories written the way jupyter_server
writes them; the methods against the real test server. The REST methods are
blocking (urllib): against the in-process test server they run in a thread,
and against a server in another process (as from a kernel) straight inside
a running event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import terrarium
from terrarium.client import (
    EventHistory,
    PerturbationFailed,
    Server,
    ServerError,
    TerrariumClient,
    Unreachable,
    connect,
)
from terrarium.flux import FluxAgent
from tests.jupyter_extension.helpers import Gateway
from tests.launcher import TOKEN, TerrariumProcess


def write_server_file(runtime: Path, pid: int, url: str, token: str, mtime: float) -> Path:
    path = runtime / f"jpserver-{pid}.json"
    path.write_text(json.dumps({"url": url, "token": token, "pid": pid, "base_url": "/"}))
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    """Two running servers: this process (newest) and its parent (older)."""
    write_server_file(tmp_path, os.getpid(), "http://127.0.0.1:1111/", "newest", 2_000_000_000)
    write_server_file(tmp_path, os.getppid(), "http://127.0.0.1:2222/lab/", "parent", 1_000_000_000)
    write_server_file(tmp_path, 2**22 + 12345, "http://127.0.0.1:3333/", "dead", 2_100_000_000)
    return tmp_path


# -- discovery -----------------------------------------------------------------------------


def test_the_kernels_server_is_the_one_whose_pid_is_jpy_parent_pid(runtime: Path) -> None:
    client = connect(environ={"JPY_PARENT_PID": str(os.getppid())}, runtime_dir=runtime)
    assert isinstance(client, TerrariumClient)
    assert (client.server.url, client.server.token) == ("http://127.0.0.1:2222/lab/", "parent")
    assert "JPY_PARENT_PID" in client.server.source


def test_without_a_matching_parent_the_newest_live_server_is_taken(runtime: Path) -> None:
    for environ in ({}, {"JPY_PARENT_PID": "4"}, {"JPY_PARENT_PID": "not a pid"}):
        server = connect(environ=environ, runtime_dir=runtime).server
        assert (server.url, server.token) == ("http://127.0.0.1:1111/", "newest"), environ
        assert server.source == f"jpserver-{os.getpid()}.json"


def test_explicit_arguments_then_the_environment_come_first(runtime: Path) -> None:
    parent = {"JPY_PARENT_PID": str(os.getppid())}
    explicit = connect("example.org:9/base", "given", environ=parent, runtime_dir=runtime).server
    assert (explicit.url, explicit.token, explicit.source) == (
        "http://example.org:9/base/",
        "given",
        "option",
    )
    env = {**parent, "TERRARIUM_URL": "http://10.0.0.1:8888", "TERRARIUM_TOKEN": "env"}
    from_env = connect(environ=env, runtime_dir=runtime).server
    assert (from_env.url, from_env.token, from_env.source) == (
        "http://10.0.0.1:8888/",
        "env",
        "environment",
    )
    jupyter_token = connect(environ={**parent, "JUPYTER_TOKEN": "jt"}, runtime_dir=runtime)
    assert jupyter_token.server.token == "jt"
    assert jupyter_token.server.url == "http://127.0.0.1:2222/lab/"
    known = connect("127.0.0.1:2222/lab", environ={}, runtime_dir=runtime).server
    assert known.token == "parent", "a known server's token is found by its URL"


def test_no_server_at_all_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(Unreachable, match="jupyter terrarium"):
        connect(environ={"JPY_PARENT_PID": str(os.getppid())}, runtime_dir=tmp_path)


def test_connect_is_exported_from_the_package() -> None:
    assert terrarium.connect is connect


def test_publishing_needs_a_running_loop_and_an_agent() -> None:
    client = connect("127.0.0.1:1", "t", environ={})
    with pytest.raises(RuntimeError, match="notebook cell or in async code"):
        client.publish(FluxAgent(lambda data: data, agent_id="nb"))
    with pytest.raises(TypeError, match="needs a FluxAgent"):
        client.publish(lambda data: data)  # type: ignore[arg-type]


# -- the methods, against the test server ---------------------------------------------------


@pytest.fixture
def client(gateway: Gateway, token: str) -> TerrariumClient:
    return TerrariumClient(Server(f"http://127.0.0.1:{gateway.port}{gateway.base_url}", token))


async def test_agents_and_call_are_plain_rest(client: TerrariumClient) -> None:
    agents = await asyncio.to_thread(client.agents)
    assert {"echo", "approver", "boom"} <= {agent["id"] for agent in agents}
    parsed = await asyncio.to_thread(client.call, "grammar", "parse", text="Create a calendar")
    assert (parsed["intent"], parsed["object"]) == ("create", "calendar")
    again = await asyncio.to_thread(client.call, "grammar", "p", {"text": "Add a note"})
    assert again["intent"] == "add"
    with pytest.raises(ServerError) as invalid:
        await asyncio.to_thread(client.call, "grammar", "parse", text=3)
    assert (invalid.value.status, invalid.value.code) == (400, "validation")


async def test_observe_yields_hello_then_events(client: TerrariumClient) -> None:
    frames: list[dict[str, Any]] = []
    async with contextlib.aclosing(client.observe("echo", since=0)) as stream:
        async for frame in stream:
            frames.append(frame)
            if frame["type"] == "hello":
                assert await client.perturb("echo", "seen") == "seen"
            if frame.get("type") == "result":
                break
    assert frames[0]["type"] == "hello" and frames[0]["agent_id"] == "echo"
    assert [f["type"] for f in frames[1:]] == ["state", "perturbation", "result"]
    assert frames[-1]["data"]["output"] == "seen"


async def test_perturb_returns_the_output_or_raises_the_protocol_code(
    client: TerrariumClient,
) -> None:
    assert await client.perturb("echo", {"x": [1, 2]}, priority=150, timeout=5) == {"x": [1, 2]}
    with pytest.raises(PerturbationFailed) as failed:
        await client.perturb("boom", "bang")
    assert failed.value.code == "agent_error" and "bang" in failed.value.message
    with pytest.raises(PerturbationFailed) as bad:
        await client.perturb("echo", 1, priority=500)
    assert bad.value.code == "bad_request"
    with pytest.raises(ServerError) as unknown:
        await client.perturb("ghost", 1)
    assert unknown.value.status == 404


async def test_pending_resolve_and_cancel_through_purgatory(client: TerrariumClient) -> None:
    replies = client.replies("approver", {"action": "delete", "records": 47})
    async with contextlib.aclosing(replies):
        semaphore = await anext(replies)
        assert semaphore["type"] == "semaphore"
        token_id = semaphore["token"]["id"]
        mine = [
            t for t in await asyncio.to_thread(client.pending, "approver") if t["id"] == token_id
        ]
        assert mine and mine[0]["prompt"] == "Delete 47 records?"
        everywhere = await asyncio.to_thread(client.pending)
        assert token_id in {token["id"] for token in everywhere}
        read = await asyncio.to_thread(client.token, "approver", token_id)
        assert (read["status"], read["options"]) == ("pending", ["Approve", "Reject"])
        resolved = await asyncio.to_thread(client.resolve, "approver", token_id, "Approve")
        assert resolved["status"] == "resuming"  # answered; "resolved" once resume has run
        result = await anext(replies)
    assert result["output"] == {"deleted": 47, "approved": True}

    replies = client.replies("approver", {"action": "delete", "records": 99})
    async with contextlib.aclosing(replies):
        token_id = (await anext(replies))["token"]["id"]
        cancelled = await asyncio.to_thread(client.cancel, "approver", token_id)
        assert cancelled["status"] == "cancelled"
        refused = await anext(replies)
    assert (refused["type"], refused["code"]) == ("error", "agent_error")
    with pytest.raises(ServerError) as again:
        await asyncio.to_thread(client.cancel, "approver", token_id)
    assert (again.value.status, again.value.code) == (409, "not_pending")
    with pytest.raises(ServerError) as unknown:
        await asyncio.to_thread(client.resolve, "approver", "no-such-token", "Approve")
    assert unknown.value.status == 404


async def test_events_is_the_kept_history_with_its_epoch(client: TerrariumClient) -> None:
    for word in ("a", "b", "c"):
        assert await client.perturb("echo", word) == word
    history = await asyncio.to_thread(client.events, "echo")
    assert isinstance(history, EventHistory)
    assert history.types == ["state"] + ["perturbation", "result"] * 3
    assert [event["seq"] for event in history] == list(range(1, 8))
    assert history[2]["data"]["output"] == "a" and history[-1]["data"]["output"] == "c"
    assert (history.gap, history.reset, history.next_since) == (None, False, 7)
    status = await asyncio.to_thread(client.agent, "echo")
    assert history.epoch == status["epoch"] and status["seq"] == 7

    page = await asyncio.to_thread(client.events, "echo", 3, 2)
    assert [event["seq"] for event in page] == [4, 5] and page.next_since == 5
    nothing_new = await asyncio.to_thread(client.events, "echo", since=7)
    assert (len(nothing_new), nothing_new.next_since) == (0, 7)
    resumed = await asyncio.to_thread(client.events, "echo", since=5, epoch=history.epoch)
    assert [event["seq"] for event in resumed] == [6, 7] and not resumed.reset
    started_over = await asyncio.to_thread(client.events, "echo", since=5, epoch="gone")
    assert started_over.reset and started_over[0]["seq"] == 1
    with pytest.raises(ServerError) as unknown:
        await asyncio.to_thread(client.events, "ghost")
    assert unknown.value.status == 404


@pytest.mark.terrarium(history_size=3)
async def test_events_says_which_seqs_are_no_longer_kept(client: TerrariumClient) -> None:
    for word in ("a", "b", "c"):
        await client.perturb("echo", word)
    history = await asyncio.to_thread(client.events, "echo", since=0)
    assert history.gap == (1, 4)
    assert [event["seq"] for event in history] == [5, 6, 7]
    assert "gap 1..4" in repr(history)


async def test_the_history_as_a_dataframe(client: TerrariumClient) -> None:
    await client.perturb("echo", {"nested": {"x": 1}})
    history = await asyncio.to_thread(client.events, "echo")
    frame = history.to_pandas()
    assert list(frame.columns) == ["seq", "ts", "type", "data"]
    assert frame["seq"].tolist() == [1, 2, 3]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].iloc[0].timestamp() == pytest.approx(history[0]["ts"])
    assert frame["type"].tolist() == ["state", "perturbation", "result"]
    assert frame["data"].iloc[2] == {
        "output": {"nested": {"x": 1}},
        "perturbation_id": frame["data"].iloc[1]["perturbation_id"],
    }
    assert frame.attrs["epoch"] == history.epoch and frame.attrs["gap"] is None

    flat = history.as_dataframe(flatten=True)
    assert {"seq", "ts", "type", "data.state", "data.output.nested.x"} <= set(flat.columns)
    assert flat["data.output.nested.x"].iloc[2] == 1
    empty = (await asyncio.to_thread(client.events, "echo", since=3)).to_pandas()
    assert list(empty.columns) == ["seq", "ts", "type", "data"] and empty.empty


def test_to_pandas_without_pandas_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    history = EventHistory("echo", [{"seq": 1, "ts": 0.0, "type": "state", "data": {}}])
    with pytest.raises(ImportError, match=r"needs pandas.*pip install pandas"):
        history.to_pandas()
    assert history[0]["seq"] == 1 and len(history) == 1, "the events need no pandas"


async def test_genera_are_read_from_the_openapi_document(client: TerrariumClient) -> None:
    genera = {genus["genus"]: genus for genus in await asyncio.to_thread(client.genera)}
    assert genera["grammar"]["commands"] == ["parse"]
    assert genera["grammar"]["description"].startswith("Parse short English commands")
    assert not {"agents", "purgatory", "health", "openapi.json"} & set(genera)


# -- from a kernel's point of view: another process, a running loop -------------------------


async def test_a_kernel_finds_its_server_and_calls_it_inside_its_running_loop(
    tmp_path: Path,
) -> None:
    with TerrariumProcess(tmp_path) as server:
        await server.healthy()
        assert server.process is not None
        client = connect(
            environ={"JPY_PARENT_PID": str(server.process.pid)},
            runtime_dir=tmp_path / "runtime",
        )
        assert client.server.token == TOKEN
        assert client.server.url == f"http://127.0.0.1:{server.port}/"
        asyncio.get_running_loop()  # as in a notebook cell: a loop runs, and sync calls work
        assert {agent["id"] for agent in client.agents()} >= {"echo", "approver"}
        assert client.pending("echo") == []
        assert await client.perturb("echo", "from a kernel") == "from a kernel"
