"""The one type mapping of Prism: Python type hints to JSON Schema, and back from text.

A command's signature becomes a pydantic model of its arguments and a
``TypeAdapter`` of its result, so the REST bridge, the OpenAPI document and
the command line all read the same schemas and the same validation rules.
pydantic does the hard work (JSON Schema 2020-12, lax coercion such as
``"3"`` to ``3``, located errors); this module only decides how a function's
parameters become a model and how a command-line string becomes a JSON value
for a property schema it received from a server.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, PydanticUserError, TypeAdapter, create_model
from pydantic import ValidationError as PydanticValidationError

#: Where ``$ref`` points by default: the ``$defs`` of the same schema.
DEFAULT_REF_TEMPLATE = "#/$defs/{model}"

JSONSchema = dict[str, Any]


class ArgumentsInvalid(ValueError):
    """Keyword arguments that do not fit a command; ``details`` locates every error.

    Each detail is ``{"loc": [field, index, ...], "msg": str, "type": str}``,
    the shape of pydantic's own errors without the offending input (which may
    be large, or private).
    """

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.details = details
        super().__init__("; ".join(describe_error(detail) for detail in details))


def describe_error(detail: Mapping[str, Any]) -> str:
    """``"items.2.x: Input should be a valid integer"``: one error, one line."""
    where = ".".join(str(part) for part in detail.get("loc", ())) or "arguments"
    return f"{where}: {detail.get('msg', 'invalid')}"


@dataclass(frozen=True)
class Signature:
    """A callable's parameters as a pydantic model, and its return type as an adapter.

    Fields get internal names (``a0``, ``a1``, ...) with the parameter name as
    alias, so a parameter may be called ``copy``, ``json`` or ``_hidden``
    without clashing with pydantic's own attributes.
    """

    model: type[BaseModel]
    result: TypeAdapter[Any]
    #: Parameter name -> the model's internal field name.
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.fields)

    def arguments_schema(self, ref_template: str = DEFAULT_REF_TEMPLATE) -> JSONSchema:
        """An object schema: ``properties``, ``required``, defaults; no extra keys allowed."""
        schema = self.model.model_json_schema(ref_template=ref_template)
        schema["additionalProperties"] = False
        return schema

    def result_schema(self, ref_template: str = DEFAULT_REF_TEMPLATE) -> JSONSchema:
        return self.result.json_schema(mode="serialization", ref_template=ref_template)

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Coerce JSON keyword arguments to the declared types, or raise ``ArgumentsInvalid``.

        Unknown names are errors too, checked here rather than with pydantic's
        ``extra="forbid"``, which would leak into the user's own dataclasses.
        """
        if not isinstance(arguments, Mapping):
            raise ArgumentsInvalid(
                [{"loc": [], "msg": "arguments must be an object", "type": "dict_type"}]
            )
        details = [
            {"loc": [name], "msg": "Unexpected argument", "type": "extra_forbidden"}
            for name in arguments
            if name not in self.fields
        ]
        try:
            values = self.model.model_validate(dict(arguments))
        except PydanticValidationError as error:
            details = located(error) + details
            values = None
        if details or values is None:
            raise ArgumentsInvalid(details)
        return {name: getattr(values, internal) for name, internal in self.fields.items()}

    def dump(self, value: Any) -> Any:
        """The result as JSON-able data, serialised by its declared type.

        A value the declared type does not describe is still serialised as
        well as pydantic can (a command should not fail on its way out), and
        an object nothing knows how to encode becomes its ``repr``.
        """
        return self.result.dump_python(value, mode="json", warnings=False, fallback=repr)


def located(error: PydanticValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False)
    ]


def signature_of(function: Callable[..., Any], *, title: str = "Arguments") -> Signature:
    """Build the ``Signature`` of a function or bound method from its type hints.

    Parameters without a hint accept any JSON value; a missing return hint
    means the result is sent as it is. Commands take keyword arguments only
    (a JSON object), so positional-only and variadic parameters are refused.
    """
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as error:
        raise TypeError(f"cannot read the type hints of {function!r}: {error}") from error
    definitions: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for index, parameter in enumerate(inspect.signature(function).parameters.values()):
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise TypeError(
                f"{function.__qualname__}: parameter {parameter.name!r} must be passable "
                "by keyword (no positional-only, *args or **kwargs in a command)"
            )
        internal = f"a{index}"
        default = ... if parameter.default is parameter.empty else parameter.default
        definitions[internal] = (
            hints.get(parameter.name, Any),
            Field(default, alias=parameter.name),
        )
        fields[parameter.name] = internal
    try:
        model = create_model(title, **definitions)
        result: TypeAdapter[Any] = TypeAdapter(hints.get("return", Any))
    except PydanticUserError as error:
        raise TypeError(f"{function.__qualname__}: {error.message}") from error
    return Signature(model=model, result=result, fields=fields)


