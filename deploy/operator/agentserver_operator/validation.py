"""The CRD's validation, done again by the operator.

The API server checks an AgentServer against the CRD's OpenAPI schema and its
CEL rules (``x-kubernetes-validations``) before the operator ever sees it. An
API server that does not (an old one, a test double, a CRD installed by hand
without the schema) would hand the operator specs it cannot render, so the
operator checks every rule itself and refuses what the API server would have
refused, saying where and why. Unknown fields are refused too, as
``kubectl --validate=strict`` does (the API server would silently prune them).

The limits come from :mod:`.model`; the CEL rules are declared here, each with
its Python twin, and :mod:`.crd` copies them into the schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentserver_operator import model
from agentserver_operator.names import GATEWAY_CONTAINER, MAX_NAME_LENGTH


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (a dotted path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class CelRule:
    """A CEL rule of the CRD and its Python twin.

    ``path`` is where the rule sits in the object (``()`` is the object itself);
    ``check`` receives the value at that path (which exists) and says whether the
    rule holds.
    """

    path: tuple[str, ...]
    rule: str
    message: str
    check: Callable[[Mapping[str, Any]], bool]


def _name_fits(obj: Mapping[str, Any]) -> bool:
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str):
        return True  # metadata.name is the API server's business
    return len(name) <= MAX_NAME_LENGTH and re.match(model.NAME_PATTERN, name) is not None


def _one_redis(redis: Mapping[str, Any]) -> bool:
    return not ("urlSecret" in redis and redis.get("managed") is True)


def _ingress_has_host(ingress: Mapping[str, Any]) -> bool:
    return ingress.get("enabled") is not True or "host" in ingress


CEL_RULES: tuple[CelRule, ...] = (
    CelRule(
        (),
        f"self.metadata.name.size() <= {MAX_NAME_LENGTH} && "
        f"self.metadata.name.matches('{model.NAME_PATTERN}')",
        f"metadata.name must be a DNS label of at most {MAX_NAME_LENGTH} characters "
        "(it names the Service and, with a suffix, the other children)",
        _name_fits,
    ),
    CelRule(
        ("spec", "redis"),
        "!(has(self.urlSecret) && has(self.managed) && self.managed)",
        "set redis.urlSecret or redis.managed, not both",
        _one_redis,
    ),
    CelRule(
        ("spec", "ingress"),
        "!has(self.enabled) || !self.enabled || has(self.host)",
        "ingress.host is required when ingress.enabled is true",
        _ingress_has_host,
    ),
)

SPEC_FIELDS = frozenset(
    {
        "image",
        "imagePullPolicy",
        "replicas",
        "port",
        "baseUrl",
        "auth",
        "agents",
        "demoAgents",
        "loadEntryPoints",
        "settings",
        "redis",
        "resources",
        "serviceType",
        "ingress",
        "podTemplate",
    }
)


class _Checker:
    """Collects problems while walking a spec."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def object(self, value: Any, path: str, allowed: frozenset[str] | None = None) -> bool:
        if not isinstance(value, Mapping):
            self.fail(path, "must be an object")
            return False
        if allowed is not None:
            for key in sorted(set(value) - allowed):
                self.fail(f"{path}.{key}", "unknown field")
        return True

    def integer(
        self, value: Any, path: str, minimum: float | None = None, maximum: float | None = None
    ) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "must be an integer")
            return
        self._bounds(value, path, minimum, maximum)

    def number(
        self, value: Any, path: str, minimum: float | None = None, exclusive: bool = False
    ) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, "must be a number")
            return
        if minimum is not None and exclusive and value <= minimum:
            self.fail(path, f"must be greater than {minimum:g}")
        elif not exclusive:
            self._bounds(value, path, minimum, None)

    def _bounds(
        self, value: float, path: str, minimum: float | None, maximum: float | None
    ) -> None:
        if minimum is not None and value < minimum:
            self.fail(path, f"must be at least {minimum:g}")
        if maximum is not None and value > maximum:
            self.fail(path, f"must be at most {maximum:g}")

    def boolean(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")

    def string(
        self,
        value: Any,
        path: str,
        pattern: str | None = None,
        enum: Sequence[str] | None = None,
        min_length: int = 0,
        max_length: int | None = None,
    ) -> None:
        if not isinstance(value, str):
            self.fail(path, "must be a string")
        elif enum is not None and value not in enum:
            self.fail(path, f"must be one of {', '.join(enum)}")
        elif len(value) < min_length:
            self.fail(path, f"must have at least {min_length} character(s)")
        elif max_length is not None and len(value) > max_length:
            self.fail(path, f"must have at most {max_length} characters")
        elif pattern is not None and re.match(pattern, value) is None:
            self.fail(path, f"must match {pattern}")

    def quantities(self, value: Any, path: str) -> None:
        if not self.object(value, path):
            return
        for name, quantity in value.items():
            where = f"{path}.{name}"
            if isinstance(quantity, bool) or not isinstance(quantity, int | str):
                self.fail(where, "must be a quantity (an integer or a string like 500m, 1Gi)")
            elif isinstance(quantity, str) and not re.match(model.QUANTITY_PATTERN, quantity):
                self.fail(where, f"must match {model.QUANTITY_PATTERN}")

    def resources(self, value: Any, path: str) -> None:
        if self.object(value, path, frozenset({"requests", "limits"})):
            for part in ("requests", "limits"):
                if part in value:
                    self.quantities(value[part], f"{path}.{part}")

    def secret_ref(self, value: Any, path: str) -> None:
        if not self.object(value, path, frozenset({"name", "key"})):
            return
        if "name" not in value:
            self.fail(f"{path}.name", "is required")
        else:
            self.string(value["name"], f"{path}.name", model.SUBDOMAIN_PATTERN, max_length=253)
        if "key" in value:
            self.string(value["key"], f"{path}.key", model.SECRET_KEY_PATTERN, max_length=253)


def validate(body: Mapping[str, Any]) -> list[Problem]:
    """Every rule an AgentServer object breaks (its ``metadata`` and ``spec``); empty if none."""
    checker = _Checker()
    spec = body.get("spec")
    if spec is None:
        checker.fail("spec", "is required")
    else:
        _check_spec(checker, spec)
    _check_cel(checker, body)
    return checker.problems


def validate_spec(spec: Any) -> list[Problem]:
    """The rules of ``spec`` alone (no CEL rule on ``metadata``)."""
    return validate({"spec": spec})


def _check_cel(checker: _Checker, body: Mapping[str, Any]) -> None:
    for cel in CEL_RULES:
        value: Any = body
        for key in cel.path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, Mapping) and not cel.check(value):
            checker.fail(".".join(cel.path) or "<object>", cel.message)


