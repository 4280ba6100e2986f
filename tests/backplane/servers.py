"""A real ``redis-server`` and real gateway replicas, started and stopped by the tests.

Redis runs on a free port with AOF on (``--appendonly yes``) in a private
directory, so a restart on the same port keeps what was acknowledged. Each
replica is ``jupyter-terrarium`` in its own process (``tests.launcher``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.launcher import TerrariumProcess, free_port

REDIS = shutil.which("redis-server")
OTHER_EXTENSIONS = ("jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals")


def require_redis() -> str:
    """The binary, or skip (fail when ``TERRARIUM_REQUIRE_REDIS=1``, as in CI)."""
    if REDIS is None:
        if os.environ.get("TERRARIUM_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is required (TERRARIUM_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server is not installed")
    return REDIS


@dataclass
class RedisServer:
    """One ``redis-server`` child process; ``restart()`` keeps its port and its AOF."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = require_redis()
        self.directory.mkdir(parents=True, exist_ok=True)
        # The server keeps the log open; this process closes its own copy at once.
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--dir",
                    str(self.directory),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready()
        return self

    def wait_ready(self, within: float = 20.0) -> None:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + within
        try:
            while True:
                assert self.process is not None and self.process.poll() is None, "redis died"
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("redis-server did not answer")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: Redis fsyncs its AOF and exits, as in an orderly restart."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


def wait_healthy(replica: TerrariumProcess, within: float = 60.0) -> dict[str, Any]:
    """Block until the replica answers ``api/health`` (fixtures are synchronous)."""
    assert replica.process is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(
                f"replica exited with {replica.process.returncode}:\n{replica.log.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{replica.url}/terrarium/api/health", timeout=2) as reply:
                return dict(json.loads(reply.read()))
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise AssertionError(f"no answer within {within} s:\n{replica.log.read_text()}")


def replica(
    home: Path, redis: RedisServer, name: str, *extra: str, port: int | None = None
) -> TerrariumProcess:
    """A gateway replica on ``redis``; ``name`` is its replica id and its home folder."""
    folder = home / name
    folder.mkdir(parents=True, exist_ok=True)
    args = [
        f"--TerrariumApp.redis_url={redis.url}",
        f"--TerrariumApp.replica_id={name}",
        "--TerrariumApp.load_entry_points=False",
        # Only Terrarium: the other server extensions cost seconds per start.
        *(f"--ServerApp.jpserver_extensions={name}=False" for name in OTHER_EXTENSIONS),
        *extra,
    ]
    process = (
        TerrariumProcess(folder, args) if port is None else TerrariumProcess(folder, args, port)
    )
    return process


def kill(replica: TerrariumProcess) -> None:
    """SIGKILL: the replica gets no chance to leave the directory."""
    assert replica.process is not None
    replica.process.kill()
    replica.process.wait()


#: Generous guard for conditions that settle asynchronously; never a measured figure.
SETTLE = 30.0


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = SETTLE) -> Any:
    """Poll ``check()`` until it returns something truthy, within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)
