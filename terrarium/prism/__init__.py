"""Prism: an agent's exposed methods, seen as commands of its genus.

``commands`` holds the prism itself (genera, commands, invocation);
``schema`` maps Python type hints to JSON Schema and parses command-line text.
"""

from terrarium.prism.commands import (
    RESERVED_GENERA,
    CLICapable,
    Command,
    CommandFailed,
    Exposure,
    Genus,
    Prism,
    UnknownCommand,
    UnknownGenus,
    expose,
    exposed,
)
from terrarium.prism.schema import ArgumentsInvalid

__all__ = [
    "RESERVED_GENERA",
    "ArgumentsInvalid",
    "CLICapable",
    "Command",
    "CommandFailed",
    "Exposure",
    "Genus",
    "Prism",
    "UnknownCommand",
    "UnknownGenus",
    "expose",
    "exposed",
]
