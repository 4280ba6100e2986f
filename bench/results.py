"""What a scenario hands back: a table of rows, printed as text and saved as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    #: A format spec for numbers (``",.0f"``); strings are printed as they are.
    spec: str = ""

    def cell(self, row: dict[str, Any]) -> str:
        value = row.get(self.key)
        if value is None:
            return "-"
        if isinstance(value, int | float) and not isinstance(value, bool) and self.spec:
            return format(value, self.spec)
        return str(value)


@dataclass
class Table:
    """One scenario's result."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def where(self, **match: Any) -> list[dict[str, Any]]:
        return [row for row in self.rows if all(row.get(k) == v for k, v in match.items())]

    def one(self, **match: Any) -> dict[str, Any] | None:
        found = self.where(**match)
        return found[0] if found else None

    def render(self) -> str:
        headers = [column.header for column in self.columns]
        body = [[column.cell(row) for column in self.columns] for row in self.rows]
        widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            )

        out = [f"== {self.title} ({self.seconds:.0f} s)", line(headers)]
        out.append("  ".join("-" * width for width in widths))
        out.extend(line(cells) for cells in body)
        if self.error:
            out.append(f"!! scenario failed: {self.error}")
        out.extend(f"   {note}" for note in self.notes)
        return "\n".join(out)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "seconds": round(self.seconds, 1),
            "error": self.error,
            "columns": {column.key: column.header for column in self.columns},
            "rows": self.rows,
            "notes": self.notes,
        }
