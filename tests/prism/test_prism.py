"""Prism: exposing commands, building genera, the registry of genera, and calling commands."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from terrarium.flux import FluxAgent
from terrarium.prism import (
    RESERVED_GENERA,
    CLICapable,
    CommandFailed,
    Genus,
    Prism,
    UnknownCommand,
    UnknownGenus,
    expose,
)
from terrarium.prism.schema import ArgumentsInvalid
from terrarium.registry import AgentRegistry


class Calculator:
    """Adds and divides numbers."""

    genus_name = "calc"
    cli_description = "Arithmetic, as a demo."

    def __init__(self) -> None:
        self.property_reads = 0

    @expose
    def add(self, a: int, b: int = 1) -> int:
        """Add two integers.

        The second defaults to one.
        """
        return a + b

    @expose(help="Divide a by b.", examples=[{"a": 6, "b": 3}], aliases=["div", "quotient"])
    async def divide(self, a: float, b: float) -> float:
        return a / b

    @expose(hidden=True)
    def secret(self) -> str:
        return "hidden but callable"

    @expose
    def where(self) -> int:
        return threading.get_ident()

    @expose
    async def where_async(self) -> int:
        return threading.get_ident()

    @expose
    @staticmethod
    def double(x: int) -> int:
        return 2 * x

    def not_a_command(self) -> None: ...

    @property
    def expensive(self) -> int:
        self.property_reads += 1
        return 0

    async def invoke(self, data: Any) -> Any:
        return data


# -- exposing and describing -------------------------------------------------------------------


def test_expose_marks_only_the_decorated_methods() -> None:
    calculator = Calculator()
    genus = Genus.from_object(calculator)
    assert genus.name == "calc"
    assert genus.description == "Arithmetic, as a demo."
    assert set(genus.commands) == {"add", "divide", "secret", "where", "where_async", "double"}
    assert calculator.property_reads == 0, "discovery must not run properties"


def test_expose_keeps_the_function_usable_as_before() -> None:
    assert Calculator().add(2, 3) == 5
    assert Calculator.double(4) == 8


def test_help_defaults_to_the_docstring_and_options_are_kept() -> None:
    genus = Genus.from_object(Calculator())
    add, divide = genus.command("add"), genus.command("divide")
    assert add.help.startswith("Add two integers.")
    assert divide.help == "Divide a by b."
    assert divide.examples == ({"a": 6, "b": 3},)
    assert divide.aliases == ("div", "quotient")
    assert not add.is_async and divide.is_async


def test_aliases_resolve_to_the_same_command() -> None:
    genus = Genus.from_object(Calculator())
    assert genus.command("div") is genus.command("divide")
    assert genus.command("quotient") is genus.command("divide")
    with pytest.raises(UnknownCommand):
        genus.command("multiply")


def test_hidden_commands_are_callable_but_not_listed() -> None:
    genus = Genus.from_object(Calculator())
    listed = [command["name"] for command in genus.describe()["commands"]]
    assert "secret" not in listed
    assert "secret" not in [command.name for command in genus.visible()]
    assert genus.command("secret").hidden


def test_describe_carries_schemas_help_examples_and_aliases() -> None:
    description = Genus.from_object(Calculator()).describe()
    assert description["genus"] == "calc"
    divide = next(c for c in description["commands"] if c["name"] == "divide")
    assert divide["aliases"] == ["div", "quotient"]
    assert divide["examples"] == [{"a": 6, "b": 3}]
    assert divide["arguments"]["required"] == ["a", "b"]
    assert divide["arguments"]["properties"]["a"]["type"] == "number"
    assert divide["result"] == {"type": "number"}
    add = next(c for c in description["commands"] if c["name"] == "add")
    assert add["arguments"]["properties"]["b"]["default"] == 1


def test_cli_capable_is_checkable_at_runtime() -> None:
    assert isinstance(Calculator(), CLICapable)

    class Nameless:
        genus_name = "nameless"

    assert not isinstance(Nameless(), CLICapable)
    assert not isinstance(object(), CLICapable)


def test_an_object_without_genus_name_needs_a_name() -> None:
    class Loose:
        """Loose tools."""

        @expose
        def ping(self) -> str:
            return "pong"

    with pytest.raises(ValueError, match="genus_name"):
        Genus.from_object(Loose())
    genus = Genus.from_object(Loose(), name="loose")
    assert genus.description == "Loose tools."


def test_an_alias_that_clashes_is_refused() -> None:
    class Clash:
        genus_name = "clash"

        @expose(aliases=["b"])
        def a(self) -> None: ...

        @expose
        def b(self) -> None: ...

    with pytest.raises(ValueError, match="'b' names both"):
        Genus.from_object(Clash())


def test_an_example_that_does_not_fit_is_refused() -> None:
    class Wrong:
        genus_name = "wrong"

        @expose(examples=[{"n": "not a number"}])
        def square(self, n: int) -> int:
            return n * n

    with pytest.raises(ValueError, match="example of 'square' does not fit"):
        Genus.from_object(Wrong())


def test_expose_rejects_a_single_example_or_alias_given_bare() -> None:
    with pytest.raises(TypeError):
        expose(aliases="x")
    with pytest.raises(TypeError):
        expose(examples={"a": 1})


# -- the registry of genera ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESERVED_GENERA))
def test_reserved_genus_names_are_refused(name: str) -> None:
    prism = Prism()
    with pytest.raises(ValueError, match="reserved"):
        prism.register(Calculator(), name=name)
    assert name not in prism


@pytest.mark.parametrize("name", ["", "a/b", "x" * 129, "sp ace", ".", "..", "é"])
def test_invalid_genus_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        Prism().register(Calculator(), name=name)


def test_a_duplicate_genus_is_refused() -> None:
    prism = Prism()
    prism.register(Calculator())
    with pytest.raises(ValueError, match="already registered"):
        prism.register(Calculator())
    assert len(prism) == 1


def test_genera_are_found_unregistered_and_reported_unknown() -> None:
    prism = Prism()
    genus = prism.register(Calculator())
    assert prism.get("calc") is genus
    assert list(prism) == [genus]
    assert prism.visible_names("calc") == ["add", "divide", "double", "where", "where_async"]
    assert prism.visible_names("nope") == [] and prism.visible_names(None) == []
    prism.unregister("calc")
    with pytest.raises(UnknownGenus):
        prism.get("calc")
    with pytest.raises(UnknownGenus):
        prism.unregister("calc")


# -- calling ------------------------------------------------------------------------------------


async def test_sync_and_async_commands_run_with_coerced_arguments() -> None:
    prism = Prism()
    prism.register(Calculator())
    assert await prism.call("calc", "add", {"a": "2", "b": 5}) == 7
    assert await prism.call("calc", "add", {"a": 2}) == 3
    assert await prism.call("calc", "div", {"a": 7, "b": 2}) == 3.5
    assert await prism.call("calc", "double", {"x": 21}) == 42
    assert await prism.call("calc", "secret", {}) == "hidden but callable"


async def test_sync_commands_run_off_the_loop_and_async_ones_on_it() -> None:
    prism = Prism()
    prism.register(Calculator())
    loop_thread = threading.get_ident()
    assert await prism.call("calc", "where", {}) != loop_thread
    assert await prism.call("calc", "where_async", {}) == loop_thread


async def test_a_slow_sync_command_does_not_block_the_loop() -> None:
    started, release = threading.Event(), threading.Event()

    class Blocking:
        genus_name = "blocking"

        @expose
        def wait(self) -> str:
            started.set()
            release.wait(10)
            return "done"

    prism = Prism()
    prism.register(Blocking())
    call = asyncio.ensure_future(prism.call("blocking", "wait", {}))
    # The loop still turns while the command blocks its thread.
    await asyncio.to_thread(started.wait, 10)
    await asyncio.sleep(0)
    assert not call.done()
    release.set()
    assert await call == "done"


async def test_bad_arguments_raise_before_the_command_runs() -> None:
    calls: list[int] = []

    class Counting:
        genus_name = "counting"

        @expose
        def count(self, n: int) -> int:
            calls.append(n)
            return n

    prism = Prism()
    prism.register(Counting())
    with pytest.raises(ArgumentsInvalid) as caught:
        await prism.call("counting", "count", {"n": "many", "extra": 1})
    assert [detail["loc"] for detail in caught.value.details] == [["n"], ["extra"]]
    assert calls == []


async def test_a_raising_command_reports_its_type_and_message() -> None:
    prism = Prism()
    prism.register(Calculator())
    with pytest.raises(CommandFailed) as caught:
        await prism.call("calc", "divide", {"a": 1, "b": 0})
    assert caught.value.error_type == "ZeroDivisionError"
    assert "division by zero" in str(caught.value)


async def test_unknown_genus_and_command_are_lookup_errors() -> None:
    prism = Prism()
    prism.register(Calculator())
    with pytest.raises(UnknownGenus):
        await prism.call("nope", "add", {})
    with pytest.raises(UnknownCommand):
        await prism.call("calc", "nope", {})


# -- the agent registry brings genera in ---------------------------------------------------------


async def test_registering_a_capable_agent_registers_its_genus() -> None:
    registry = AgentRegistry()
    try:
        registry.register(FluxAgent(Calculator(), agent_id="calc-1"))
        assert "calc" in registry.prism
        assert registry.status("calc-1")["commands"] == [
            "add",
            "divide",
            "double",
            "where",
            "where_async",
        ]
        # A second agent of the same kind shares the genus; the first one's stays.
        first = registry.prism.get("calc")
        registry.register(FluxAgent(Calculator(), agent_id="calc-2"))
        assert registry.prism.get("calc") is first
        assert registry.status("calc-2")["commands"] == registry.status("calc-1")["commands"]
        # When the first goes, the genus comes from the one that is left.
        await registry.unregister("calc-1")
        assert registry.prism.get("calc") is not first
        assert "add" in registry.status("calc-2")["commands"]
        await registry.unregister("calc-2")
        assert "calc" not in registry.prism
    finally:
        await registry.close()


async def test_agents_without_commands_bring_no_genus() -> None:
    async def echo(data: Any) -> Any:
        return data

    registry = AgentRegistry()
    try:
        registry.register(FluxAgent(echo, agent_id="echo", genus="plain"))
        assert len(registry.prism) == 0
        assert registry.status("echo")["commands"] == []
    finally:
        await registry.close()


async def test_an_agent_with_a_reserved_genus_is_refused_whole() -> None:
    class Health(Calculator):
        genus_name = "health"

    registry = AgentRegistry()
    try:
        with pytest.raises(ValueError, match="reserved"):
            registry.register(FluxAgent(Health(), agent_id="h"))
        assert "h" not in registry
        assert len(registry.prism) == 0
    finally:
        await registry.close()


async def test_standalone_genera_live_in_the_registry_prism_too() -> None:
    registry = AgentRegistry()
    try:
        registry.prism.register(Calculator())
        assert await registry.prism.call("calc", "add", {"a": 1, "b": 1}) == 2
    finally:
        await registry.close()