# -- back from text: command-line values for a property schema --------------------------------


@dataclass(frozen=True)
class CLIOption:
    """One command-line option, read from an arguments schema a server sent."""

    name: str
    schema: JSONSchema
    required: bool
    default: Any = None
    has_default: bool = False
    help: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_flag(self) -> bool:
        """A plain boolean becomes ``--name`` / ``--no-name``."""
        return self.schema.get("type") == "boolean"

    @property
    def is_list(self) -> bool:
        return self.schema.get("type") == "array"

    @property
    def choices(self) -> list[Any] | None:
        values = self.schema.get("enum")
        if "const" in self.schema:
            values = [self.schema["const"]]
        return list(values) if isinstance(values, list) else None

    @property
    def metavar(self) -> str:
        choices = self.choices
        if choices is not None:
            return "{" + ",".join(str(choice) for choice in choices) + "}"
        kind = self.schema.get("items", {}).get("type") if self.is_list else _kind(self.schema)
        return _METAVARS.get(str(kind), "JSON")

    def parse(self, text: str) -> Any:
        """The JSON value this text stands for, given the option's schema."""
        return from_text(text, self.schema)

    def parse_list(self, texts: list[str]) -> Any:
        """Several values for an array option; one value holding a JSON array is taken whole."""
        if len(texts) == 1:
            whole = _json_or_none(texts[0])
            if isinstance(whole, list):
                return whole
        items = self.schema.get("items", {})
        return [from_text(text, items) for text in texts]


_METAVARS = {
    "string": "TEXT",
    "integer": "INT",
    "number": "NUMBER",
    "boolean": "BOOL",
    "null": "null",
    "object": "JSON",
    "array": "JSON",
}


def _kind(schema: JSONSchema) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        return _kind(branches[0])
    return None


def resolve(schema: JSONSchema, root: JSONSchema) -> JSONSchema:
    """Inline local ``$ref``s (``#/$defs/Name``), as far down as the command line needs."""
    seen: set[str] = set()
    while isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen or not ref.startswith("#/"):
            break
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**target, **merged}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            schema = {**schema, key: [resolve(branch, root) for branch in schema[key]]}
    if isinstance(schema.get("items"), dict):
        schema = {**schema, "items": resolve(schema["items"], root)}
    return schema


def cli_options(arguments: JSONSchema) -> list[CLIOption]:
    """The options of a command, in declaration order, from its arguments schema."""
    required = set(arguments.get("required", []))
    options = []
    for name, raw in arguments.get("properties", {}).items():
        schema = resolve(raw, arguments)
        options.append(
            CLIOption(
                name=name,
                schema=schema,
                required=name in required,
                default=schema.get("default"),
                has_default="default" in schema,
                help=str(schema.get("description", "")),
            )
        )
    return options


def from_text(text: str, schema: JSONSchema) -> Any:
    """A command-line string as the JSON value the schema asks for.

    A string that does not fit is passed on unchanged: the server validates
    every argument and reports what is wrong, field by field, so the command
    line never guesses differently from the REST bridge.
    """
    fits, value = _strict(text, schema)
    return value if fits else text


def _strict(text: str, schema: JSONSchema) -> tuple[bool, Any]:
    if "const" in schema or "enum" in schema:
        allowed = [schema["const"]] if "const" in schema else list(schema["enum"])
        if text in allowed:
            return True, text
        parsed = _json_or_none(text)
        return (True, parsed) if parsed is not None and parsed in allowed else (False, None)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        textual = False
        for branch in branches:
            if _kind(branch) == "string" and "enum" not in branch and "const" not in branch:
                textual = True
                continue
            fits, value = _strict(text, branch)
            if fits:
                return True, value
        return (True, text) if textual else (False, None)
    kind = schema.get("type")
    if kind == "string":
        return True, text
    if kind == "integer":
        try:
            return True, int(text)
        except ValueError:
            return False, None
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return False, None
        return True, int(number) if number.is_integer() and "." not in text else number
    if kind == "boolean":
        word = text.strip().lower()
        if word in ("true", "yes", "on", "1"):
            return True, True
        if word in ("false", "no", "off", "0"):
            return True, False
        return False, None
    if kind == "null":
        return (True, None) if text.strip().lower() in ("null", "none", "") else (False, None)
    parsed = _json_or_none(text)
    if kind in ("array", "object"):
        wanted = list if kind == "array" else dict
        return (True, parsed) if isinstance(parsed, wanted) else (False, None)
    # Any value: JSON if it is JSON, else the text itself.
    return True, text if parsed is None and text.strip() != "null" else parsed


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
