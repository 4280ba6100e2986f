"""Start ``jupyter terrarium`` in a child process, as a user would, and stop it after.

The server binds to 127.0.0.1 on a free port, with private Jupyter
directories under the test's ``tmp_path`` and a fixed token.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

BIN = Path(sys.executable).parent
TOKEN = "launch-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("config", "data", "runtime"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        BROWSER="true",
    )
    return env


@dataclass
class TerrariumProcess:
    """One ``jupyter-terrarium`` child process."""

    home: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log(self) -> Path:
        return self.home / f"server-{self.port}.log"

    def start(self) -> TerrariumProcess:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [
                    str(BIN / "jupyter-terrarium"),
                    "--no-browser",
                    f"--port={self.port}",
                    "--ServerApp.port_retries=0",
                    "--ServerApp.ip=127.0.0.1",
                    f"--IdentityProvider.token={TOKEN}",
                    f"--ServerApp.root_dir={self.home}",
                    *self.args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=private_env(self.home),
                text=True,
            )
        return self

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> TerrariumProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def healthy(self, within: float = 60.0) -> dict[str, Any]:
        """Wait for ``api/health`` to answer; fail with the server's log if it never does."""
        assert self.process is not None
        client = AsyncHTTPClient()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"jupyter terrarium exited with {self.process.returncode}:\n"
                    + self.log.read_text()
                )
            try:
                response = await client.fetch(f"{self.url}/terrarium/api/health")
                return dict(json.loads(response.body))
            except (OSError, HTTPClientError):
                await asyncio.sleep(0.2)
        raise AssertionError(f"no answer within {within} s:\n{self.log.read_text()}")
