"""What a name on the wire may be: agent ids, genus names and command names.

Each is one URL path segment (PROTOCOL.md): 1 to 128 letters, digits, ``-``,
``_`` or ``.``, and not only dots (a browser resolves ``.`` and ``..`` away
before the request leaves it). The whole string must match: ``re.match`` with
``$`` would let ``"echo\\n"`` pass as a look-alike of ``echo``.
"""

from __future__ import annotations

import re
from typing import Final

#: The rule as a JSON Schema / ECMAScript pattern (the OpenAPI document uses it as is).
NAME_PATTERN: Final = r"^(?!\.+$)[A-Za-z0-9._-]{1,128}$"
#: What an error message says a name must be.
NAME_RULE: Final = "1-128 letters, digits, '-', '_' or '.', and not only dots"

_NAME: Final = re.compile(NAME_PATTERN)


def is_name(value: object) -> bool:
    """True for a string that is a whole, valid name (``fullmatch``: no trailing newline)."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None
