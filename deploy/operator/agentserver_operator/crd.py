"""The ``agentservers.terrarium.dev`` CustomResourceDefinition, built from :mod:`.model`.

``deploy/crd.yaml`` is this module's output, committed; regenerate it with::

    uv run python -m agentserver_operator.crd > deploy/crd.yaml

(from the repository root, with ``deploy/operator`` on ``PYTHONPATH``; a test
checks the committed file is what this module makes).
"""

from __future__ import annotations

import sys
from typing import Any

import yaml  # type: ignore[import-untyped]

from agentserver_operator import model
from agentserver_operator.names import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from agentserver_operator.validation import CEL_RULES

Schema = dict[str, Any]


def _quantities() -> Schema:
    return {
        "type": "object",
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": model.QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        },
    }


def _resources(what: str) -> Schema:
    return {
        "type": "object",
        "description": f"Compute resources of {what} (a container's resources).",
        "properties": {"requests": _quantities(), "limits": _quantities()},
    }


def _settings() -> Schema:
    properties: dict[str, Schema] = {}
    for knob in model.SETTINGS:
        schema: Schema = {
            "type": knob.type,
            "default": knob.default,
            "description": f"TerrariumApp.{knob.trait}: {knob.help}.",
        }
        if knob.minimum is not None:
            schema["minimum"] = knob.minimum if knob.type == "number" else int(knob.minimum)
            if knob.exclusive_minimum:
                schema["exclusiveMinimum"] = True
        if knob.enum is not None:
            schema["enum"] = list(knob.enum)
        properties[knob.key] = schema
    return {
        "type": "object",
        "description": "Terrarium settings (TerrariumApp traits), given to every gateway.",
        "properties": properties,
    }


def _secret_ref(what: str, default_key: str) -> Schema:
    return {
        "type": "object",
        "description": f"The Secret key that holds {what}.",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": model.SUBDOMAIN_PATTERN, "maxLength": 253},
            "key": {
                "type": "string",
                "default": default_key,
                "pattern": model.SECRET_KEY_PATTERN,
                "maxLength": 253,
            },
        },
    }


