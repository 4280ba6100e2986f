"""Finding the agents to serve: ``module:factory`` strings and ``terrarium.agents`` entry points.

A factory is any callable that returns what a gateway serves: a ``FluxAgent``,
a ``Pipeline`` of them, or an iterable of those.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any

from terrarium.flux import FluxAgent
from terrarium.pipeline import Pipeline

#: What a factory may make: agents, and pipelines of agents.
Servable = FluxAgent | Pipeline

ENTRY_POINT_GROUP = "terrarium.agents"


class AgentLoadError(Exception):
    """A configured agent could not be made; the message says which and why."""


def _agents_from(spec: str, factory: Any) -> list[Servable]:
    if not callable(factory):
        raise AgentLoadError(f"{spec}: {factory!r} is not callable")
    try:
        made = factory()
    except Exception as error:
        raise AgentLoadError(
            f"{spec}: the factory raised {type(error).__name__}: {error}"
        ) from error
    if isinstance(made, FluxAgent | Pipeline):
        return [made]
    if isinstance(made, Iterable) and not isinstance(made, str | bytes | dict):
        agents = list(made)
        if all(isinstance(agent, FluxAgent | Pipeline) for agent in agents):
            return agents
    raise AgentLoadError(
        f"{spec}: the factory must return a FluxAgent, a Pipeline or a list of them"
    )


def load_factory(spec: str) -> Callable[[], Any]:
    """Import ``module:factory``; modules beside the working directory are found too,
    as with ``python -m`` or uvicorn, so ``my_agents.py`` next to you just works."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AgentLoadError(f"{spec!r}: expected 'module:factory'")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AgentLoadError(f"{spec}: cannot import {module_name}: {error}") from error
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AgentLoadError(f"{spec}: {module_name} has no {attribute}") from None
    return target  # type: ignore[no-any-return]


def agents_from_spec(spec: str) -> list[Servable]:
    return _agents_from(spec, load_factory(spec))


def agents_from_entry_points() -> list[tuple[str, list[Servable] | AgentLoadError]]:
    """Every ``terrarium.agents`` entry point, with its agents or why it failed."""
    found: list[tuple[str, list[Servable] | AgentLoadError]] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        name = f"{point.name} = {point.value}"
        try:
            found.append((name, _agents_from(name, point.load())))
        except AgentLoadError as error:
            found.append((name, error))
        except Exception as error:
            found.append((name, AgentLoadError(f"{name}: {type(error).__name__}: {error}")))
    return found