def _check_spec(c: _Checker, spec: Any) -> None:
    if not c.object(spec, "spec", SPEC_FIELDS):
        return
    if "image" not in spec:
        c.fail("spec.image", "is required")
    else:
        c.string(spec["image"], "spec.image", min_length=1)
    if "imagePullPolicy" in spec:
        c.string(spec["imagePullPolicy"], "spec.imagePullPolicy", enum=model.PULL_POLICIES)
    if "replicas" in spec:
        c.integer(spec["replicas"], "spec.replicas", 0, model.MAX_REPLICAS)
    if "port" in spec:
        c.integer(spec["port"], "spec.port", model.MIN_PORT, 65535)
    if "baseUrl" in spec:
        c.string(spec["baseUrl"], "spec.baseUrl", model.BASE_URL_PATTERN, max_length=200)
    if "auth" in spec:
        _check_auth(c, spec["auth"])
    if "agents" in spec:
        agents = spec["agents"]
        if not isinstance(agents, list):
            c.fail("spec.agents", "must be a list of 'module:factory' strings")
        else:
            if len(agents) > model.MAX_AGENTS:
                c.fail("spec.agents", f"must have at most {model.MAX_AGENTS} items")
            for index, agent in enumerate(agents):
                c.string(agent, f"spec.agents[{index}]", model.AGENT_PATTERN, max_length=256)
    for flag in ("demoAgents", "loadEntryPoints"):
        if flag in spec:
            c.boolean(spec[flag], f"spec.{flag}")
    if "settings" in spec:
        _check_settings(c, spec["settings"])
    if "redis" in spec:
        _check_redis(c, spec["redis"])
    if "resources" in spec:
        c.resources(spec["resources"], "spec.resources")
    if "serviceType" in spec:
        c.string(spec["serviceType"], "spec.serviceType", enum=model.SERVICE_TYPES)
    if "ingress" in spec:
        _check_ingress(c, spec["ingress"])
    if "podTemplate" in spec:
        _check_pod_template(c, spec["podTemplate"])


