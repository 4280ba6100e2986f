"""The files of deploy/, checked without a cluster or Docker: manifests valid for
Kubernetes (strict), consistent with each other, and Dockerfiles that build
what the manifests run, as a non-root user with a health check."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kopf import cli
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = kubernetes_validate.latest_version()


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


@pytest.mark.parametrize("name", ["crd.yaml", "rbac.yaml", "operator.yaml"])
def test_manifests_are_valid_kubernetes(name: str) -> None:
    for document in documents(name):
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    """The check above has teeth: a typo in a Deployment is refused."""
    (deployment,) = documents("operator.yaml")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_the_operator_runs_as_the_bound_service_account() -> None:
    rbac = {doc["kind"]: doc for doc in documents("rbac.yaml")}
    (deployment,) = documents("operator.yaml")
    account = rbac["ServiceAccount"]["metadata"]
    assert deployment["metadata"]["namespace"] == account["namespace"]
    assert rbac["Namespace"]["metadata"]["name"] == account["namespace"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["name"]
    binding = rbac["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == rbac["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert deployment["spec"]["replicas"] == 1  # standalone kopf: one operator at a time


def test_the_operator_arguments_are_kopf_run_options() -> None:
    (deployment,) = documents("operator.yaml")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    context = cli.run.make_context("run", [*args, "-m", "agentserver_operator"])
    assert context.params["clusterwide"] is True
    assert context.params["standalone"] is True
    assert context.params["liveness_endpoint"] == "http://0.0.0.0:8080/healthz"
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"


def instructions(name: str) -> list[tuple[str, str]]:
    text = (DEPLOY / name).read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


KNOWN = {"FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "HEALTHCHECK", "CMD"}
KNOWN |= {"ENTRYPOINT", "ARG", "LABEL"}


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.operator"])
def test_dockerfiles_build_from_the_repository_as_a_non_root_user(name: str) -> None:
    steps = instructions(name)
    assert {keyword for keyword, _ in steps} <= KNOWN
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [value for keyword, value in steps if keyword == "USER"]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and int(user) > 0
    for keyword, value in steps:
        if keyword == "COPY":
            *sources, _ = value.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{name} copies {source}, which is not there"
    assert any(keyword == "HEALTHCHECK" for keyword, _ in steps)
    for keyword, value in steps:
        if keyword in ("CMD", "ENTRYPOINT"):
            assert isinstance(json.loads(value), list)  # exec form: signals reach the process


def test_the_gateway_image_serves_on_its_exposed_port_with_a_health_check() -> None:
    steps = dict(instructions("Dockerfile"))
    assert steps["EXPOSE"] == "8888"
    assert "terrarium/api/health" in steps["HEALTHCHECK"]
    assert "127.0.0.1:8888" in steps["HEALTHCHECK"]
    command = json.loads(steps["CMD"])
    assert command[:2] == ["jupyter", "terrarium"] and "--no-browser" in command
    assert "--ServerApp.ip=0.0.0.0" in command


def test_the_operator_image_runs_the_operator_package() -> None:
    steps = dict(instructions("Dockerfile.operator"))
    assert json.loads(steps["ENTRYPOINT"]) == ["python", "-m", "agentserver_operator"]
    assert "PYTHONPATH=/opt/operator" in steps["ENV"]
    assert "COPY" in steps and steps["COPY"].endswith("/opt/operator/agentserver_operator")
    # The kopf the image installs admits the one the tests run.
    install = next(v for k, v in instructions("Dockerfile.operator") if "pip install" in v)
    requirement = Requirement(install.split('"')[1])
    assert requirement.name == "kopf"
    assert version("kopf") in requirement.specifier
