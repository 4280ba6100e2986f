"""Terrarium's notebook widgets (anywidget).

``views`` holds the widget classes; ``comm`` is the kernel side of their comm
transport, used where no server extension is reachable.
"""

from terrarium.widgets.views import (
    AgentView,
    BundleMissing,
    PerturbConsole,
    Pipeline,
    PurgatoryPanel,
    Terrarium,
    TerrariumWidget,
)

__all__ = [
    "AgentView",
    "BundleMissing",
    "PerturbConsole",
    "Pipeline",
    "PurgatoryPanel",
    "Terrarium",
    "TerrariumWidget",
]
