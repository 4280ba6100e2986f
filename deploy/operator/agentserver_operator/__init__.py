"""The AgentServer operator: runs Terrarium gateways on Kubernetes.

``kopf run -m agentserver_operator`` (or ``python -m agentserver_operator``)
imports this package, which registers the handlers of :mod:`.handlers`.
The other modules are pure: :mod:`.crd` builds the CustomResourceDefinition,
:mod:`.validation` checks a spec as the API server would, :mod:`.model` reads a
checked spec into typed settings, :mod:`.render` turns them into the child
manifests, :mod:`.status` derives the status from the children.
"""

from agentserver_operator import handlers as handlers
from agentserver_operator.names import API_VERSION, GROUP, KIND, PLURAL, VERSION

__all__ = ["API_VERSION", "GROUP", "KIND", "PLURAL", "VERSION", "handlers"]
