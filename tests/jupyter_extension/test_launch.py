"""The two front doors a new user touches: ``jupyter terrarium`` and the installed extension."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

import terrarium
from tests.launcher import BIN, TOKEN, TerrariumProcess, private_env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TerrariumProcess]:
    with TerrariumProcess(tmp_path) as process:
        yield process


async def test_jupyter_terrarium_serves_the_demo_agents_and_the_dashboard(
    server: TerrariumProcess,
) -> None:
    health = await server.healthy()
    assert health["status"] == "ok"
    demo = {"echo", "heartbeat", "slow", "approver"}
    stages = ["commands", "parse", "route", "review"]
    assert health["agents"] == len(demo) + len(stages)

    client = AsyncHTTPClient()
    listing = json.loads((await client.fetch(f"{server.url}/terrarium/api/agents")).body)
    assert {agent["id"] for agent in listing["agents"]} == demo | set(stages)
    assert all(agent["state"] == "flowing" for agent in listing["agents"])
    pipelines = json.loads((await client.fetch(f"{server.url}/terrarium/api/pipelines")).body)
    (requests,) = pipelines["pipelines"]
    assert [stage["id"] for stage in requests["stages"]] == stages

    page = await client.fetch(f"{server.url}/terrarium/")
    assert b"<title>Terrarium</title>" in page.body
    script = await client.fetch(f"{server.url}/static/terrarium/dashboard.js")
    assert b"terrarium/observe/" in script.body

    beam = await websocket_connect(
        HTTPRequest(
            f"ws://{server.host}/terrarium/perturb/echo",
            headers={"Authorization": f"token {TOKEN}"},
        )
    )
    try:
        await beam.write_message(json.dumps({"id": "first", "data": {"hello": "terrarium"}}))
        reply = json.loads(await asyncio.wait_for(beam.read_message(), 10) or "null")
    finally:
        beam.close()
    assert reply["type"] == "result"
    assert reply["id"] == "first"
    assert reply["output"] == {"hello": "terrarium"}


AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.skipif(not AS_ROOT, reason="needs root")
async def test_as_root_it_warns_instead_of_refusing(server: TerrariumProcess) -> None:
    await server.healthy()
    assert "running as root" in server.log.read_text()


@pytest.mark.skipif(not AS_ROOT, reason="needs root")
@pytest.mark.parametrize(
    "spelling",
    ["--allow-root", "--ServerApp.allow_root=True", "config file"],
)
async def test_as_root_the_users_own_allow_root_is_taken_as_it_is(
    tmp_path: Path, spelling: str
) -> None:
    """What container users pass already; it used to be given twice and refused."""
    args = [] if spelling == "config file" else [spelling]
    if spelling == "config file":
        config = tmp_path / "config" / "jupyter_server_config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({"ServerApp": {"allow_root": True}}))
    with TerrariumProcess(tmp_path, args) as process:
        health = await process.healthy()
        log = process.log.read_text()
    assert health["status"] == "ok"
    assert "only accepts one value" not in log
    assert "running as root" not in log  # the user chose; nothing to warn about


@pytest.mark.skipif(not AS_ROOT, reason="needs root")
async def test_as_root_an_explicit_no_is_respected(tmp_path: Path) -> None:
    with TerrariumProcess(tmp_path, ["--ServerApp.allow_root=False"]) as process:
        assert process.process is not None
        assert process.process.wait(timeout=60) != 0
    assert "Running as root is not recommended" in process.log.read_text()


def test_the_extension_is_enabled_on_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        env=private_env(tmp_path),
        timeout=60,
        check=True,
    )
    listing = (result.stdout + result.stderr).replace("\x1b[32m", "").replace("\x1b[0m", "")
    line = next(line for line in listing.splitlines() if "jupyter_extension" in line)
    assert "enabled" in line
    assert "jupyter_extension  OK" in listing


async def test_a_client_resuming_across_a_restart_is_told_the_stream_started_over(
    tmp_path: Path,
) -> None:
    """Without Redis a restarted server numbers from 1 again, and once the new stream
    has passed the client's old seq, seqs alone cannot tell; the epoch does."""
    client = AsyncHTTPClient()

    async def perturb_echo(server: TerrariumProcess, times: int) -> None:
        for index in range(times):
            await client.fetch(
                f"{server.url}/terrarium/api/agents/echo/perturb",
                method="POST",
                body=json.dumps({"data": index}),
                headers={"Authorization": f"token {TOKEN}"},
            )

    async def hello(server: TerrariumProcess, query: str = "") -> dict[str, Any]:
        ws = await websocket_connect(f"ws://{server.host}/terrarium/observe/echo{query}")
        try:
            return dict(json.loads(await asyncio.wait_for(ws.read_message(), 10) or "null"))
        finally:
            ws.close()

    with TerrariumProcess(tmp_path) as first:
        await first.healthy()
        await perturb_echo(first, 2)
        before = await hello(first)
    with TerrariumProcess(tmp_path) as second:
        await second.healthy()
        await perturb_echo(second, 4)  # the new stream passes the old seq
        after = await hello(second, f"?since={before['seq']}&epoch={before['epoch']}")
        events = json.loads(
            (
                await client.fetch(
                    f"{second.url}/terrarium/api/agents/echo/events"
                    f"?since={before['seq']}&epoch={before['epoch']}"
                )
            ).body
        )
    assert after["seq"] > before["seq"]
    assert after["epoch"] != before["epoch"]
    assert after["reset"] is True
    assert events["reset"] is True and events["epoch"] == after["epoch"]
    assert events["events"][0]["seq"] == 1  # the new stream's kept history, from its start


def test_jupyter_terrarium_version_is_the_package_version(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "jupyter"), "terrarium", "--version"],
        capture_output=True,
        text=True,
        env=private_env(tmp_path),
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == terrarium.__version__
