"""A pipeline a kernel runs, listed by this server beside the ones it runs itself.

A kernel that publishes a pipeline publishes each stage on its own publish
socket (``handlers/publish.py``), and one of those sockets also carries the
pipeline: ``{"type": "pipeline", "pipeline": PIPELINE}``, sent at first and
again when its figures change. The server checks it (``read_pipeline``,
``list_pipeline``) and keeps the latest in a ``PublishedPipeline`` in the
registry, where ``GET api/pipelines`` finds it as it finds any pipeline.

The stages run in the kernel, so the figures are the kernel's: the server
only shows them. Each stage is the server's proxy of a published agent, and
that agent belongs to its own socket: removing the pipeline (its carrying
socket, or any stage's, closed) leaves the other proxies to their sockets.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from terrarium import protocol
from terrarium.flux import FluxAgent
from terrarium.names import NAME_RULE, is_name
from terrarium.pipeline import Pipeline
from terrarium.pipeline.served import ServedPipeline
from terrarium.registry import AgentRegistry

RefusalCode = Literal["bad_request", "conflict"]


class PipelineRefused(Exception):
    """A ``pipeline`` frame the server does not take: ``code`` and a message for the kernel."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code: RefusalCode = code
        self.message = message


class PublishedPipeline:
    """The server's side of a kernel's pipeline: its latest description and its stages' proxies.

    Registered with ``AgentRegistry.register_pipeline`` like a pipeline the
    server runs; it has nothing to start or drain here. ``stop()`` and
    ``kill()`` let go of the proxies, so unregistering the pipeline does not
    unregister them: each goes when its own socket closes.
    """

    def __init__(self, description: protocol.Pipeline, proxies: list[FluxAgent]) -> None:
        self.id = description["id"]
        self._description = description
        self._proxies = proxies
        #: Let go by the registry (unregistered): it lists it no more.
        self.released = False

    def __repr__(self) -> str:
        return f"<PublishedPipeline {self.id}: {len(self._proxies)} stages>"

    @property
    def stages(self) -> list[FluxAgent]:
        return list(self._proxies)

    def __contains__(self, agent: object) -> bool:
        return any(agent is proxy for proxy in self._proxies)

    def update(self, description: protocol.Pipeline, proxies: list[FluxAgent]) -> None:
        """The kernel's newer description (``list_pipeline`` checked it)."""
        self._description = description
        self._proxies = proxies

    def start(self) -> None:
        """Nothing to start: the stages run in the kernel."""

    async def stop(self) -> None:
        self.release()

    async def kill(self) -> None:
        self.release()

    def release(self) -> None:
        """Let go of the proxies: the registry is unregistering this pipeline."""
        self._proxies = []
        self.released = True

    def describe(self) -> protocol.Pipeline:
        return self._description


#: Static checks (mypy): both kinds of pipeline have all the registry uses.
_RUN: type[ServedPipeline] = Pipeline
_PUBLISHED: type[ServedPipeline] = PublishedPipeline


@functools.cache
def _shape() -> TypeAdapter[protocol.Pipeline]:
    return TypeAdapter(protocol.Pipeline)


def read_pipeline(data: Any) -> protocol.Pipeline:
    """The ``pipeline`` of a frame, as PROTOCOL.md section 4 shapes ``PIPELINE``; else refused.

    Keys the protocol does not define are dropped; the graph must hang
    together (unique stages, edges between them, no edge twice).
    """
    try:
        description = _shape().validate_python(data, strict=True)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'pipeline'}: {problem['msg']}"
            for problem in error.errors()[:3]
        )
        raise PipelineRefused("bad_request", f"not a PIPELINE: {problems}") from None
    if not is_name(description["id"]):
        raise PipelineRefused(
            "bad_request", f"{description['id']!r} is not a pipeline id: {NAME_RULE}"
        )
    ids = [stage["id"] for stage in description["stages"]]
    if not ids:
        raise PipelineRefused("bad_request", "a pipeline has at least one stage")
    if len(set(ids)) != len(ids):
        raise PipelineRefused("bad_request", "a stage is listed twice")
    links = set()
    for edge in description["edges"]:
        link = (edge["from"], edge["to"])
        if link[0] not in ids or link[1] not in ids or link[0] == link[1]:
            raise PipelineRefused(
                "bad_request", f"edge {link[0]} -> {link[1]} is not between two stages"
            )
        if link in links:
            raise PipelineRefused("bad_request", f"edge {link[0]} -> {link[1]} is listed twice")
        if not math.isfinite(edge["rate"]):
            raise PipelineRefused(
                "bad_request", f"edge {link[0]} -> {link[1]}: rate is not a number"
            )
        links.add(link)
    return description


def list_pipeline(
    registry: AgentRegistry,
    data: Any,
    *,
    carrier: FluxAgent,
    current: PublishedPipeline | None,
    published: Callable[[FluxAgent], bool],
) -> PublishedPipeline:
    """List (or update) the pipeline a publish socket carries; raises ``PipelineRefused``.

    ``carrier`` is the socket's own proxy, which must be a stage; every stage
    must be an agent that ``published`` accepts (one published over an open
    socket, by the same identity). A socket carries one pipeline, whose id
    no other pipeline may have, and a stage is in one pipeline at most.
    """
    description = read_pipeline(data)
    proxies = _proxies(registry, description, published)
    if not any(carrier is proxy for proxy in proxies):
        message = f"this socket publishes {carrier.id!r}, which is not a stage of the pipeline"
        raise PipelineRefused("bad_request", message)
    if current is not None and current.released:
        current = None  # unregistered since (a stage's socket closed, say): listed anew
    if current is not None:
        if description["id"] != current.id:
            message = f"this socket lists pipeline {current.id!r}; it carries one pipeline only"
            raise PipelineRefused("bad_request", message)
        _check_unshared(registry, current, proxies)
        current.update(description, proxies)
        return current
    if description["id"] in registry.pipelines:
        raise PipelineRefused("conflict", f"a pipeline {description['id']!r} already exists")
    listed = PublishedPipeline(description, proxies)
    try:
        registry.register_pipeline(listed)
    except (ValueError, TypeError) as error:
        raise PipelineRefused("conflict", str(error)) from None
    return listed


def _proxies(
    registry: AgentRegistry,
    description: protocol.Pipeline,
    published: Callable[[FluxAgent], bool],
) -> list[FluxAgent]:
    proxies = []
    for stage in description["stages"]:
        agent = registry.get(stage["id"]) if stage["id"] in registry else None
        if agent is None or not published(agent):
            message = f"stage {stage['id']!r} is not an agent you publish over an open socket"
            raise PipelineRefused("bad_request", message)
        proxies.append(agent)
    return proxies


def _check_unshared(
    registry: AgentRegistry, mine: PublishedPipeline, proxies: list[FluxAgent]
) -> None:
    for pipeline_id, other in registry.pipelines.items():
        if pipeline_id == mine.id:
            continue
        for proxy in proxies:
            if proxy in other:
                message = f"stage {proxy.id!r} is in pipeline {pipeline_id!r} already"
                raise PipelineRefused("conflict", message)
