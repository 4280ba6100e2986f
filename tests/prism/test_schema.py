"""The type mapping of Prism: hints to JSON Schemas, validation with located errors, text back."""

from __future__ import annotations

import enum
import sys
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from terrarium.prism.schema import (
    ArgumentsInvalid,
    CLIOption,
    Signature,
    cli_options,
    from_text,
    signature_of,
)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: int = 0


class Span(TypedDict):
    start: int
    end: int


class OldStyle(typing.TypedDict):
    """pydantic needs ``typing_extensions.TypedDict`` before Python 3.12."""

    a: int


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)


def arguments(function: Any) -> dict[str, Any]:
    return signature_of(function).arguments_schema()


def result(function: Any) -> dict[str, Any]:
    return signature_of(function).result_schema()


def prop(function: Any, name: str) -> dict[str, Any]:
    schema = arguments(function)
    found: dict[str, Any] = schema["properties"][name]
    return found


# -- hints to schemas ---------------------------------------------------------------------------


def test_scalars_map_to_json_types() -> None:
    def command(s: str, i: int, f: float, b: bool, n: None) -> None: ...

    schema = arguments(command)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["s", "i", "f", "b", "n"]
    assert [schema["properties"][name]["type"] for name in "sifbn"] == [
        "string",
        "integer",
        "number",
        "boolean",
        "null",
    ]
    assert result(command) == {"type": "null"}


def test_containers_map_to_arrays_and_objects() -> None:
    def command(items: list[int], table: dict[str, float]) -> list[str]: ...

    assert prop(command, "items") == {
        "items": {"type": "integer"},
        "title": "Items",
        "type": "array",
    }
    table = prop(command, "table")
    assert table["type"] == "object"
    assert table["additionalProperties"] == {"type": "number"}
    assert result(command) == {"items": {"type": "string"}, "type": "array"}


