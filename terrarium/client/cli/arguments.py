"""Command lines made from a genus command's JSON Schema, so no exposed command needs one written.

The server validates every argument; these parsers only turn text into the
JSON value the schema asks for and leave what does not fit for the server
to judge, so its error names the field.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from terrarium.client.cli.exits import EXIT_USAGE, Exit
from terrarium.client.cli.output import compact
from terrarium.prism.schema import CLIOption, cli_options, from_text


def find_command(listing: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The listing's entry for a command, by name or alias."""
    for command in listing.get("commands", []):
        if name == command["name"] or name in command.get("aliases", []):
            return dict(command)
    return None


def example_line(genus: str, command: str, example: Mapping[str, Any]) -> str:
    """``terrarium call GENUS COMMAND --name value ...`` for one of the command's examples."""
    words = ["terrarium", "call", genus, command]
    for name, value in example.items():
        words += [
            "--" + name.replace("_", "-"),
            value if isinstance(value, str) else compact(value),
        ]
    return shlex.join(words)


def type_label(schema: Mapping[str, Any]) -> str:
    """ "integer", "integer or null", "list of string": a property's type, for a person."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return " or ".join(type_label(branch) for branch in branches)
    if "enum" in schema or "const" in schema:
        return "choice"
    if schema.get("type") == "array":
        return "list of " + type_label(schema.get("items", {}))
    kind = schema.get("type", "JSON")
    return kind if isinstance(kind, str) else " or ".join(kind)


def _option_help(option: CLIOption) -> str:
    parts = [option.help] if option.help else []
    parts.append(type_label(option.schema))
    if option.required:
        parts.append("required")
    elif option.has_default:
        parts.append(f"default: {compact(option.default)}")
    return ", ".join(parts)


def command_parser(genus: str, description: Mapping[str, Any]) -> argparse.ArgumentParser:
    """An argparse parser for one command, from its listing entry (schemas included)."""
    name = description["name"]
    epilog = []
    if description.get("aliases"):
        epilog.append("aliases: " + ", ".join(description["aliases"]))
    if description.get("examples"):
        epilog.append("examples:")
        epilog += ["  " + example_line(genus, name, ex) for ex in description["examples"]]
    parser = argparse.ArgumentParser(
        prog=f"terrarium call {genus} {name}",
        description=description.get("help") or None,
        epilog="\n".join(epilog) or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    group = parser.add_argument_group("arguments")
    for option in cli_options(description.get("arguments", {})):
        flags = (
            [option.flag]
            if option.flag == "--" + option.name
            else [option.flag, "--" + option.name]
        )
        if option.is_flag:
            group.add_argument(
                *flags,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=_option_help(option),
            )
        else:
            group.add_argument(
                *flags,
                dest=option.name,
                metavar=option.metavar,
                nargs="+" if option.is_list else None,
                default=None,
                help=_option_help(option),
            )
    return parser


def parse_command_arguments(
    genus: str, description: Mapping[str, Any], argv: Sequence[str]
) -> dict[str, Any]:
    """The JSON body for a command: only the options given, each coerced per its schema."""
    parser = command_parser(genus, description)
    namespace = parser.parse_args(list(argv))
    body: dict[str, Any] = {}
    for option in cli_options(description.get("arguments", {})):
        given = getattr(namespace, option.name)
        if given is None:
            continue
        if option.is_flag:
            body[option.name] = bool(given)
        elif option.is_list:
            body[option.name] = option.parse_list(given)
        else:
            body[option.name] = option.parse(given)
    return body


def free_arguments(argv: Sequence[str]) -> dict[str, Any]:
    """``--name value`` pairs for a command the listing does not show (a hidden one)."""
    body: dict[str, Any] = {}
    words = list(argv)
    while words:
        word = words.pop(0)
        if not word.startswith("--") or len(word) < 3:
            raise Exit(EXIT_USAGE, f"expected --name value, got {word!r}")
        name, _, value = word[2:].partition("=")
        if not value and "=" not in word:
            if not words:
                raise Exit(EXIT_USAGE, f"--{name} needs a value")
            value = words.pop(0)
        body[name.replace("-", "_")] = from_text(value, {})
    return body


def flag_path(loc: Sequence[Any]) -> str:
    """A validation error's location as the option a person typed: ``--tags[2]``."""
    if not loc:
        return "arguments"
    head = "--" + str(loc[0]).replace("_", "-")
    return head + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_or_text(text: str) -> Any:
    """A value typed on the command line: JSON if it parses, else the text itself.

    ``NaN`` and ``Infinity`` are text: no JSON the server accepts holds them.
    """
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text
