"""Prism: an agent's exposed methods, seen as commands of its genus.

``@expose`` marks methods; a ``Genus`` collects the marked methods of one
object under its ``genus_name``; the ``Prism`` is the registry of genera the
gateway projects as REST routes, an OpenAPI document and a command line. Type
hints are the only description a command needs (see ``terrarium.prism.schema``).
A command's arguments are validated before it runs, sync commands run in a
worker thread so they never stall the loop that serves observers, and the
result is serialised by its declared type.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

from terrarium.names import NAME_RULE, is_name
from terrarium.prism.schema import ArgumentsInvalid, Signature, signature_of

#: Genus names taken by the gateway's own routes (PROTOCOL.md section 4).
RESERVED_GENERA = frozenset({"agents", "purgatory", "openapi.json", "health", "pipelines"})

_MARK = "__terrarium_exposure__"

F = TypeVar("F", bound=Callable[..., Any])


@runtime_checkable
class CLICapable(Protocol):
    """An agent kind with commands: its genus name and a line that describes it."""

    genus_name: str
    cli_description: str


@dataclass(frozen=True)
class Exposure:
    """What ``@expose`` records on a method."""

    help: str | None = None
    examples: tuple[Mapping[str, Any], ...] = ()
    aliases: tuple[str, ...] = ()
    hidden: bool = False


@overload
def expose(function: F, /) -> F: ...


@overload
def expose(
    *,
    help: str | None = None,
    examples: Sequence[Mapping[str, Any]] = (),
    aliases: Sequence[str] = (),
    hidden: bool = False,
) -> Callable[[F], F]: ...


def expose(
    function: F | None = None,
    /,
    *,
    help: str | None = None,
    examples: Sequence[Mapping[str, Any]] = (),
    aliases: Sequence[str] = (),
    hidden: bool = False,
) -> F | Callable[[F], F]:
    """Mark a method (sync or async) as a command; usable bare or with options.

    ``help`` defaults to the docstring; ``examples`` are keyword-argument
    objects (checked against the signature when the genus is built);
    ``aliases`` are other names for the same command; a ``hidden`` command is
    callable but left out of listings, the OpenAPI document and ``--help``.
    """
    if isinstance(examples, Mapping) or isinstance(aliases, str):
        raise TypeError("examples and aliases are sequences (of objects, of names)")
    exposure = Exposure(help, tuple(examples), tuple(aliases), hidden)

    def mark(target: F) -> F:
        inner = getattr(target, "__func__", target)  # staticmethod, classmethod
        setattr(inner, _MARK, exposure)
        return target

    return mark if function is None else mark(function)


class CommandFailed(Exception):
    """The command raised; ``error_type`` names the original exception's class."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class UnknownGenus(LookupError):
    pass


class UnknownCommand(LookupError):
    pass


@dataclass(frozen=True)
class Command:
    """One exposed method: how to call it and how to describe it."""

    name: str
    function: Callable[..., Any]
    signature: Signature
    help: str = ""
    examples: tuple[Mapping[str, Any], ...] = ()
    aliases: tuple[str, ...] = ()
    hidden: bool = False

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    def describe(self) -> dict[str, Any]:
        """The listing entry: help, examples, aliases and both JSON Schemas."""
        return {
            "name": self.name,
            "help": self.help,
            "aliases": list(self.aliases),
            "examples": [dict(example) for example in self.examples],
            "arguments": self.signature.arguments_schema(),
            "result": self.signature.result_schema(),
        }

    async def call(self, arguments: Any) -> Any:
        """Validate, run, serialise: raises ``ArgumentsInvalid`` or ``CommandFailed``.

        An async command runs on the caller's loop; a sync one in a worker
        thread (``asyncio.to_thread``), so a slow one never blocks the loop.
        """
        values = self.signature.validate(arguments)
        try:
            if self.is_async:
                output = await self.function(**values)
            else:
                output = await asyncio.to_thread(self.function, **values)
                if inspect.isawaitable(output):
                    output = await output
        except Exception as error:
            raise CommandFailed(type(error).__name__, str(error)) from error
        return self.signature.dump(output)


def _check_name(kind: str, name: str) -> str:
    if not is_name(name):
        raise ValueError(f"{kind} name {name!r} must be {NAME_RULE}")
    return name


def exposed(target: object) -> Iterator[tuple[str, Callable[..., Any], Exposure]]:
    """The ``@expose``d methods of an object (or functions of a module), by attribute name.

    Attributes are read statically first, so properties are never run just
    to find out whether they are commands.
    """
    for attribute in sorted(dir(target)):
        try:
            raw = inspect.getattr_static(target, attribute)
        except AttributeError:
            continue
        exposure = getattr(getattr(raw, "__func__", raw), _MARK, None)
        if isinstance(exposure, Exposure):
            yield attribute, getattr(target, attribute), exposure


