"""The AgentServer's status, derived from its children (pure).

``phase``: ``Invalid`` (the spec breaks a rule), ``Pending`` (no gateway pod
ready yet), ``Running`` (as many ready as asked), ``Degraded`` (some, not all),
``Stopped`` (scaled to zero). ``replicas``/``selector`` serve the scale
subresource; ``endpoint`` says where the gateway is reached. Conditions:
``Valid``, ``Ready`` and ``Backplane`` (whether replicas share agents through
Redis); a condition keeps its ``lastTransitionTime`` while its status holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentserver_operator.model import AgentServer
from agentserver_operator.render import selector_string
from agentserver_operator.validation import Problem


def endpoint(
    server: AgentServer, service: Mapping[str, Any] | None, ingress: Mapping[str, Any] | None
) -> str:
    """Where the gateway is reached: the Ingress, a load balancer's address, else the
    Service's cluster DNS name."""
    if ingress is not None and server.ingress.host:
        scheme = "https" if server.ingress.tls_secret_name else "http"
        return f"{scheme}://{server.ingress.host}{server.base_url}"
    if service is not None and server.service_type == "LoadBalancer":
        points = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        for point in points:
            address = point.get("hostname") or point.get("ip")
            if address:
                return f"http://{address}:{server.port}{server.base_url}"
    return f"http://{server.name}.{server.namespace}.svc:{server.port}{server.base_url}"


def _condition(
    previous: Sequence[Mapping[str, Any]],
    now: str,
    type_: str,
    status: bool,
    reason: str,
    message: str,
) -> dict[str, Any]:
    value = "True" if status else "False"
    since = now
    for old in previous:
        if old.get("type") == type_ and old.get("status") == value:
            since = str(old.get("lastTransitionTime") or now)
    return {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }


def invalid_status(
    problems: Sequence[Problem],
    previous: Sequence[Mapping[str, Any]],
    now: str,
    generation: int | None = None,
) -> dict[str, Any]:
    message = "; ".join(str(problem) for problem in problems)
    status: dict[str, Any] = {
        "phase": "Invalid",
        "conditions": [
            _condition(previous, now, "Valid", False, "InvalidSpec", message),
            _condition(previous, now, "Ready", False, "InvalidSpec", "the spec is invalid"),
        ],
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def compute_status(
    server: AgentServer,
    *,
    deployment: Mapping[str, Any] | None,
    service: Mapping[str, Any] | None,
    ingress: Mapping[str, Any] | None,
    previous: Sequence[Mapping[str, Any]],
    now: str,
    generation: int | None = None,
) -> dict[str, Any]:
    observed = (deployment or {}).get("status") or {}
    ready = int(observed.get("readyReplicas") or 0)
    existing = int(observed.get("replicas") or 0)
    wanted = server.replicas
    if deployment is None:
        phase, reason, message = "Pending", "Creating", "the gateway Deployment does not exist yet"
    elif wanted == 0:
        phase, reason, message = "Stopped", "ScaledToZero", "replicas is 0"
    elif ready >= wanted:
        phase, reason, message = "Running", "AllReady", f"{ready}/{wanted} gateway pods ready"
    elif ready == 0:
        phase, reason, message = "Pending", "NoneReady", f"0/{wanted} gateway pods ready"
    else:
        phase, reason, message = "Degraded", "SomeReady", f"{ready}/{wanted} gateway pods ready"
    if server.redis.managed:
        backplane = (True, "ManagedRedis", "replicas share agents through the managed Redis")
    elif server.redis.url_secret is not None:
        backplane = (True, "Redis", f"replicas share agents through {server.redis.url_secret.name}")
    elif wanted > 1:
        backplane = (False, "Embedded", "replicas do not share agents: set spec.redis")
    else:
        backplane = (False, "Embedded", "one replica, no backplane needed")
    status: dict[str, Any] = {
        "phase": phase,
        "replicas": existing,
        "readyReplicas": ready,
        "selector": selector_string(server),
        "endpoint": endpoint(server, service, ingress),
        "conditions": [
            _condition(previous, now, "Valid", True, "Accepted", "the spec is valid"),
            _condition(previous, now, "Ready", phase == "Running", reason, message),
            _condition(previous, now, "Backplane", *backplane),
        ],
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def changed(current: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` would change ``current`` (only the keys of ``new`` count)."""
    return any(current.get(key) != value for key, value in new.items())
