"""The import graph: no cycles, a light ``import terrarium``, and the public paths kept."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import grimp
import pytest

import terrarium

PACKAGES = ("terrarium", "jupyter_extension")
#: What a kernel must not pay for by importing the package alone.
HEAVY = ("pydantic", "websockets", "redis", "anywidget", "tornado", "jupyter_server")


def cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """One chain per pair of modules that import each other, directly or not."""
    found: list[tuple[str, ...]] = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                found.append((module, *back))
    return found


def test_the_import_graph_has_no_cycles() -> None:
    # Imports under ``if TYPE_CHECKING`` count: a cycle there is still one to read.
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    assert cycles(graph) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = grimp.ImportGraph()
    for module in ("p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert ("p.a", "p.b", "p.c", "p.a") in cycles(graph)


def test_import_terrarium_loads_nothing_heavy() -> None:
    probe = (
        "import json, sys, terrarium; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("name", terrarium.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(terrarium, name) is not None
    assert name in dir(terrarium)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'FluxAgnet'"):
        terrarium.FluxAgnet  # noqa: B018


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("terrarium", "FluxAgent"),
        ("terrarium", "connect"),
        ("terrarium.sources", "ticks"),
        ("terrarium.semaphore", "eject"),
        ("terrarium.semaphore", "SemaphoreReason"),
        ("terrarium.prism", "expose"),
        ("terrarium.prism", "Genus"),
        ("terrarium.purgatory", "Purgatory"),
        ("terrarium.widgets", "AgentView"),
        ("terrarium.client", "PerturbationFailed"),
        ("terrarium.demo", "echo_agent"),
    ],
)
def test_the_paths_users_import_keep_working(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)
