"""The CRD: generated from Python, committed, valid for Kubernetes; its schema and the
operator's own validation agree on what an AgentServer may say."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from agentserver_operator import crd, model, validation

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = kubernetes_validate.latest_version()


def strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever it lists properties: what
    ``kubectl --validate=strict`` does with unknown fields (the API server prunes them)."""
    if isinstance(schema, dict):
        out = {key: strict(value) for key, value in schema.items()}
        open_ended = "additionalProperties" in out or out.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        if "properties" in out and not open_ended:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


SCHEMA = strict(crd.openapi_schema())


def schema_errors(body: dict[str, Any]) -> list[str]:
    # The CRD's schema is OpenAPI 3.0 (draft 4's boolean exclusiveMinimum).
    validator = jsonschema.Draft4Validator(SCHEMA)
    return [error.message for error in validator.iter_errors(body)]


def body(**spec: Any) -> dict[str, Any]:
    spec.setdefault("image", "terrarium:1")
    return {
        "apiVersion": "terrarium.dev/v1alpha1",
        "kind": "AgentServer",
        "metadata": {"name": "demo"},
        "spec": spec,
    }


def test_the_committed_crd_is_the_generated_one() -> None:
    committed = (ROOT / "deploy" / "crd.yaml").read_text()
    assert committed == crd.crd_yaml(), (
        "deploy/crd.yaml is stale: PYTHONPATH=deploy/operator "
        "uv run python -m agentserver_operator.crd > deploy/crd.yaml"
    )


def test_the_crd_is_a_valid_apiextensions_v1_object() -> None:
    document = yaml.safe_load((ROOT / "deploy" / "crd.yaml").read_text())
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_the_crd_has_names_subresources_and_printer_columns() -> None:
    spec = crd.crd()["spec"]
    assert crd.crd()["metadata"]["name"] == "agentservers.terrarium.dev"
    assert spec["names"]["kind"] == "AgentServer"
    assert spec["names"]["shortNames"] == ["terrarium"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns == ["Image", "Replicas", "Ready", "Phase", "Endpoint", "Age"]


def _structural(schema: dict[str, Any], path: str = "") -> list[str]:
    """Places that break the API server's 'structural schema' rule: a type on every node
    (an int-or-string excepted), no additionalProperties beside properties."""
    problems = []
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string"):
        problems.append(f"{path or '<root>'}: no type")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{path}: properties and additionalProperties")
    for key, child in (schema.get("properties") or {}).items():
        problems += _structural(child, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            problems += _structural(schema[key], f"{path}.{key}")
    return problems


def test_the_schema_is_structural() -> None:
    assert _structural(crd.openapi_schema()) == []


def test_the_cel_rules_are_in_the_schema_where_validation_checks_them() -> None:
    schema = crd.openapi_schema()
    for rule in validation.CEL_RULES:
        node = schema
        for key in rule.path:
            node = node["properties"][key]
        assert {"rule": rule.rule, "message": rule.message} in node["x-kubernetes-validations"]


EXAMPLES = {
    "deploy/agentserver.yaml": yaml.safe_load((ROOT / "deploy" / "agentserver.yaml").read_text()),
    "minimal": body(),
    "everything": body(
        imagePullPolicy="IfNotPresent",
        replicas=3,
        port=9000,
        baseUrl="/teams/blue/",
        auth={"tokenSecret": "blue-token", "tokenKey": "jupyter"},
        agents=["my_agents:make", "pkg.sub:factory.method"],
        demoAgents=False,
        loadEntryPoints=False,
        settings={
            "historySize": 0,
            "observerQueueSize": 1,
            "slowObserverPolicy": "close",
            "publicObserve": False,
            "maxMessageSize": 65536,
            "perturbRateLimit": 0,
            "metricsInterval": 0.25,
            "purgatoryStore": "memory",
        },
        redis={"urlSecret": {"name": "redis-url", "key": "url"}},
        resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 2}},
        serviceType="LoadBalancer",
        ingress={
            "enabled": True,
            "host": "blue.example.com",
            "className": "nginx",
            "tlsSecretName": "blue-tls",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
        },
        podTemplate={
            "metadata": {"labels": {"team": "blue"}},
            "spec": {
                "nodeSelector": {"pool": "agents"},
                "containers": [{"name": "gateway", "env": [{"name": "LOG", "value": "1"}]}],
            },
        },
    ),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_pass_the_schema_and_the_operator(name: str) -> None:
    example = EXAMPLES[name]
    assert schema_errors(example) == []
    assert validation.validate(example) == []


# (spec changes, a piece of the operator's message); each is refused by both checks.
INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "no image": ({"image": None}, "spec.image: is required"),
    "empty image": ({"image": ""}, "spec.image: must have at least 1"),
    "negative replicas": ({"replicas": -1}, "spec.replicas: must be at least 0"),
    "replicas as text": ({"replicas": "2"}, "spec.replicas: must be an integer"),
    "privileged port": ({"port": 80}, "spec.port: must be at least 1024"),
    "port too high": ({"port": 70000}, "spec.port: must be at most 65535"),
    "base url without slash": ({"baseUrl": "lab"}, "spec.baseUrl: must match"),
    "base url not ending in slash": ({"baseUrl": "/lab"}, "spec.baseUrl: must match"),
    "agent without factory": ({"agents": ["my_agents"]}, "spec.agents[0]: must match"),
    "agents not a list": ({"agents": "a:b"}, "spec.agents: must be a list"),
    "bad token secret": ({"auth": {"tokenSecret": "Bad_Name"}}, "spec.auth.tokenSecret"),
    "unknown auth field": ({"auth": {"token": "x"}}, "spec.auth.token: unknown field"),
    "negative history": ({"settings": {"historySize": -1}}, "historySize: must be at least 0"),
    "zero queue": ({"settings": {"observerQueueSize": 0}}, "observerQueueSize: must be at"),
    "unknown policy": ({"settings": {"slowObserverPolicy": "drop"}}, "must be one of gap"),
    "zero interval": ({"settings": {"metricsInterval": 0}}, "must be greater than 0"),
    "negative rate": ({"settings": {"perturbRateLimit": -1}}, "perturbRateLimit: must be at"),
    "unknown setting": ({"settings": {"history": 5}}, "spec.settings.history: unknown field"),
    "store typo": ({"settings": {"purgatoryStore": "redis"}}, "must be one of sqlite"),
    "redis secret without name": ({"redis": {"urlSecret": {}}}, "urlSecret.name: is required"),
    "bad quantity": ({"resources": {"limits": {"memory": "lots"}}}, "limits.memory: must match"),
    "unknown resources part": ({"resources": {"max": {}}}, "spec.resources.max: unknown field"),
    "service type": ({"serviceType": "ExternalName"}, "spec.serviceType: must be one of"),
    "bad host": ({"ingress": {"enabled": True, "host": "Bad Host"}}, "spec.ingress.host"),
    "unknown spec field": ({"replica": 2}, "spec.replica: unknown field"),
    "pod template not an object": ({"podTemplate": []}, "spec.podTemplate: must be an object"),
}

