"""Terrarium: watch and steer live agents from Jupyter.

The core is plain asyncio: flux agents, their mirrors and the registry run in
any process. The Jupyter server extension (``jupyter_extension``) serves them.

Names are exported lazily: ``import terrarium`` loads nothing else, so a
kernel pays for the client (websockets) or Prism (pydantic) only when it
uses them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Where each public name lives.
_EXPORTS: dict[str, str] = {
    "PROTOCOL_VERSION": "terrarium.events",
    "AgentError": "terrarium.errors",
    "AgentUnavailable": "terrarium.errors",
    "BadRequest": "terrarium.errors",
    "PerturbationError": "terrarium.errors",
    "PerturbationTimeout": "terrarium.errors",
    "QueueFull": "terrarium.errors",
    "RateLimited": "terrarium.errors",
    "UnknownAgent": "terrarium.errors",
    "AgentState": "terrarium.flux",
    "FluxAgent": "terrarium.flux",
    "FluxConfig": "terrarium.flux",
    "flux": "terrarium.flux",
    "LocalTerrarium": "terrarium.local",
    "kernel_registry": "terrarium.local",
    "Metabolism": "terrarium.metrics",
    "MetabolismMeter": "terrarium.metrics",
    "HolographicBuffer": "terrarium.mirror",
    "Observer": "terrarium.mirror",
    "Perturbation": "terrarium.perturbation",
    "PerturbationQueue": "terrarium.perturbation",
    "CLICapable": "terrarium.prism.commands",
    "Genus": "terrarium.prism.commands",
    "Prism": "terrarium.prism.commands",
    "expose": "terrarium.prism.commands",
    "AgentRegistry": "terrarium.registry",
    "MirrorSettings": "terrarium.registry",
    "TerrariumClient": "terrarium.client.api",
    "connect": "terrarium.client.api",
}

__all__ = [
    "PROTOCOL_VERSION",
    "AgentError",
    "AgentRegistry",
    "AgentState",
    "AgentUnavailable",
    "BadRequest",
    "CLICapable",
    "FluxAgent",
    "FluxConfig",
    "Genus",
    "HolographicBuffer",
    "LocalTerrarium",
    "Metabolism",
    "MetabolismMeter",
    "MirrorSettings",
    "Observer",
    "Perturbation",
    "PerturbationError",
    "PerturbationQueue",
    "PerturbationTimeout",
    "Prism",
    "QueueFull",
    "RateLimited",
    "TerrariumClient",
    "UnknownAgent",
    "__version__",
    "connect",
    "expose",
    "flux",
    "kernel_registry",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'terrarium' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from terrarium.client.api import TerrariumClient, connect
    from terrarium.errors import (
        AgentError,
        AgentUnavailable,
        BadRequest,
        PerturbationError,
        PerturbationTimeout,
        QueueFull,
        RateLimited,
        UnknownAgent,
    )
    from terrarium.events import PROTOCOL_VERSION
    from terrarium.flux import AgentState, FluxAgent, FluxConfig, flux
    from terrarium.local import LocalTerrarium, kernel_registry
    from terrarium.metrics import Metabolism, MetabolismMeter
    from terrarium.mirror import HolographicBuffer, Observer
    from terrarium.perturbation import Perturbation, PerturbationQueue
    from terrarium.prism.commands import CLICapable, Genus, Prism, expose
    from terrarium.registry import AgentRegistry, MirrorSettings
