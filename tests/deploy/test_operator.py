"""The operator, run by kopf's ``KopfRunner`` against KMock over HTTP on 127.0.0.1.

The test plays the user (creating, changing and deleting AgentServers through the
API) and, where a test needs it, the Deployment controller (reporting ready pods).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml
from agentserver_operator.model import AgentServer
from agentserver_operator.names import CONFIG_FILE, CONFIG_HASH, LAST_APPLIED
from agentserver_operator.render import render_children
from kopf.testing import KopfRunner

from tests.deploy.cluster import KubeClient, KubeServer, eventually
from tests.deploy.conftest import run_operator

ROOT = Path(__file__).resolve().parents[2]
AS = "terrarium.dev/v1alpha1"
PLURALS = {
    "AgentServer": (AS, "agentservers"),
    "ConfigMap": ("v1", "configmaps"),
    "Deployment": ("apps/v1", "deployments"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "Secret": ("v1", "secrets"),
    "Service": ("v1", "services"),
}


def agentserver(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("image", "terrarium:1")
    return {
        "apiVersion": AS,
        "kind": "AgentServer",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def get(api: KubeClient, kind: str, name: str) -> dict[str, Any] | None:
    api_version, plural = PLURALS[kind]
    return api.get(api_version, plural, name)


def status_of(api: KubeClient, name: str) -> dict[str, Any]:
    body = get(api, "AgentServer", name)
    return (body or {}).get("status") or {}


def replicas(api: KubeClient, name: str) -> int | None:
    deployment = get(api, "Deployment", name)
    return None if deployment is None else int(deployment["spec"]["replicas"])


def history_size(api: KubeClient, name: str) -> int | None:
    config_map = get(api, "ConfigMap", f"{name}-config")
    return None if config_map is None else int(traits(config_map)["history_size"])


def token_source(api: KubeClient, name: str) -> Any:
    deployment = get(api, "Deployment", name)
    return None if deployment is None else env_of(deployment)["JUPYTER_TOKEN"]["valueFrom"]


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == type_)


def gateway(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "gateway")


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in gateway(deployment)["env"]}


def traits(config_map: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(config_map["data"][CONFIG_FILE])
    return dict(config["TerrariumApp"])


def owned_by(child: dict[str, Any], owner: dict[str, Any]) -> bool:
    refs = child["metadata"].get("ownerReferences") or []
    return any(
        ref["uid"] == owner["metadata"]["uid"]
        and ref["kind"] == "AgentServer"
        and ref["name"] == owner["metadata"]["name"]
        and ref.get("controller") is True
        and ref.get("blockOwnerDeletion") is True
        for ref in refs
    )


def test_create_makes_every_child_as_rendered_and_owned(
    api: KubeClient, operator: KopfRunner
) -> None:
    created = api.create(
        agentserver(
            "alpha",
            replicas=2,
            baseUrl="/lab/",
            demoAgents=True,
            agents=["my_agents:make"],
            settings={"historySize": 500, "slowObserverPolicy": "close"},
            redis={"managed": True},
            ingress={"enabled": True, "host": "alpha.example.com", "className": "nginx"},
        ),
        "agentservers",
    )
    eventually(lambda: get(api, "Ingress", "alpha"), what="the last child, the Ingress")

    expected = render_children(AgentServer.from_body(created))
    assert {m["kind"] for m in expected} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "Ingress",
    }
    for manifest in expected:
        live = get(api, manifest["kind"], manifest["metadata"]["name"])
        assert live is not None, manifest["metadata"]["name"]
        assert owned_by(live, created), live["metadata"]
        for part in ("spec", "data"):
            assert live.get(part) == manifest.get(part), (manifest["kind"], part)
        assert LAST_APPLIED in live["metadata"]["annotations"]

    deployment = get(api, "Deployment", "alpha")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    assert gateway(deployment)["image"] == "terrarium:1"
    assert "--ServerApp.base_url=/lab/" in gateway(deployment)["args"]
    assert gateway(deployment)["readinessProbe"]["httpGet"]["path"] == "/lab/terrarium/api/health"
    env = env_of(deployment)
    assert env["JUPYTER_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "alpha-token", "key": "token"}
    }
    assert env["TERRARIUM_REDIS_URL"]["value"] == "redis://alpha-redis:6379/0"

    config_map = get(api, "ConfigMap", "alpha-config")
    assert config_map is not None
    settings = traits(config_map)
    assert settings["history_size"] == 500
    assert settings["slow_observer_policy"] == "close"
    assert settings["agents"] == ["my_agents:make"]
    assert settings["demo_agents"] is True
    assert settings["redis_namespace"] == "terrarium:default:alpha"

    secret = get(api, "Secret", "alpha-token")
    assert secret is not None and owned_by(secret, created)
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) == 48 and int(token, 16) >= 0

    redis = get(api, "Deployment", "alpha-redis")
    assert redis is not None and owned_by(redis, created)
    redis_service = get(api, "Service", "alpha-redis")
    assert redis_service is not None and redis_service["spec"]["ports"][0]["port"] == 6379


def test_scale_image_and_settings_changes_are_followed(
    api: KubeClient, operator: KopfRunner
) -> None:
    api.create(agentserver("beta", replicas=1), "agentservers")
    first = eventually(lambda: get(api, "Deployment", "beta"), what="the Deployment")
    first_hash = first["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]

    api.patch(AS, "agentservers", "beta", {"spec": {"replicas": 3}})
    eventually(
        lambda: replicas(api, "beta") == 3,
        what="3 replicas",
    )

    api.patch(AS, "agentservers", "beta", {"spec": {"image": "terrarium:2"}})
    deployment = eventually(
        lambda: (
            (d := get(api, "Deployment", "beta")) and gateway(d)["image"] == "terrarium:2" and d
        ),
        what="the new image",
    )
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH] == first_hash

    api.patch(AS, "agentservers", "beta", {"spec": {"settings": {"historySize": 42}}})
    eventually(
        lambda: history_size(api, "beta") == 42,
        what="the new history size in the ConfigMap",
    )
    rolled = eventually(
        lambda: (
            (d := get(api, "Deployment", "beta"))
            and d["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH] != first_hash
            and d
        ),
        what="a new config hash on the pod template (the pods roll)",
    )
    assert gateway(rolled)["image"] == "terrarium:2"

    # The scale subresource, as `kubectl scale` or a HorizontalPodAutoscaler uses it.
    api.patch(AS, "agentservers", "beta", {"spec": {"replicas": 0}}, subresource="scale")
    eventually(
        lambda: replicas(api, "beta") == 0,
        what="0 replicas",
    )
    # The update handler has applied the last generation (it sets observedGeneration).
    eventually(
        lambda: (
            (body := get(api, "AgentServer", "beta"))
            and body["status"].get("observedGeneration") == body["metadata"]["generation"]
            and body["status"]["phase"] == "Stopped"
        ),
        what="phase Stopped, generation observed",
    )


def test_status_follows_the_gateway_pods(api: KubeClient, operator: KopfRunner) -> None:
    api.create(agentserver("gamma", replicas=2), "agentservers")
    eventually(lambda: get(api, "Deployment", "gamma"), what="the Deployment")
    pending = eventually(
        lambda: status_of(api, "gamma").get("phase") == "Pending" and status_of(api, "gamma")
    )
    assert condition(pending, "Ready")["status"] == "False"
    assert condition(pending, "Valid")["status"] == "True"

    api.mark_ready("gamma", 1)
    degraded = eventually(
        lambda: (s := status_of(api, "gamma")).get("phase") == "Degraded" and s,
        what="phase Degraded",
    )
    assert degraded["readyReplicas"] == 1

    api.mark_ready("gamma", 2)
    running = eventually(
        lambda: (s := status_of(api, "gamma")).get("phase") == "Running" and s,
        what="phase Running",
    )
    assert running["readyReplicas"] == 2
    assert running["replicas"] == 2
    assert running["endpoint"] == "http://gamma.default.svc:8888/"
    assert running["selector"] == (
        "app.kubernetes.io/name=terrarium,app.kubernetes.io/instance=gamma,"
        "app.kubernetes.io/component=gateway"
    )
    assert running["observedGeneration"] == 1
    assert condition(running, "Ready")["status"] == "True"
    backplane = condition(running, "Backplane")
    assert (backplane["status"], backplane["reason"]) == ("False", "Embedded")

    # Two replicas without Redis do not share agents: the user is warned with an event.
    def warning() -> bool:
        _, events = api.call("GET", api.path("v1", "events"))
        return any(item.get("reason") == "NoBackplane" for item in events["items"])

    eventually(warning, what="a NoBackplane event")


def test_an_invalid_spec_is_refused_and_a_fixed_one_applied(
    api: KubeClient, operator: KopfRunner
) -> None:
    api.create(
        agentserver("delta", port=80, redis={"managed": True, "urlSecret": {"name": "redis"}}),
        "agentservers",
    )
    invalid = eventually(
        lambda: (s := status_of(api, "delta")).get("phase") == "Invalid" and s,
        what="phase Invalid",
    )
    valid = condition(invalid, "Valid")
    assert valid["status"] == "False"
    assert "spec.port: must be at least 1024" in valid["message"]
    assert "set redis.urlSecret or redis.managed, not both" in valid["message"]
    assert get(api, "Deployment", "delta") is None

    api.patch(AS, "agentservers", "delta", {"spec": {"port": 9000, "redis": {"urlSecret": None}}})
    deployment = eventually(lambda: get(api, "Deployment", "delta"), what="the Deployment")
    assert gateway(deployment)["ports"][0]["containerPort"] == 9000
    eventually(lambda: status_of(api, "delta").get("phase") == "Pending", what="phase Pending")


def _rbac_rules() -> set[tuple[str, str, str]]:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    role = next(doc for doc in documents if doc["kind"] == "ClusterRole")
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


VERBS = {"LIST": "list", "WATCH": "watch", "FETCH": "get", "CREATE": "create", "DELETE": "delete"}


def _used_permissions(kube: KubeServer) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every request the operator made (not the test's)."""
    used = set()
    for request in kube.requests():
        headers = {key.lower(): value for key, value in request.headers.items()}
        agent = headers.get("user-agent", "")
        if not (agent.startswith("kopf/") or agent == "terrarium-operator"):
            continue
        resource = request.resource
        if resource is None or not resource.plural or request.action is None:
            continue  # discovery (/api, /apis/...): allowed to every authenticated user
        verb = (
            VERBS.get(request.action.name)
            or {"PATCH": "patch", "PUT": "update"}[request.method.name]
        )
        name = resource.plural + (f"/{request.subresource}" if request.subresource else "")
        used.add((resource.group or "", name, verb))
    return used