def _check_auth(c: _Checker, auth: Any) -> None:
    if not c.object(auth, "spec.auth", frozenset({"tokenSecret", "tokenKey"})):
        return
    if "tokenSecret" in auth:
        secret = auth["tokenSecret"]
        c.string(secret, "spec.auth.tokenSecret", model.SUBDOMAIN_PATTERN, max_length=253)
    if "tokenKey" in auth:
        c.string(auth["tokenKey"], "spec.auth.tokenKey", model.SECRET_KEY_PATTERN, max_length=253)


def _check_settings(c: _Checker, settings: Any) -> None:
    if not c.object(settings, "spec.settings", frozenset(knob.key for knob in model.SETTINGS)):
        return
    for knob in model.SETTINGS:
        if knob.key not in settings:
            continue
        value, path = settings[knob.key], f"spec.settings.{knob.key}"
        if knob.type == "integer":
            c.integer(value, path, knob.minimum)
        elif knob.type == "number":
            c.number(value, path, knob.minimum, knob.exclusive_minimum)
        elif knob.type == "boolean":
            c.boolean(value, path)
        else:
            c.string(value, path, enum=knob.enum)


def _check_redis(c: _Checker, redis: Any) -> None:
    allowed = frozenset({"managed", "urlSecret", "image", "resources"})
    if not c.object(redis, "spec.redis", allowed):
        return
    if "managed" in redis:
        c.boolean(redis["managed"], "spec.redis.managed")
    if "urlSecret" in redis:
        c.secret_ref(redis["urlSecret"], "spec.redis.urlSecret")
    if "image" in redis:
        c.string(redis["image"], "spec.redis.image", min_length=1)
    if "resources" in redis:
        c.resources(redis["resources"], "spec.redis.resources")


def _check_ingress(c: _Checker, ingress: Any) -> None:
    allowed = frozenset({"enabled", "host", "className", "tlsSecretName", "annotations"})
    if not c.object(ingress, "spec.ingress", allowed):
        return
    if "enabled" in ingress:
        c.boolean(ingress["enabled"], "spec.ingress.enabled")
    if "host" in ingress:
        c.string(ingress["host"], "spec.ingress.host", model.HOST_PATTERN, max_length=253)
    if "className" in ingress:
        c.string(ingress["className"], "spec.ingress.className", min_length=1)
    if "tlsSecretName" in ingress:
        c.string(
            ingress["tlsSecretName"],
            "spec.ingress.tlsSecretName",
            model.SUBDOMAIN_PATTERN,
            max_length=253,
        )
    if "annotations" in ingress and c.object(ingress["annotations"], "spec.ingress.annotations"):
        for key, value in ingress["annotations"].items():
            c.string(value, f"spec.ingress.annotations.{key}")


def _check_pod_template(c: _Checker, template: Any) -> None:
    """The schema keeps ``podTemplate`` open (any pod field); these are the operator's rules
    on top: it must look like a PodTemplateSpec, named containers, selector labels kept."""
    path = "spec.podTemplate"
    if not c.object(template, path, frozenset({"metadata", "spec"})):
        return
    metadata = template.get("metadata", {})
    if c.object(metadata, f"{path}.metadata", frozenset({"labels", "annotations"})):
        for part in ("labels", "annotations"):
            if part in metadata and c.object(metadata[part], f"{path}.metadata.{part}"):
                for key, value in metadata[part].items():
                    c.string(value, f"{path}.metadata.{part}.{key}")
        for key in metadata.get("labels") or {}:
            if key.startswith("app.kubernetes.io/"):
                c.fail(
                    f"{path}.metadata.labels.{key}",
                    "app.kubernetes.io/ labels are the operator's (they select the pods)",
                )
    spec = template.get("spec", {})
    if not c.object(spec, f"{path}.spec"):
        return
    for part in ("containers", "initContainers"):
        if part not in spec:
            continue
        containers = spec[part]
        if not isinstance(containers, list):
            c.fail(f"{path}.spec.{part}", "must be a list")
            continue
        for index, container in enumerate(containers):
            where = f"{path}.spec.{part}[{index}]"
            if not c.object(container, where):
                continue
            if "name" not in container:
                c.fail(f"{where}.name", "is required (containers merge by name)")
                continue
            c.string(container["name"], f"{where}.name", model.NAME_PATTERN, max_length=63)
            is_gateway = part == "containers" and container.get("name") == GATEWAY_CONTAINER
            if not is_gateway and "image" not in container:
                c.fail(f"{where}.image", "is required for a container of your own")
