"""Terrarium: watch and steer live agents from Jupyter.

The core is plain asyncio: flux agents, their mirrors and the registry run in
any process. The Jupyter server extension (``jupyter_extension``) serves them.
"""

from terrarium.client import TerrariumClient, connect
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
from terrarium.events import PROTOCOL_VERSION, TerrariumEvent
from terrarium.flux import AgentState, FluxAgent, FluxConfig, flux
from terrarium.local import LocalTerrarium, kernel_registry
from terrarium.metrics import Metabolism, MetabolismMeter
from terrarium.mirror import HolographicBuffer, Observer
from terrarium.perturbation import Perturbation, PerturbationQueue
from terrarium.prism import CLICapable, Genus, Prism, expose
from terrarium.registry import AgentRegistry, MirrorSettings

__version__ = "0.1.0"

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
    "TerrariumEvent",
    "UnknownAgent",
    "__version__",
    "connect",
    "expose",
    "flux",
    "kernel_registry",
]
