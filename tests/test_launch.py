"""The two front doors a new user touches: ``jupyter terrarium`` and the installed extension.

These run the real console script in a child process (bound to 127.0.0.1,
with private Jupyter directories) and stop it when done.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

BIN = Path(sys.executable).parent
TOKEN = "launch-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("config", "data", "runtime"):
        (tmp_path / name).mkdir()
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        BROWSER="true",
    )
    return env


@pytest.fixture
def terrarium_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                str(BIN / "jupyter-terrarium"),
                "--no-browser",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={tmp_path}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=private_env(tmp_path),
            text=True,
        )
    try:
        yield f"127.0.0.1:{port}", process, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_healthy(host: str, process: subprocess.Popen[str], log: Path) -> dict[str, object]:
    client = AsyncHTTPClient()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter terrarium exited with {process.returncode}:\n{log.read_text()}")
        try:
            response = await client.fetch(f"http://{host}/terrarium/api/health")
            return dict(json.loads(response.body))
        except (OSError, HTTPClientError):
            await asyncio.sleep(0.2)
    pytest.fail(f"jupyter terrarium did not answer within 60 s:\n{log.read_text()}")


async def test_jupyter_terrarium_serves_the_demo_agents_and_the_dashboard(
    terrarium_server: tuple[str, subprocess.Popen[str], Path],
) -> None:
    host, process, log = terrarium_server
    health = await wait_healthy(host, process, log)
    assert health["status"] == "ok"
    assert health["agents"] == 3

    client = AsyncHTTPClient()
    listing = json.loads((await client.fetch(f"http://{host}/terrarium/api/agents")).body)
    assert {agent["id"] for agent in listing["agents"]} == {"echo", "heartbeat", "slow"}
    assert all(agent["state"] == "flowing" for agent in listing["agents"])

    page = await client.fetch(f"http://{host}/terrarium/")
    assert b"<title>Terrarium</title>" in page.body
    script = await client.fetch(f"http://{host}/static/terrarium/dashboard.js")
    assert b"terrarium/observe/" in script.body

    beam = await websocket_connect(
        HTTPRequest(
            f"ws://{host}/terrarium/perturb/echo",
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


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
async def test_as_root_it_warns_instead_of_refusing(
    terrarium_server: tuple[str, subprocess.Popen[str], Path],
) -> None:
    host, process, log = terrarium_server
    await wait_healthy(host, process, log)
    assert "running as root" in log.read_text()


def test_the_extension_is_enabled_on_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        env=private_env(tmp_path),
        timeout=60,
        check=True,
    )
    listing = result.stdout + result.stderr
    line = next(line for line in listing.splitlines() if "jupyter_extension" in line)
    assert "enabled" in line
    assert "jupyter_extension  OK" in listing.replace("\x1b[32m", "").replace("\x1b[0m", "")
