"""The pure render functions: valid Kubernetes objects (kubernetes-validate, strict) with
the settings of the spec, and the merges they rely on."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from agentserver_operator import merge, render, status
from agentserver_operator.model import SETTINGS, AgentServer
from agentserver_operator.names import CONFIG_FILE, CONFIG_HASH
from agentserver_operator.validation import validate
from traitlets.config import Configurable

from jupyter_extension.app import TerrariumApp

K8S_VERSION = kubernetes_validate.latest_version()


def server(name: str = "demo", **spec: Any) -> AgentServer:
    spec.setdefault("image", "terrarium:1")
    body = {"metadata": {"name": name, "namespace": "agents"}, "spec": spec}
    assert validate(body) == [], validate(body)
    return AgentServer.from_body(body)


SPECS: dict[str, AgentServer] = {
    "minimal": server(),
    "managed redis": server(
        replicas=3, redis={"managed": True, "resources": {"limits": {"memory": "512Mi"}}}
    ),
    "redis url secret": server(replicas=2, redis={"urlSecret": {"name": "redis", "key": "url"}}),
    "ingress": server(
        baseUrl="/lab/",
        serviceType="LoadBalancer",
        ingress={
            "enabled": True,
            "host": "lab.example.com",
            "className": "nginx",
            "tlsSecretName": "lab-tls",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
        },
    ),
    "overrides": server(
        imagePullPolicy="Always",
        resources={"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        settings={"publicObserve": False},
        podTemplate={
            "metadata": {"labels": {"team": "blue"}, "annotations": {"note": "hi"}},
            "spec": {
                "nodeSelector": {"pool": "agents"},
                "tolerations": [{"key": "agents", "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [
                    {"name": "gateway", "env": [{"name": "LOG_LEVEL", "value": "DEBUG"}]},
                    {"name": "sidecar", "image": "busybox:1", "args": ["sleep", "infinity"]},
                ],
                "volumes": [{"name": "agents", "configMap": {"name": "my-agents"}}],
            },
        },
    ),
}


def everything(server: AgentServer) -> list[dict[str, Any]]:
    return [*render.render_children(server), render.render_token_secret(server, "t0ken")]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_rendered_manifest_is_valid_kubernetes(name: str) -> None:
    for manifest in everything(SPECS[name]):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_what_each_spec_renders() -> None:
    kinds = {name: sorted(m["kind"] for m in everything(s)) for name, s in SPECS.items()}
    assert kinds["minimal"] == ["ConfigMap", "Deployment", "Secret", "Service"]
    assert kinds["managed redis"] == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "NetworkPolicy",
        "Secret",
        "Service",
        "Service",
    ]
    assert kinds["ingress"] == ["ConfigMap", "Deployment", "Ingress", "Secret", "Service"]


def pod(server: AgentServer) -> dict[str, Any]:
    return render.render_deployment(server)["spec"]["template"]


def gateway(server: AgentServer) -> dict[str, Any]:
    return next(c for c in pod(server)["spec"]["containers"] if c["name"] == "gateway")


def env(server: AgentServer) -> dict[str, Any]:
    return {item["name"]: item for item in gateway(server)["env"]}


def test_the_gateway_runs_jupyter_server_with_the_spec() -> None:
    lab = SPECS["ingress"]
    container = gateway(lab)
    assert container["command"] == ["jupyter", "server"]
    assert container["args"] == [
        "--ServerApp.ip=0.0.0.0",
        "--ServerApp.port=8888",
        "--ServerApp.base_url=/lab/",
        "--ServerApp.open_browser=False",
    ]
    assert container["ports"] == [{"name": "http", "containerPort": 8888, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/lab/terrarium/api/health", "port": "http"}
    assert env(lab)["JUPYTER_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "demo-token", "key": "token"}
    }
    assert env(lab)["JUPYTER_CONFIG_PATH"]["value"] == "/etc/terrarium"
    assert "TERRARIUM_REDIS_URL" not in env(lab)
    deployment = render.render_deployment(SPECS["managed redis"])
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"]["matchLabels"] == render.selector(SPECS["managed redis"])


def test_the_pods_run_as_a_restricted_non_root_user() -> None:
    for spec in SPECS.values():
        for manifest in everything(spec):
            if manifest["kind"] != "Deployment":
                continue
            template = manifest["spec"]["template"]["spec"]
            assert template["securityContext"]["runAsNonRoot"] is True
            assert template["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for container in template["containers"]:
                if container["name"] == "sidecar":
                    continue
                context = container["securityContext"]
                assert context["runAsNonRoot"] is True and context["runAsUser"] > 0
                assert context["allowPrivilegeEscalation"] is False
                assert context["readOnlyRootFilesystem"] is True
                assert context["capabilities"] == {"drop": ["ALL"]}


def test_the_redis_url_reaches_the_gateway() -> None:
    assert env(SPECS["managed redis"])["TERRARIUM_REDIS_URL"] == {
        "name": "TERRARIUM_REDIS_URL",
        "value": "redis://demo-redis:6379/0",
    }
    assert env(SPECS["redis url secret"])["TERRARIUM_REDIS_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "redis", "key": "url"}
    }
    redis, service, policy = render.render_redis(SPECS["managed redis"])
    assert redis["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "limits": {"memory": "512Mi"}
    }
    assert service["metadata"]["name"] == "demo-redis"
    assert policy["spec"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": render.selector(SPECS["managed redis"])}}
    ]


def config(server: AgentServer) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render.render_config_map(server)["data"][CONFIG_FILE])
    return data


def test_the_config_map_holds_the_terrarium_traits() -> None:
    spec = server(
        agents=["my_agents:make"],
        demoAgents=True,
        settings={"historySize": 500, "observerQueueSize": 64, "slowObserverPolicy": "close"},
    )
    traits = config(spec)["TerrariumApp"]
    assert traits["agents"] == ["my_agents:make"]
    assert traits["demo_agents"] is True
    assert traits["history_size"] == 500
    assert traits["observer_queue_size"] == 64
    assert traits["slow_observer_policy"] == "close"
    assert traits["public_observe"] is True
    assert "redis_namespace" not in traits
    assert config(SPECS["managed redis"])["TerrariumApp"]["redis_namespace"] == (
        "terrarium:agents:demo"
    )


def test_every_rendered_trait_is_a_configurable_trait_of_terrarium_app() -> None:
    """The ConfigMap speaks TerrariumApp's language: names, types and accepted values."""
    for spec in SPECS.values():
        traits = config(spec)["TerrariumApp"]
        known = TerrariumApp.class_traits(config=True)
        assert set(traits) <= set(known), set(traits) - set(known)
        app = Configurable()
        for name, value in traits.items():
            known[name].validate(app, value)  # raises TraitError on a wrong type or value
    assert {knob.trait for knob in SETTINGS} <= set(TerrariumApp.class_traits(config=True))


