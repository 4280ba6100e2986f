"""Start ``jupyter terrarium`` (or ``jupyter lab``) in a child process, as a user would.

The server binds to 127.0.0.1 on a free port, with private Jupyter
directories under the test's ``tmp_path`` and a fixed token, and is stopped
after. ``LabProcess`` is the same for a plain ``jupyter lab`` with the
extension, as a user who opens notebooks runs it.
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
import urllib.error
import urllib.request
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


#: Where a server would otherwise be found from: a child server must not inherit them.
SERVER_VARIABLES = ("TERRARIUM_URL", "TERRARIUM_TOKEN", "JUPYTER_TOKEN")


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
    #: The console script in the environment's bin directory.
    program: str = "jupyter-terrarium"
    #: The server's notebook directory (default: ``home``).
    root_dir: Path | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log(self) -> Path:
        return self.home / f"server-{self.port}.log"

    def command(self) -> list[str]:
        return [
            str(BIN / self.program),
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={self.root_dir or self.home}",
            *self.args,
        ]

    def environment(self) -> dict[str, str]:
        return private_env(self.home)

    def start(self) -> TerrariumProcess:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.environment(),
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

    def wait_healthy(self, within: float = 60.0) -> dict[str, Any]:
        """``healthy()`` for synchronous fixtures: block until ``api/health`` answers."""
        assert self.process is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.program} exited with {self.process.returncode}:\n"
                    + self.log.read_text()
                )
            try:
                with opener.open(f"{self.url}/terrarium/api/health", timeout=5) as reply:
                    return dict(json.loads(reply.read()))
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        raise AssertionError(f"no answer within {within} s:\n{self.log.read_text()}")


@dataclass
class LabProcess(TerrariumProcess):
    """``jupyter lab`` with the extension (as installed) and the demo agents, in a child process.

    Its kernels find it the way a user's do: no ``TERRARIUM_URL`` or token in
    their environment, only ``JPY_PARENT_PID`` and the server's runtime file.
    """

    program: str = "jupyter-lab"
    #: False: a plain ``jupyter lab``, whose extension serves no agent of its own.
    demo_agents: bool = True

    def command(self) -> list[str]:
        root = (
            ["--ServerApp.allow_root=True"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        )
        return [
            *super().command(),
            *root,
            f"--TerrariumApp.demo_agents={self.demo_agents}",
            "--TerrariumApp.load_entry_points=False",
            # Nothing from the network (news, updates, the extension manager's index) ...
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            # ... and the test can reach JupyterLab's commands (window.jupyterapp).
            "--LabApp.expose_app_in_browser=True",
        ]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        for name in SERVER_VARIABLES:
            env.pop(name, None)
        return env

    def start(self) -> LabProcess:
        # No "get notified about Jupyter news?" toast over the page, nor its requests.
        settings = self.home / "config" / "lab" / "user-settings" / "@jupyterlab"
        notification = settings / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        super().start()
        return self
