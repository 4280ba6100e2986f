"""Events as the mirror carries them, and the one JSON encoder and decoder of the wire.

Every frame on the wire is produced here, so the "no NaN, no Infinity, always
valid JSON" promise of the protocol is kept in exactly one place; and every
frame or body a client sends is parsed here, so its limits are too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final

from terrarium.errors import BadRequest

PROTOCOL_VERSION: Final = 1
#: Deepest nesting of arrays and objects taken from a client (PROTOCOL.md section 1).
#: Well below the interpreter's recursion limit, so neither parsing a value nor
#: encoding it again (an echo, a reflected event) can raise ``RecursionError``.
MAX_JSON_DEPTH: Final = 100

_encoder = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=repr)


def _c_encoder() -> Callable[[Any], str]:
    """The C accelerator's encoder, built once, or ``_encoder.encode`` where there is none.

    ``JSONEncoder.encode`` builds a new C encoder (and a circular-reference
    table) on every call, which is most of its cost for a small event; every
    reflected event goes through here. Without the table a circular value
    raises ``RecursionError`` instead of ``ValueError``; either way it cannot
    be sent.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _encoder.encode
    try:
        encode = make(
            None, repr, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
        )
    except TypeError:  # a CPython whose accelerator takes other arguments
        return _encoder.encode

    def encode_once(value: Any) -> str:
        return "".join(encode(value, 0))

    return encode_once


_encode = _c_encoder()


def _sanitise(value: Any) -> Any:
    """Replace non-finite floats by null and make containers plain JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _sanitise(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_sanitise(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Encode compactly; NaN and Infinity become null, unknown objects their repr.

    The fast path is a single ``encode``; only values that hold a non-finite
    float pay for the walk.
    """
    try:
        return _encode(value)
    except ValueError:
        return _encoder.encode(_sanitise(value))


def parse_json(raw: str | bytes, what: str = "frame") -> Any:
    """Parse what a client sent, or raise ``BadRequest`` saying why it cannot be taken.

    Nesting deeper than ``MAX_JSON_DEPTH`` is refused: a document that fails
    the parser's own recursion guard, and one that passes it but would fail
    later, deeper in the stack. The walk that measures depth only runs when
    the text holds more brackets than the limit, so ordinary frames pay two
    ``count`` calls for it.
    """
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadRequest(_too_deep(what)) from None
    except ValueError as error:  # UnicodeDecodeError included
        raise BadRequest(f"{what} is not JSON: {error}") from None
    if _brackets(raw) > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise BadRequest(_too_deep(what))
    return value


def _too_deep(what: str) -> str:
    return f"{what} nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"


def _brackets(raw: str | bytes) -> int:
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def finite(value: float, default: float = 0.0) -> float:
    """A float that is safe to put on the wire."""
    return value if math.isfinite(value) else default