def test_optional_and_union_become_any_of() -> None:
    def command(maybe: int | None, either: Union[int, str]) -> str | None: ...  # noqa: UP007

    assert prop(command, "maybe")["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert prop(command, "either")["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert result(command)["anyOf"] == [{"type": "string"}, {"type": "null"}]


def test_literal_and_enum_become_enums() -> None:
    def command(mode: Literal["fast", "slow"], colour: Colour) -> Colour: ...

    assert prop(command, "mode")["enum"] == ["fast", "slow"]
    schema = arguments(command)
    ref = schema["properties"]["colour"]["$ref"]
    assert ref == "#/$defs/Colour"
    assert schema["$defs"]["Colour"]["enum"] == ["red", "blue"]


def test_dataclass_typed_dict_and_model_become_object_definitions() -> None:
    def command(point: Point, span: Span, person: Person) -> Person: ...

    defs = arguments(command)["$defs"]
    assert defs["Point"]["required"] == ["x"]
    assert defs["Point"]["properties"]["y"]["default"] == 0
    assert defs["Span"]["required"] == ["start", "end"]
    assert defs["Person"]["properties"]["age"]["minimum"] == 0
    # The user's own types keep their own rules: no extra-key ban leaks into them.
    assert "additionalProperties" not in defs["Point"]
    assert result(command)["title"] == "Person"


def test_annotated_constraints_and_defaults_reach_the_schema() -> None:
    def command(
        count: Annotated[int, Field(ge=0, le=10)] = 3,
        name: Annotated[str, Field(min_length=1, description="who")] = "x",
        flag: bool = False,
    ) -> None: ...

    schema = arguments(command)
    assert "required" not in schema
    assert prop(command, "count") == {
        "default": 3,
        "maximum": 10,
        "minimum": 0,
        "title": "Count",
        "type": "integer",
    }
    assert prop(command, "name")["minLength"] == 1
    assert prop(command, "name")["description"] == "who"
    assert prop(command, "flag")["default"] is False


def test_missing_hints_accept_anything() -> None:
    def command(anything, other: Any = None):  # type: ignore[no-untyped-def]
        ...

    assert prop(command, "anything") == {"title": "Anything"}
    assert result(command) == {}


def test_parameters_named_like_pydantic_attributes_are_fine() -> None:
    def command(copy: int, json: str, model_config: bool = True) -> None: ...

    signature = signature_of(command)
    assert signature.names == ("copy", "json", "model_config")
    assert signature.validate({"copy": "2", "json": "j"}) == {
        "copy": 2,
        "json": "j",
        "model_config": True,
    }


def test_positional_only_and_variadic_parameters_are_refused() -> None:
    def positional(a: int, /) -> None: ...

    def variadic(*args: int) -> None: ...

    def keywords(**kwargs: int) -> None: ...

    for function in (positional, variadic, keywords):
        with pytest.raises(TypeError, match="passable by keyword"):
            signature_of(function)


def test_typing_typed_dict_on_old_python_is_a_clear_type_error() -> None:
    def command(value: OldStyle) -> None: ...

    if sys.version_info >= (3, 12):
        assert signature_of(command).validate({"value": {"a": 1}}) == {"value": {"a": 1}}
    else:
        with pytest.raises(TypeError, match=r"typing_extensions\.TypedDict"):
            signature_of(command)


# -- validation and coercion --------------------------------------------------------------------


def full() -> Signature:
    def command(
        count: Annotated[int, Field(ge=0)],
        points: list[Point],
        colour: Colour = Colour.RED,
        ratio: float = 0.5,
        enabled: bool = False,
    ) -> dict[str, Any]: ...

    return signature_of(command)


def test_lax_coercion_turns_strings_into_the_declared_types() -> None:
    values = full().validate(
        {"count": "3", "points": [{"x": "1"}], "colour": "blue", "ratio": "2", "enabled": "true"}
    )
    assert values == {
        "count": 3,
        "points": [Point(1, 0)],
        "colour": Colour.BLUE,
        "ratio": 2.0,
        "enabled": True,
    }


def test_defaults_fill_what_is_not_given() -> None:
    values = full().validate({"count": 0, "points": []})
    assert values["colour"] is Colour.RED
    assert values["ratio"] == 0.5
    assert values["enabled"] is False


def test_every_error_is_reported_with_its_location() -> None:
    with pytest.raises(ArgumentsInvalid) as caught:
        full().validate({"count": -1, "points": [{"x": 1}, {"x": "q"}], "colour": "green", "z": 1})
    details = caught.value.details
    by_loc = {tuple(detail["loc"]): detail for detail in details}
    assert set(by_loc) == {("count",), ("points", 1, "x"), ("colour",), ("z",)}
    assert by_loc[("count",)]["type"] == "greater_than_equal"
    assert by_loc[("points", 1, "x")]["type"] == "int_parsing"
    assert by_loc[("colour",)]["type"] == "enum"
    assert by_loc[("z",)]["type"] == "extra_forbidden"
    assert all(set(detail) == {"loc", "msg", "type"} for detail in details)
    assert "points.1.x:" in str(caught.value)


def test_a_missing_argument_is_located() -> None:
    with pytest.raises(ArgumentsInvalid) as caught:
        full().validate({"points": []})
    assert caught.value.details == [{"loc": ["count"], "msg": "Field required", "type": "missing"}]


def test_arguments_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(ArgumentsInvalid) as caught:
        full().validate([1, 2])
    assert caught.value.details[0]["loc"] == []


def test_results_are_dumped_to_json_data_by_their_type() -> None:
    def command() -> list[Point]: ...

    assert signature_of(command).dump([Point(1, 2)]) == [{"x": 1, "y": 2}]

    def other() -> dict[str, Colour]: ...

    assert signature_of(other).dump({"c": Colour.BLUE}) == {"c": "blue"}


def test_an_undeclared_result_is_still_json_and_never_nan() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    def command():  # type: ignore[no-untyped-def]
        ...

    dumped = signature_of(command).dump({"o": Opaque(), "nan": float("nan"), "set": {1}})
    assert dumped == {"o": "<opaque>", "nan": None, "set": [1]}


# -- back from text: the command line's side ----------------------------------------------------


def test_cli_options_follow_the_schema_with_refs_resolved() -> None:
    def command(
        count: int,
        colour: Colour = Colour.RED,
        tags: list[str] | None = None,
        verbose: bool = False,
    ) -> None: ...

    options = {option.name: option for option in cli_options(arguments(command))}
    assert list(options) == ["count", "colour", "tags", "verbose"]
    assert options["count"].required and options["count"].metavar == "INT"
    assert options["colour"].choices == ["red", "blue"]
    assert options["colour"].has_default and options["colour"].default == "red"
    assert options["verbose"].is_flag
    assert options["count"].flag == "--count"


def test_text_is_coerced_per_schema() -> None:
    assert from_text("3", {"type": "integer"}) == 3
    assert from_text("2.5", {"type": "number"}) == 2.5
    assert from_text("2", {"type": "number"}) == 2
    assert from_text("yes", {"type": "boolean"}) is True
    assert from_text("off", {"type": "boolean"}) is False
    assert from_text("3", {"type": "string"}) == "3"
    assert from_text("[1, 2]", {"type": "array"}) == [1, 2]
    assert from_text('{"a": 1}', {"type": "object"}) == {"a": 1}
    assert from_text("null", {"anyOf": [{"type": "integer"}, {"type": "null"}]}) is None
    assert from_text("7", {"anyOf": [{"type": "integer"}, {"type": "null"}]}) == 7
    assert from_text("7", {"anyOf": [{"type": "string"}, {"type": "null"}]}) == "7"
    assert from_text("1", {"enum": [1, 2]}) == 1
    assert from_text("a", {"enum": ["a", "b"]}) == "a"
    assert from_text('{"x": 1}', {}) == {"x": 1}
    assert from_text("plain words", {}) == "plain words"


def test_text_that_does_not_fit_is_passed_on_for_the_server_to_judge() -> None:
    assert from_text("abc", {"type": "integer"}) == "abc"
    assert from_text("maybe", {"type": "boolean"}) == "maybe"
    assert from_text("[1", {"type": "array"}) == "[1"


def test_list_options_take_several_values_or_one_json_array() -> None:
    option = CLIOption("xs", {"type": "array", "items": {"type": "integer"}}, required=True)
    assert option.is_list and option.metavar == "INT"
    assert option.parse_list(["1", "2"]) == [1, 2]
    assert option.parse_list(["[3, 4]"]) == [3, 4]
