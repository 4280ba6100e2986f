"""Names shared by the CRD, the renderers and the handlers."""

from __future__ import annotations

GROUP = "terrarium.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "AgentServer"
PLURAL = "agentservers"
SINGULAR = "agentserver"
SHORT_NAMES = ("terrarium",)

#: ``app.kubernetes.io/managed-by`` of every child the operator makes.
MANAGER = "terrarium-operator"
#: Annotation on each child: the manifest the operator last applied (JSON), so that
#: a field dropped from the spec is removed from the child on the next apply.
LAST_APPLIED = f"{GROUP}/last-applied"
#: Annotation on the gateway pod template: a digest of the Terrarium settings, so
#: that a change of settings rolls the pods (a ConfigMap change alone does not).
CONFIG_HASH = f"{GROUP}/config-hash"
#: Finalizer that lets the operator delete the children before the AgentServer goes.
FINALIZER = f"{GROUP}/cleanup"

#: Name of the gateway container (a ``podTemplate`` override merges into it by this name).
GATEWAY_CONTAINER = "gateway"
#: Where the ConfigMap with ``jupyter_server_config.json`` is mounted in the gateway.
CONFIG_DIR = "/etc/terrarium"
CONFIG_FILE = "jupyter_server_config.json"
HOME_DIR = "/home/terrarium"
#: User and group of the gateway image (deploy/Dockerfile).
GATEWAY_UID = 1000
#: User of the official redis image.
REDIS_UID = 999
REDIS_PORT = 6379
#: Longest AgentServer name: children are named ``<name>-config``, ``<name>-redis``...
#: and a Service name is a DNS label of at most 63 characters.
MAX_NAME_LENGTH = 56
