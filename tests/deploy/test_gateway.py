"""What the rendered pod would run, run here as a process on 127.0.0.1.

No container runtime is needed to check that the gateway's command line, its
environment and the ConfigMap the operator renders start a Jupyter server that
serves Terrarium under the base URL, and that the probes the operator renders
pass against it (and fail without the token when observing is private).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentserver_operator import render
from agentserver_operator.model import AgentServer
from agentserver_operator.names import CONFIG_DIR, CONFIG_FILE, HOME_DIR

from tests.deploy.cluster import eventually

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "TERRARIUM"))}
    env["HOME"] = str(home)
    return env


def here(args: list[str], port: int) -> list[str]:
    """The pod's arguments for this machine: loopback only, a free port, and (as root
    here, never in the pod) allow_root."""
    local = [
        "--ServerApp.ip=127.0.0.1" if arg.startswith("--ServerApp.ip=") else arg for arg in args
    ]
    local = [f"--ServerApp.port={port}" if a.startswith("--ServerApp.port=") else a for a in local]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        local.append("--ServerApp.allow_root=True")
    return local


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=env["HOME"]
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until(proc: subprocess.Popen[bytes], check: Any, log: Path, what: str) -> None:
    """Wait for ``check()``, failing at once (with the server's log) if the server exits."""

    def probe() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}):\n{log.read_text()}")
        return bool(check())

    eventually(probe, timeout=START_TIMEOUT, what=what)


def http_get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None


def test_the_rendered_pod_serves_terrarium_and_passes_its_probes(tmp_path: Path) -> None:
    server = AgentServer.from_body(
        {
            "metadata": {"name": "lab", "namespace": "default"},
            "spec": {
                "image": "terrarium:1",
                "baseUrl": "/lab/",
                "demoAgents": True,
                "settings": {"publicObserve": False, "purgatoryStore": "memory"},
            },
        }
    )
    token = "t0ken-" + "x" * 20
    secret = render.render_token_secret(server, token)
    container = render.render_deployment(server)["spec"]["template"]["spec"]["containers"][0]

    # The ConfigMap's file where the pod mounts it, the home the pod's emptyDir gives.
    config_dir, home = tmp_path / "etc", tmp_path / "home"
    config_dir.mkdir()
    home.mkdir()
    config_map = render.render_config_map(server)
    (config_dir / CONFIG_FILE).write_text(config_map["data"][CONFIG_FILE])
    env = clean_environment(home)
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"]
            env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        else:
            value = item["value"]
            value = value.replace(CONFIG_DIR, str(config_dir)).replace(HOME_DIR, str(home))
            env[item["name"]] = value
    assert env["JUPYTER_TOKEN"] == token

    port = free_port()
    command = [str(BIN / container["command"][0]), *container["command"][1:]]
    log = tmp_path / "server.log"
    with running([*command, *here(container["args"], port)], env, log) as proc:
        health = f"http://127.0.0.1:{port}{server.health_path}"
        wait_until(proc, lambda: http_get(health, token)[0] == 200, log, "the health route")
        _, payload = http_get(health, token)
        # demoAgents from the config: four agents and the four stages of the demo pipeline
        assert payload["status"] == "ok" and payload["agents"] == 8
        # Observing is private: a bare GET (an httpGet probe) is refused...
        assert http_get(health)[0] == 403
        # ...so the operator renders an exec probe that sends the token, and it passes.
        probes = [container[name]["exec"] for name in ("startupProbe", "livenessProbe")]
        assert probes == [container["readinessProbe"]["exec"]] * 2
        probe = container["readinessProbe"]["exec"]["command"]
        probe = [sys.executable if probe[0] == "python" else probe[0], *probe[1:]]
        probe[-1] = probe[-1].replace(":8888/", f":{port}/")
        assert subprocess.run(probe, env=env, timeout=30).returncode == 0
        wrong = {**env, "JUPYTER_TOKEN": "wrong"}
        assert subprocess.run(probe, env=wrong, timeout=30, capture_output=True).returncode != 0