def test_a_whole_life_uses_exactly_the_verbs_of_the_cluster_role(
    kube: KubeServer, api: KubeClient, kubeconfig: Path
) -> None:
    """Children follow the spec (optional ones removed, a user's Secret kept), the
    AgentServer's deletion removes them, and rbac.yaml grants exactly what was used."""
    own_token = base64.b64encode(b"s3cret").decode()
    api.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "own-token", "namespace": "default"},
            "data": {"token": own_token},
        },
        "secrets",
    )
    with run_operator() as runner:
        owner = api.create(
            agentserver(
                "eps",
                auth={"tokenSecret": "own-token"},
                redis={"managed": True},
                ingress={"enabled": True, "host": "eps.example.com", "tlsSecretName": "eps-tls"},
            ),
            "agentservers",
        )
        eventually(lambda: get(api, "Ingress", "eps"), what="the Ingress")
        assert get(api, "Secret", "eps-token") is None  # the user's Secret is used

        # A change while every child exists: each is patched.
        api.patch(AS, "agentservers", "eps", {"spec": {"settings": {"historySize": 7}}})
        eventually(
            lambda: history_size(api, "eps") == 7,
            what="history size 7",
        )

        # Optional children go when the spec stops asking for them.
        api.patch(
            AS,
            "agentservers",
            "eps",
            {"spec": {"redis": {"managed": False}, "ingress": {"enabled": False}}},
        )
        for kind in ("Deployment", "Service", "NetworkPolicy"):
            eventually(lambda kind=kind: get(api, kind, "eps-redis") is None, what=f"{kind} gone")
        eventually(lambda: get(api, "Ingress", "eps") is None, what="the Ingress gone")
        deployment = get(api, "Deployment", "eps")
        assert deployment is not None and "TERRARIUM_REDIS_URL" not in env_of(deployment)

        # Back to a generated token, then to another key of it.
        api.patch(AS, "agentservers", "eps", {"spec": {"auth": {"tokenSecret": None}}})
        generated = eventually(lambda: get(api, "Secret", "eps-token"), what="eps-token")
        assert owned_by(generated, owner)
        api.patch(AS, "agentservers", "eps", {"spec": {"auth": {"tokenKey": "jupyter"}}})
        eventually(
            lambda: "jupyter" in (get(api, "Secret", "eps-token") or {}).get("data", {}),
            what="the new key in eps-token",
        )
        eventually(
            lambda: (
                token_source(api, "eps")
                == {"secretKeyRef": {"name": "eps-token", "key": "jupyter"}}
            ),
            what="the gateway reading the new key",
        )

        # Deletion: kopf's finalizer holds the AgentServer until its children are gone.
        assert api.delete(AS, "agentservers", "eps") == 200
        eventually(lambda: get(api, "AgentServer", "eps") is None, what="the AgentServer gone")
        for kind, name in [
            ("Deployment", "eps"),
            ("Service", "eps"),
            ("ConfigMap", "eps-config"),
            ("Secret", "eps-token"),
        ]:
            assert get(api, kind, name) is None, (kind, name)
        user_secret = get(api, "Secret", "own-token")
        assert user_secret is not None and user_secret["data"]["token"] == own_token

        def events_posted() -> bool:
            _, events = api.call("GET", api.path("v1", "events"))
            return bool(events["items"])

        eventually(events_posted, what="kopf's events")
    assert runner.exit_code == 0
    assert "Handler 'delete' succeeded" in runner.output

    assert _used_permissions(kube) == _rbac_rules()


