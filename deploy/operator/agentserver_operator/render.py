"""Pure render functions: an :class:`~.model.AgentServer` in, child manifests out.

Nothing here talks to Kubernetes. The children of an AgentServer ``NAME``:

- ``NAME-config`` ConfigMap: ``jupyter_server_config.json`` with the
  ``TerrariumApp`` traits (agents, history and observer settings...), mounted
  read-only at ``/etc/terrarium`` and found through ``JUPYTER_CONFIG_PATH``. A
  digest of it is an annotation of the pod template, so a change of settings
  rolls the pods.
- ``NAME-token`` Secret (or ``spec.auth.tokenSecret``), generated when absent:
  the Jupyter token, given to the gateway as ``JUPYTER_TOKEN``.
- ``NAME`` Deployment: the gateway pods, ``jupyter server`` on
  ``0.0.0.0:{port}`` under ``{baseUrl}``, probed on
  ``{baseUrl}terrarium/api/health``, non-root with a read-only root filesystem.
- ``NAME`` Service, and optionally a ``NAME`` Ingress.
- ``NAME-redis`` Deployment, Service and NetworkPolicy (only the gateway pods
  reach it) when ``spec.redis.managed``.

Server settings (ip, port, base URL) are command-line arguments, visible in
``kubectl describe``; Terrarium settings are in the ConfigMap.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from agentserver_operator import model
from agentserver_operator.merge import strategic_merge
from agentserver_operator.model import AgentServer
from agentserver_operator.names import (
    CONFIG_DIR,
    CONFIG_FILE,
    CONFIG_HASH,
    GATEWAY_CONTAINER,
    GATEWAY_UID,
    HOME_DIR,
    MANAGER,
    REDIS_PORT,
    REDIS_UID,
)

Manifest = dict[str, Any]

GATEWAY = "gateway"
REDIS = "redis"
#: The environment variable TerrariumApp reads its ``redis_url`` from.
REDIS_URL_ENV = "TERRARIUM_REDIS_URL"


# -- labels and names ---------------------------------------------------------------


def selector(server: AgentServer, component: str = GATEWAY) -> dict[str, str]:
    """Labels that select one component's pods (never change: selectors are immutable)."""
    return {
        "app.kubernetes.io/name": "terrarium",
        "app.kubernetes.io/instance": server.name,
        "app.kubernetes.io/component": component,
    }


def labels(server: AgentServer, component: str = GATEWAY) -> dict[str, str]:
    return {
        **selector(server, component),
        "app.kubernetes.io/part-of": "terrarium",
        "app.kubernetes.io/managed-by": MANAGER,
    }


def selector_string(server: AgentServer, component: str = GATEWAY) -> str:
    return ",".join(f"{key}={value}" for key, value in selector(server, component).items())


def _metadata(server: AgentServer, name: str, component: str = GATEWAY) -> dict[str, Any]:
    return {"name": name, "namespace": server.namespace, "labels": labels(server, component)}


def redis_url(server: AgentServer) -> str | None:
    """The URL of the managed Redis, seen from the gateway pods (same namespace)."""
    if not server.redis.managed:
        return None
    return f"redis://{model.redis_name(server.name)}:{REDIS_PORT}/0"


# -- ConfigMap and Secret ---------------------------------------------------------------