def spec_schema() -> Schema:
    """The OpenAPI v3 schema of ``spec``."""
    return {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {
                "type": "string",
                "minLength": 1,
                "description": "Gateway image: Jupyter Server with Terrarium (deploy/Dockerfile).",
            },
            "imagePullPolicy": {"type": "string", "enum": list(model.PULL_POLICIES)},
            "replicas": {
                "type": "integer",
                "default": model.DEFAULT_REPLICAS,
                "minimum": 0,
                "maximum": model.MAX_REPLICAS,
                "description": "Gateway pods; more than one share agents only through spec.redis.",
            },
            "port": {
                "type": "integer",
                "default": model.DEFAULT_PORT,
                "minimum": model.MIN_PORT,
                "maximum": 65535,
                "description": "Port of the gateway pods and of the Service.",
            },
            "baseUrl": {
                "type": "string",
                "default": model.DEFAULT_BASE_URL,
                "pattern": model.BASE_URL_PATTERN,
                "maxLength": 200,
                "description": "Jupyter's base_url; Terrarium is served under {baseUrl}terrarium/.",
            },
            "auth": {
                "type": "object",
                "description": "The gateway's token. The Secret is generated when absent.",
                "properties": {
                    "tokenSecret": {
                        "type": "string",
                        "pattern": model.SUBDOMAIN_PATTERN,
                        "maxLength": 253,
                        "description": "Secret holding the token (default: <name>-token).",
                    },
                    "tokenKey": {
                        "type": "string",
                        "default": model.DEFAULT_TOKEN_KEY,
                        "pattern": model.SECRET_KEY_PATTERN,
                        "maxLength": 253,
                    },
                },
            },
            "agents": {
                "type": "array",
                "maxItems": model.MAX_AGENTS,
                "description": "Agents to serve, as 'module:factory' (TerrariumApp.agents).",
                "items": {"type": "string", "pattern": model.AGENT_PATTERN, "maxLength": 256},
            },
            "demoAgents": {
                "type": "boolean",
                "default": False,
                "description": "Serve the demo agents (TerrariumApp.demo_agents).",
            },
            "loadEntryPoints": {
                "type": "boolean",
                "default": True,
                "description": "Load terrarium.agents entry points "
                "(TerrariumApp.load_entry_points).",
            },
            "settings": _settings(),
            "redis": {
                "type": "object",
                "description": "Redis backplane shared by the replicas: a URL from a Secret, "
                "or one the operator runs (managed).",
                "properties": {
                    "managed": {"type": "boolean", "default": False},
                    "urlSecret": _secret_ref("the Redis URL", model.DEFAULT_REDIS_KEY),
                    "image": {
                        "type": "string",
                        "default": model.DEFAULT_REDIS_IMAGE,
                        "minLength": 1,
                    },
                    "resources": _resources("the managed Redis"),
                },
            },
            "resources": _resources("each gateway pod"),
            "serviceType": {
                "type": "string",
                "enum": list(model.SERVICE_TYPES),
                "default": "ClusterIP",
            },
            "ingress": {
                "type": "object",
                "description": "An Ingress to the gateway's Service on {baseUrl}.",
                "properties": {
                    "enabled": {"type": "boolean", "default": False},
                    "host": {"type": "string", "pattern": model.HOST_PATTERN, "maxLength": 253},
                    "className": {"type": "string", "minLength": 1},
                    "tlsSecretName": {
                        "type": "string",
                        "pattern": model.SUBDOMAIN_PATTERN,
                        "maxLength": 253,
                    },
                    "annotations": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                    },
                },
            },
            "podTemplate": {
                "type": "object",
                "description": "Merged into the rendered pod template (strategic merge: "
                "containers, volumes, env... by name); e.g. nodeSelector, tolerations, sidecars.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    }


def status_schema() -> Schema:
    return {
        "type": "object",
        "properties": {
            "phase": {
                "type": "string",
                "enum": ["Pending", "Running", "Degraded", "Stopped", "Invalid"],
            },
            "replicas": {"type": "integer", "description": "Gateway pods that exist."},
            "readyReplicas": {"type": "integer", "description": "Gateway pods that are ready."},
            "selector": {"type": "string", "description": "Label selector of the gateway pods."},
            "endpoint": {"type": "string", "description": "Where the gateway is reached."},
            "observedGeneration": {"type": "integer"},
            "conditions": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                        "reason": {"type": "string"},
                        "message": {"type": "string"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    }


def _with_cel_rules(schema: Schema) -> Schema:
    """Attach each CEL rule of :data:`.validation.CEL_RULES` where it belongs."""
    for cel in CEL_RULES:
        node = schema
        for key in cel.path:
            node = node["properties"][key]
        node.setdefault("x-kubernetes-validations", []).append(
            {"rule": cel.rule, "message": cel.message}
        )
    return schema


def openapi_schema() -> Schema:
    """The ``openAPIV3Schema`` of the only version."""
    return _with_cel_rules(
        {
            "type": "object",
            "description": "A Terrarium gateway: Jupyter Server pods that serve live agents.",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": spec_schema(),
                "status": status_schema(),
            },
        }
    )


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition (apiextensions.k8s.io/v1)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpoint"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


HEADER = (
    "# Generated by agentserver_operator.crd (deploy/operator); do not edit.\n"
    "# Regenerate: PYTHONPATH=deploy/operator uv run python -m agentserver_operator.crd"
    " > deploy/crd.yaml\n"
)


def crd_yaml() -> str:
    """``deploy/crd.yaml`` as committed."""
    text: str = yaml.safe_dump(crd(), sort_keys=False, width=100)
    return HEADER + text


def main() -> None:
    sys.stdout.write(crd_yaml())


if __name__ == "__main__":
    main()
