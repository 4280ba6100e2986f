"""The AgentServer spec: its fields, their defaults and limits, and a typed reading of it.

The limits here are the single source for both checks of a spec: the CRD's
OpenAPI schema (:mod:`.crd`) and the operator's own validation
(:mod:`.validation`). :meth:`AgentServer.from_body` reads a spec that
:mod:`.validation` accepted, filling in the defaults the API server would have
filled in (a test API server does not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_PORT = 8888
DEFAULT_REPLICAS = 1
MAX_REPLICAS = 1000
#: Ports below 1024 need a capability the gateway container drops.
MIN_PORT = 1024
DEFAULT_BASE_URL = "/"
DEFAULT_TOKEN_KEY = "token"
DEFAULT_REDIS_KEY = "url"
DEFAULT_REDIS_IMAGE = "redis:7.4-alpine"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MAX_AGENTS = 200

#: ``jupyter_server`` base URLs: ``/`` or ``/segment/.../``.
BASE_URL_PATTERN = r"^/([A-Za-z0-9._~-]+/)*$"
#: ``module:factory`` (TerrariumApp.agents), dotted on both sides.
AGENT_PATTERN = (
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
    r":[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)
#: A DNS-1123 subdomain: names of Secrets.
SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A key of a Secret's data.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
#: A DNS-1035 label: the AgentServer's name is the name of its Service.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
#: An Ingress host (no wildcard but a leading ``*.``).
HOST_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A resource quantity (``500m``, ``1Gi``, ``2``), as Kubernetes' own CRDs spell it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


@dataclass(frozen=True)
class Knob:
    """One Terrarium setting of ``spec.settings``: a ``TerrariumApp`` trait."""

    key: str
    trait: str
    type: Literal["integer", "number", "boolean", "string"]
    default: Any
    help: str
    minimum: float | None = None
    exclusive_minimum: bool = False
    enum: tuple[str, ...] | None = None


#: ``spec.settings``: the ``TerrariumApp`` traits a deployment may set (docs/configuration.md).
SETTINGS: tuple[Knob, ...] = (
    Knob("historySize", "history_size", "integer", 100, "events each mirror keeps for replay", 0),
    Knob(
        "observerQueueSize",
        "observer_queue_size",
        "integer",
        1024,
        "events an observer may fall behind before it is slow",
        1,
    ),
    Knob(
        "slowObserverPolicy",
        "slow_observer_policy",
        "string",
        "gap",
        "what happens to a slow observer: gap or close",
        enum=("gap", "close"),
    ),
    Knob(
        "publicObserve",
        "public_observe",
        "boolean",
        True,
        "anyone who reaches the gateway may observe",
    ),
    Knob(
        "maxMessageSize",
        "max_message_size",
        "integer",
        1024 * 1024,
        "largest perturb frame or REST body, in bytes",
        1,
    ),
    Knob(
        "perturbRateLimit",
        "perturb_rate_limit",
        "number",
        1000.0,
        "perturbations per second per connection; 0 turns it off",
        0,
    ),
    Knob(
        "metricsInterval",
        "metrics_interval",
        "number",
        1.0,
        "seconds between metabolism events",
        0,
        exclusive_minimum=True,
    ),
    Knob(
        "purgatoryStore",
        "purgatory_store",
        "string",
        "sqlite",
        "where semaphore tokens live: sqlite or memory",
        enum=("sqlite", "memory"),
    ),
)


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str

    def env_source(self) -> dict[str, Any]:
        return {"secretKeyRef": {"name": self.name, "key": self.key}}


@dataclass(frozen=True)
class Redis:
    """The backplane: none (embedded), a URL from a Secret, or one the operator runs."""

    managed: bool = False
    url_secret: SecretKeyRef | None = None
    image: str = DEFAULT_REDIS_IMAGE
    resources: Mapping[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.managed or self.url_secret is not None


@dataclass(frozen=True)
class Ingress:
    enabled: bool = False
    host: str | None = None
    class_name: str | None = None
    tls_secret_name: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentServer:
    """A validated AgentServer with every default filled in."""

    name: str
    namespace: str
    image: str
    token: SecretKeyRef
    image_pull_policy: str | None = None
    replicas: int = DEFAULT_REPLICAS
    port: int = DEFAULT_PORT
    base_url: str = DEFAULT_BASE_URL
    agents: tuple[str, ...] = ()
    demo_agents: bool = False
    load_entry_points: bool = True
    settings: Mapping[str, Any] = field(default_factory=dict)
    redis: Redis = field(default_factory=Redis)
    resources: Mapping[str, Any] = field(default_factory=dict)
    service_type: str = "ClusterIP"
    ingress: Ingress = field(default_factory=Ingress)
    pod_template: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> AgentServer:
        """Read an AgentServer object (``metadata`` and ``spec``) that validation accepted."""
        meta = body.get("metadata") or {}
        spec: Mapping[str, Any] = body.get("spec") or {}
        name = str(meta["name"])
        auth = spec.get("auth") or {}
        redis = spec.get("redis") or {}
        url_secret = redis.get("urlSecret")
        ingress = spec.get("ingress") or {}
        given = spec.get("settings") or {}
        return cls(
            name=name,
            namespace=str(meta.get("namespace") or "default"),
            image=str(spec["image"]),
            image_pull_policy=spec.get("imagePullPolicy"),
            replicas=int(spec.get("replicas", DEFAULT_REPLICAS)),
            port=int(spec.get("port", DEFAULT_PORT)),
            base_url=str(spec.get("baseUrl", DEFAULT_BASE_URL)),
            token=SecretKeyRef(
                name=str(auth.get("tokenSecret") or token_secret_name(name)),
                key=str(auth.get("tokenKey", DEFAULT_TOKEN_KEY)),
            ),
            agents=tuple(spec.get("agents") or ()),
            demo_agents=bool(spec.get("demoAgents", False)),
            load_entry_points=bool(spec.get("loadEntryPoints", True)),
            settings={knob.key: given.get(knob.key, knob.default) for knob in SETTINGS},
            redis=Redis(
                managed=bool(redis.get("managed", False)),
                url_secret=(
                    SecretKeyRef(
                        name=str(url_secret["name"]),
                        key=str(url_secret.get("key", DEFAULT_REDIS_KEY)),
                    )
                    if url_secret
                    else None
                ),
                image=str(redis.get("image", DEFAULT_REDIS_IMAGE)),
                resources=dict(redis.get("resources") or {}),
            ),
            resources=dict(spec.get("resources") or {}),
            service_type=str(spec.get("serviceType", "ClusterIP")),
            ingress=Ingress(
                enabled=bool(ingress.get("enabled", False)),
                host=ingress.get("host"),
                class_name=ingress.get("className"),
                tls_secret_name=ingress.get("tlsSecretName"),
                annotations=dict(ingress.get("annotations") or {}),
            ),
            pod_template=dict(spec.get("podTemplate") or {}),
        )

    @property
    def health_path(self) -> str:
        return f"{self.base_url}terrarium/api/health"

    @property
    def public_observe(self) -> bool:
        return bool(self.settings["publicObserve"])

    def traits(self) -> dict[str, Any]:
        """``TerrariumApp`` traits, as ``jupyter_server_config.json`` spells them."""
        traits: dict[str, Any] = {
            "agents": list(self.agents),
            "demo_agents": self.demo_agents,
            "load_entry_points": self.load_entry_points,
        }
        for knob in SETTINGS:
            traits[knob.trait] = self.settings[knob.key]
        if self.redis.enabled:
            # The Redis URL comes from the environment (TERRARIUM_REDIS_URL); the key
            # prefix keeps AgentServers that share one Redis apart.
            traits["redis_namespace"] = f"terrarium:{self.namespace}:{self.name}"
        return traits


def token_secret_name(name: str) -> str:
    """The Secret the operator generates when ``spec.auth.tokenSecret`` is not given."""
    return f"{name}-token"


def config_map_name(name: str) -> str:
    return f"{name}-config"


def redis_name(name: str) -> str:
    return f"{name}-redis"