def test_a_change_of_settings_rolls_the_pods_and_a_change_of_image_does_not() -> None:
    base = pod(server())["metadata"]["annotations"][CONFIG_HASH]
    assert pod(server(image="terrarium:2"))["metadata"]["annotations"][CONFIG_HASH] == base
    changed = pod(server(settings={"historySize": 1}))["metadata"]["annotations"][CONFIG_HASH]
    assert changed != base


def test_private_observe_probes_health_with_the_token() -> None:
    probe = gateway(SPECS["overrides"])["readinessProbe"]
    assert "httpGet" not in probe
    command = probe["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8888/terrarium/api/health" in command[2]
    assert "JUPYTER_TOKEN" in command[2]


def test_the_pod_template_override_is_merged_strategically() -> None:
    spec = SPECS["overrides"]
    template = pod(spec)
    assert template["metadata"]["labels"]["team"] == "blue"
    assert template["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
    assert template["metadata"]["annotations"]["note"] == "hi"
    assert CONFIG_HASH in template["metadata"]["annotations"]
    assert template["spec"]["nodeSelector"] == {"pool": "agents"}
    names = [c["name"] for c in template["spec"]["containers"]]
    assert names == ["gateway", "sidecar"]
    container = gateway(spec)
    assert container["image"] == "terrarium:1"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"]["limits"] == {"memory": "1Gi"}
    variables = [item["name"] for item in container["env"]]
    assert variables[-1] == "LOG_LEVEL" and "JUPYTER_TOKEN" in variables
    volumes = [v["name"] for v in template["spec"]["volumes"]]
    assert volumes == ["config", "home", "tmp", "agents"]


def test_strategic_merge_directives() -> None:
    base = {
        "containers": [{"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}]}],
        "volumes": [{"name": "v1"}, {"name": "v2"}],
        "dnsPolicy": "ClusterFirst",
        "tolerations": [{"key": "old"}],
    }
    patch = {
        "containers": [{"name": "a", "env": [{"name": "K", "value": "2"}]}],
        "volumes": [{"name": "v1", "$patch": "delete"}],
        "dnsPolicy": None,
        "tolerations": [{"key": "new"}],
    }
    merged = merge.strategic_merge(base, patch)
    assert merged == {
        "containers": [{"name": "a", "image": "x", "env": [{"name": "K", "value": "2"}]}],
        "volumes": [{"name": "v2"}],
        "tolerations": [{"key": "new"}],
    }
    assert base["volumes"] == [{"name": "v1"}, {"name": "v2"}]  # not changed in place
    replaced = merge.strategic_merge(base, {"volumes": [{"$patch": "replace"}, {"name": "v9"}]})
    assert replaced["volumes"] == [{"name": "v9"}]
    assert merge.strategic_merge({"a": {"b": 1}}, {"a": {"$patch": "replace", "c": 2}}) == {
        "a": {"c": 2}
    }


def test_the_apply_patch_removes_only_what_the_operator_set_before() -> None:
    last = {"metadata": {"annotations": {"x": "1", "y": "2"}}, "spec": {"a": 1, "b": [1, 2]}}
    desired = {"metadata": {"annotations": {"x": "1"}}, "spec": {"a": 2, "b": [3]}}
    patch = merge.apply_patch(last, desired)
    assert patch == {"metadata": {"annotations": {"x": "1", "y": None}}, "spec": {"a": 2, "b": [3]}}
    live = {"metadata": {"annotations": {"x": "1", "y": "2", "z": "theirs"}}, "spec": {"a": 1}}

    def apply(target: Any, change: Any) -> Any:  # RFC 7386, as the API server applies it
        if not isinstance(change, dict):
            return change
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in change.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = apply(result.get(key), value)
        return result

    assert apply(live, patch) == {
        "metadata": {"annotations": {"x": "1", "z": "theirs"}},
        "spec": {"a": 2, "b": [3]},
    }


def test_the_status_of_each_phase() -> None:
    spec = server(replicas=2)
    now = "2030-01-01T00:00:00Z"

    def deployment(ready: int) -> dict[str, Any]:
        return {"status": {"replicas": 2, "readyReplicas": ready}}

    def phase(dep: dict[str, Any] | None, target: AgentServer = spec) -> str:
        found = status.compute_status(
            target, deployment=dep, service=None, ingress=None, previous=[], now=now
        )
        return str(found["phase"])

    assert phase(None) == "Pending"
    assert phase(deployment(0)) == "Pending"
    assert phase(deployment(1)) == "Degraded"
    assert phase(deployment(2)) == "Running"
    assert phase(deployment(0), server(replicas=0)) == "Stopped"

    running = status.compute_status(
        spec, deployment=deployment(2), service=None, ingress=None, previous=[], now=now
    )
    later = status.compute_status(
        spec,
        deployment=deployment(2),
        service=None,
        ingress=None,
        previous=running["conditions"],
        now="2031-01-01T00:00:00Z",
    )
    assert later == running  # nothing changed: not even the transition times
    assert not status.changed(running, later)


def test_the_endpoint_is_where_the_gateway_is_reached() -> None:
    assert status.endpoint(server(), None, None) == "http://demo.agents.svc:8888/"
    lab = SPECS["ingress"]
    assert status.endpoint(lab, None, {"kind": "Ingress"}) == "https://lab.example.com/lab/"
    balanced = {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
    assert status.endpoint(lab, balanced, None) == "http://203.0.113.7:8888/lab/"
