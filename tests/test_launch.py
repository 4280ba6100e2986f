"""The two front doors a new user touches: ``jupyter terrarium`` and the installed extension."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

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
    assert health["agents"] == 4

    client = AsyncHTTPClient()
    listing = json.loads((await client.fetch(f"{server.url}/terrarium/api/agents")).body)
    assert {agent["id"] for agent in listing["agents"]} == {"echo", "heartbeat", "slow", "approver"}
    assert all(agent["state"] == "flowing" for agent in listing["agents"])

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