def test_a_restarted_operator_resumes_without_changing_anything(
    kube: KubeServer, api: KubeClient, kubeconfig: Path
) -> None:
    def children() -> dict[str, Any]:
        found = {}
        for kind, name in [
            ("Deployment", "zeta"),
            ("Service", "zeta"),
            ("ConfigMap", "zeta-config"),
            ("Secret", "zeta-token"),
            ("Deployment", "zeta-redis"),
        ]:
            child = get(api, kind, name)
            assert child is not None, (kind, name)
            child["metadata"].pop("resourceVersion")
            found[f"{kind}/{name}"] = child
        return found

    def applied() -> int:
        """The operator's "Applied" events on zeta: one per create, update or resume."""
        _, events = api.call("GET", api.path("v1", "events"))
        return sum(
            1
            for event in events["items"]
            if event.get("reason") == "Applied" and event["involvedObject"]["name"] == "zeta"
        )

    with run_operator():
        api.create(agentserver("zeta", replicas=2, redis={"managed": True}), "agentservers")
        eventually(
            lambda: status_of(api, "zeta").get("observedGeneration") == 1, what="zeta applied"
        )
        eventually(lambda: applied() == 1, what="the Applied event")
        before = children()

    def operator_patches() -> int:
        return sum(
            1
            for request in kube.requests()
            if request.method.name == "PATCH" and request.url.path.endswith("/deployments/zeta")
        )

    patched = operator_patches()
    with run_operator() as runner:
        eventually(lambda: applied() == 2, what="zeta applied again")
        assert operator_patches() > patched  # the Deployment was re-applied...
        assert children() == before  # ...to what it was
    assert "Handler 'resume' succeeded" in runner.output
