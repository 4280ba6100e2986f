"""Fixtures of the deployment tests: a KMock API server on 127.0.0.1 and the operator
(kopf's ``KopfRunner``, in a thread) logged in to it through a kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kopf.testing import KopfRunner

from tests.deploy.cluster import KubeClient, KubeServer

#: How the operator is started: as ``kopf run -m agentserver_operator`` would be.
OPERATOR_ARGS = ["run", "--standalone", "--all-namespaces", "-m", "agentserver_operator"]


def run_operator() -> KopfRunner:
    """The operator in a thread; it stops (and re-raises its errors) when the ``with`` ends."""
    return KopfRunner(OPERATOR_ARGS, timeout=30)


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    with KubeServer() as server:
        yield server


@pytest.fixture
def kubeconfig(kube: KubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = kube.kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def api(kube: KubeServer) -> KubeClient:
    client = KubeClient(kube.url)
    client.install_crd()
    return client


@pytest.fixture
def operator(api: KubeClient, kubeconfig: Path) -> Iterator[KopfRunner]:
    with run_operator() as runner:
        yield runner
    assert runner.exit_code == 0, runner.output