@dataclass
class Genus:
    """The commands of one object, by name and by alias."""

    name: str
    description: str = ""
    commands: dict[str, Command] = field(default_factory=dict)
    _names: dict[str, Command] = field(default_factory=dict, repr=False)

    @classmethod
    def from_object(
        cls, target: object, *, name: str | None = None, description: str | None = None
    ) -> Genus:
        """Collect ``target``'s exposed methods; the name defaults to its ``genus_name``."""
        name = name if name is not None else getattr(target, "genus_name", None)
        if not isinstance(name, str):
            raise ValueError(f"{target!r} has no genus_name; pass name=")
        if description is None:
            own = getattr(target, "cli_description", None)
            description = own if isinstance(own, str) else _first_line(inspect.getdoc(target))
        genus = cls(_check_name("genus", name), description)
        for attribute, function, exposure in exposed(target):
            genus.add(_command(attribute, function, exposure))
        return genus

    def add(self, command: Command) -> None:
        for alias in (command.name, *command.aliases):
            _check_name("command", alias)
            if alias in self._names:
                raise ValueError(
                    f"genus {self.name!r}: {alias!r} names both "
                    f"{self._names[alias].name!r} and {command.name!r}"
                )
        self.commands[command.name] = command
        for alias in (command.name, *command.aliases):
            self._names[alias] = command

    def command(self, name: str) -> Command:
        """A command by its name or one of its aliases (hidden ones included)."""
        try:
            return self._names[name]
        except KeyError:
            raise UnknownCommand(f"genus {self.name!r} has no command {name!r}") from None

    def visible(self) -> list[Command]:
        return [command for command in self.commands.values() if not command.hidden]

    def describe(self) -> dict[str, Any]:
        return {
            "genus": self.name,
            "description": self.description,
            "commands": [command.describe() for command in self.visible()],
        }


def _first_line(doc: str | None) -> str:
    return doc.strip().split("\n\n")[0].replace("\n", " ") if doc else ""


def _command(attribute: str, function: Callable[..., Any], exposure: Exposure) -> Command:
    signature = signature_of(function, title=attribute)
    for example in exposure.examples:
        try:
            signature.validate(example)
        except ArgumentsInvalid as error:
            raise ValueError(f"an example of {attribute!r} does not fit it: {error}") from None
    return Command(
        name=attribute,
        function=function,
        signature=signature,
        help=exposure.help if exposure.help is not None else inspect.getdoc(function) or "",
        examples=exposure.examples,
        aliases=exposure.aliases,
        hidden=exposure.hidden,
    )


class Prism:
    """The genera a gateway serves, by name; reserved and duplicate names are refused."""

    def __init__(self) -> None:
        self._genera: dict[str, Genus] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._genera

    def __iter__(self) -> Iterator[Genus]:
        return iter(list(self._genera.values()))

    def __len__(self) -> int:
        return len(self._genera)

    def register(
        self, target: object, *, name: str | None = None, description: str | None = None
    ) -> Genus:
        """Add a genus: a ``Genus``, or any object with ``genus_name`` and exposed methods."""
        genus = (
            target
            if isinstance(target, Genus)
            else Genus.from_object(target, name=name, description=description)
        )
        if genus.name in RESERVED_GENERA:
            raise ValueError(
                f"genus name {genus.name!r} is reserved for Terrarium's own routes "
                f"({', '.join(sorted(RESERVED_GENERA))})"
            )
        if genus.name in self._genera:
            raise ValueError(f"a genus {genus.name!r} is already registered")
        self._genera[genus.name] = genus
        return genus

    def unregister(self, name: str) -> None:
        if self._genera.pop(name, None) is None:
            raise UnknownGenus(f"no genus {name!r}")

    def get(self, name: str) -> Genus:
        try:
            return self._genera[name]
        except KeyError:
            raise UnknownGenus(f"no genus {name!r}") from None

    def command(self, genus: str, command: str) -> Command:
        return self.get(genus).command(command)

    def visible_names(self, genus: str | None) -> list[str]:
        """Names of a genus' listed commands; none for an unknown genus."""
        found = self._genera.get(genus) if genus is not None else None
        return [command.name for command in found.visible()] if found else []

    async def call(self, genus: str, command: str, arguments: Any) -> Any:
        return await self.command(genus, command).call(arguments)