def server_config(server: AgentServer) -> dict[str, Any]:
    """``jupyter_server_config.json``: the Terrarium traits of every gateway pod."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_extension": True}},
        "TerrariumApp": server.traits(),
    }


def config_text(server: AgentServer) -> str:
    return json.dumps(server_config(server), indent=2, sort_keys=True) + "\n"


def config_hash(server: AgentServer) -> str:
    return hashlib.sha256(config_text(server).encode()).hexdigest()[:16]


def render_config_map(server: AgentServer) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(server, model.config_map_name(server.name)),
        "data": {CONFIG_FILE: config_text(server)},
    }


def render_token_secret(server: AgentServer, token: str) -> Manifest:
    """The token Secret the operator makes when the named one does not exist."""
    encoded = base64.b64encode(token.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(server, server.token.name),
        "type": "Opaque",
        "data": {server.token.key: encoded},
    }


# -- the gateway ------------------------------------------------------------------------


def _health_probe(server: AgentServer, period: int, failures: int) -> dict[str, Any]:
    """GET {baseUrl}terrarium/api/health. It follows ``publicObserve``: when observing
    needs a login, the probe runs in the pod and sends the token."""
    probe: dict[str, Any]
    if server.public_observe:
        probe = {"httpGet": {"path": server.health_path, "port": "http"}}
    else:
        url = f"http://127.0.0.1:{server.port}{server.health_path}"
        script = (
            "import os, urllib.request; "
            f"request = urllib.request.Request({url!r}, "
            "headers={'Authorization': 'token ' + os.environ['JUPYTER_TOKEN']}); "
            "urllib.request.urlopen(request, timeout=3)"
        )
        probe = {"exec": {"command": ["python", "-c", script]}}
    return {**probe, "periodSeconds": period, "timeoutSeconds": 3, "failureThreshold": failures}


def gateway_args(server: AgentServer) -> list[str]:
    return [
        "--ServerApp.ip=0.0.0.0",
        f"--ServerApp.port={server.port}",
        f"--ServerApp.base_url={server.base_url}",
        "--ServerApp.open_browser=False",
    ]


def gateway_env(server: AgentServer) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "JUPYTER_TOKEN", "valueFrom": server.token.env_source()},
        {"name": "JUPYTER_CONFIG_PATH", "value": CONFIG_DIR},
        {"name": "HOME", "value": HOME_DIR},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    if server.redis.url_secret is not None:
        env.append({"name": REDIS_URL_ENV, "valueFrom": server.redis.url_secret.env_source()})
    elif (url := redis_url(server)) is not None:
        env.append({"name": REDIS_URL_ENV, "value": url})
    return env


def _restricted(uid: int) -> dict[str, Any]:
    """A container security context that passes the 'restricted' Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def gateway_pod_template(server: AgentServer) -> Manifest:
    """The gateway's pod template, with ``spec.podTemplate`` merged in."""
    container: dict[str, Any] = {
        "name": GATEWAY_CONTAINER,
        "image": server.image,
        "command": ["jupyter", "server"],
        "args": gateway_args(server),
        "ports": [{"name": "http", "containerPort": server.port, "protocol": "TCP"}],
        "env": gateway_env(server),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "home", "mountPath": HOME_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "startupProbe": _health_probe(server, period=2, failures=90),
        "readinessProbe": _health_probe(server, period=5, failures=3),
        "livenessProbe": _health_probe(server, period=10, failures=6),
        "securityContext": _restricted(GATEWAY_UID),
    }
    if server.image_pull_policy:
        container["imagePullPolicy"] = server.image_pull_policy
    if server.resources:
        container["resources"] = dict(server.resources)
    template: Manifest = {
        "metadata": {
            "labels": labels(server),
            "annotations": {CONFIG_HASH: config_hash(server)},
        },
        "spec": {
            "containers": [container],
            "volumes": [
                {"name": "config", "configMap": {"name": model.config_map_name(server.name)}},
                {"name": "home", "emptyDir": {}},
                {"name": "tmp", "emptyDir": {}},
            ],
            "securityContext": _pod_security(GATEWAY_UID),
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 30,
        },
    }
    if server.pod_template:
        template = strategic_merge(template, server.pod_template)
        # The selector labels are the operator's, whatever the override says.
        template.setdefault("metadata", {}).setdefault("labels", {}).update(selector(server))
    return template


def render_deployment(server: AgentServer) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(server, server.name),
        "spec": {
            "replicas": server.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(server)},
            "template": gateway_pod_template(server),
        },
    }


def render_service(server: AgentServer) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(server, server.name),
        "spec": {
            "type": server.service_type,
            "selector": selector(server),
            "ports": [
                {"name": "http", "port": server.port, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def render_ingress(server: AgentServer) -> Manifest | None:
    ingress = server.ingress
    if not ingress.enabled or ingress.host is None:
        return None
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [
                        {
                            "path": server.base_url,
                            "pathType": "Prefix",
                            "backend": {"service": {"name": server.name, "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ]
    }
    if ingress.class_name:
        spec["ingressClassName"] = ingress.class_name
    if ingress.tls_secret_name:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}]
    metadata = _metadata(server, server.name)
    if ingress.annotations:
        metadata["annotations"] = dict(ingress.annotations)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


# -- the managed Redis ------------------------------------------------------------------


def render_redis(server: AgentServer) -> list[Manifest]:
    """Deployment, Service and NetworkPolicy of a single Redis (append-only file on
    an emptyDir: it survives a container restart, not the loss of the pod)."""
    if not server.redis.managed:
        return []
    name = model.redis_name(server.name)
    container: dict[str, Any] = {
        "name": REDIS,
        "image": server.redis.image,
        "command": ["redis-server"],
        "args": ["--appendonly", "yes", "--dir", "/data", "--protected-mode", "no"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {
            "exec": {"command": ["redis-cli", "ping"]},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
        },
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
        "securityContext": _restricted(REDIS_UID),
    }
    if server.redis.resources:
        container["resources"] = dict(server.redis.resources)
    deployment: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(server, name, REDIS),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(server, REDIS)},
            "template": {
                "metadata": {"labels": labels(server, REDIS)},
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "securityContext": _pod_security(REDIS_UID),
                    "enableServiceLinks": False,
                },
            },
        },
    }
    service: Manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(server, name, REDIS),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(server, REDIS),
            "ports": [
                {"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}
            ],
        },
    }
    # Redis runs without a password: only the gateway pods may reach it.
    policy: Manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(server, name, REDIS),
        "spec": {
            "podSelector": {"matchLabels": selector(server, REDIS)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": selector(server)}}],
                    "ports": [{"port": REDIS_PORT, "protocol": "TCP"}],
                }
            ],
        },
    }
    return [deployment, service, policy]


def render_children(server: AgentServer) -> list[Manifest]:
    """Every child but the token Secret, in the order they are applied
    (configuration and backplane before the pods that use them)."""
    children = [render_config_map(server), *render_redis(server)]
    children += [render_deployment(server), render_service(server)]
    if (ingress := render_ingress(server)) is not None:
        children.append(ingress)
    return children
