"""What the commands print: results for people, tables, event lines, and raw JSON for pipes.

Results go to stdout; remarks about the stream or the wait (``# ...``) go to
stderr, so a pipe receives only the data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from terrarium.client.cli.times import event_clock


def compact(value: Any) -> str:
    """One line of JSON, non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(value: Any) -> str:
    """A result for a person: scalars as they are, an object as ``key: value`` lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and value:
        width = max(len(str(key)) for key in value)
        return "\n".join(
            f"{key!s:<{width}}  {item if isinstance(item, str) else compact(item)}"
            for key, item in value.items()
        )
    if isinstance(value, list) and value:
        return "\n".join(item if isinstance(item, str) else compact(item) for item in value)
    return compact(value)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as aligned columns, the first row the header."""
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def out(text: str, stream: TextIO | None = None) -> None:
    """Print a line and flush it, so a pipe or a watching test sees it at once."""
    print(text, file=stream or sys.stdout, flush=True)


def remark(text: str) -> None:
    """A ``# ...`` line on stderr: about the stream or the wait, not data."""
    out(f"# {text}", sys.stderr)


def event_line(frame: Mapping[str, Any]) -> str:
    """``12  14:03:21.120  result  {"output":...}``: one event, one line."""
    return f"{frame.get('seq')}  {event_clock(frame.get('ts'))}  {frame.get('type')}  " + compact(
        frame.get("data", {})
    )