# Rules the schema cannot say (CEL rules, and the operator's own on podTemplate): the
# operator refuses them; the API server refuses the CEL ones.
OPERATOR_ONLY: dict[str, tuple[dict[str, Any], str]] = {
    "both redis kinds": (
        {"redis": {"managed": True, "urlSecret": {"name": "r"}}},
        "set redis.urlSecret or redis.managed, not both",
    ),
    "ingress without host": ({"ingress": {"enabled": True}}, "ingress.host is required"),
    "container without name": (
        {"podTemplate": {"spec": {"containers": [{"image": "x"}]}}},
        "containers[0].name: is required",
    ),
    "sidecar without image": (
        {"podTemplate": {"spec": {"containers": [{"name": "sidecar"}]}}},
        "containers[0].image: is required",
    ),
    "selector label override": (
        {"podTemplate": {"metadata": {"labels": {"app.kubernetes.io/instance": "x"}}}},
        "labels are the operator's",
    ),
    "pod template field": ({"podTemplate": {"kind": "Pod"}}, "podTemplate.kind: unknown field"),
}


def _broken(changes: dict[str, Any]) -> dict[str, Any]:
    broken = body()
    for key, value in changes.items():
        if value is None:
            broken["spec"].pop(key)
        else:
            broken["spec"][key] = copy.deepcopy(value)
    return broken


@pytest.mark.parametrize("name", sorted(INVALID))
def test_what_the_schema_refuses_the_operator_refuses(name: str) -> None:
    changes, message = INVALID[name]
    broken = _broken(changes)
    assert schema_errors(broken), "the CRD schema accepts it"
    problems = [str(problem) for problem in validation.validate(broken)]
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize("name", sorted(OPERATOR_ONLY))
def test_the_operator_refuses_what_the_cel_rules_and_its_own_rules_refuse(name: str) -> None:
    changes, message = OPERATOR_ONLY[name]
    problems = [str(problem) for problem in validation.validate(_broken(changes))]
    assert any(message in problem for problem in problems), problems


def test_the_name_must_fit_the_children() -> None:
    long_name = body()
    long_name["metadata"]["name"] = "a" * 57
    assert any("metadata.name" in str(p) for p in validation.validate(long_name))
    long_name["metadata"]["name"] = "a" * 56
    assert validation.validate(long_name) == []
    long_name["metadata"]["name"] = "1abc"  # a Service name starts with a letter
    assert validation.validate(long_name) != []


def test_defaults_of_the_schema_are_the_operators() -> None:
    """The API server fills in the schema's defaults; the operator assumes the same ones."""
    server = model.AgentServer.from_body({"metadata": {"name": "demo"}, "spec": {"image": "x"}})
    spec = crd.spec_schema()["properties"]
    assert spec["replicas"]["default"] == server.replicas
    assert spec["port"]["default"] == server.port
    assert spec["baseUrl"]["default"] == server.base_url
    assert spec["serviceType"]["default"] == server.service_type
    assert spec["auth"]["properties"]["tokenKey"]["default"] == server.token.key
    settings = spec["settings"]["properties"]
    assert {key: value["default"] for key, value in settings.items()} == dict(server.settings)
