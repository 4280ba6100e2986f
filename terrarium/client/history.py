"""An agent's kept history as the events route answers it, with a pandas view for analysis.

``client.events(agent_id)`` returns an ``EventHistory``: the events, oldest
first, as the same dicts an observer receives, together with what the route
says about them (``gap``, ``epoch``, ``reset``), so nothing missing goes
unnoticed. pandas is imported only by ``to_pandas()``: the client does not
need it otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

#: The columns of ``to_pandas()``, in order, when the data is kept as one column.
COLUMNS = ("seq", "ts", "type", "data")


@dataclass(frozen=True)
class EventHistory(Sequence[dict[str, Any]]):
    """Events of one agent with a seq after ``since``, oldest first, and what is missing.

    A sequence of event dicts (``{"seq", "ts", "agent_id", "type", "data"}``,
    PROTOCOL.md section 1): index, slice, iterate and ``len()`` it as a list.
    """

    agent_id: str
    #: The events, oldest first.
    events: list[dict[str, Any]] = field(default_factory=list)
    #: ``(from, to)``: the inclusive range of seqs asked for and no longer kept; None if none.
    gap: tuple[int, int] | None = None
    #: The numbering the seqs belong to: pass it back with ``since`` to resume.
    epoch: str | None = None
    #: True when the ``epoch`` asked for is gone: the events start from the kept history's start.
    reset: bool = False
    #: The ``since`` asked for (None: every kept event).
    since: int | None = None

    @classmethod
    def from_reply(cls, agent_id: str, since: int | None, body: Mapping[str, Any]) -> EventHistory:
        """From the JSON of ``GET terrarium/api/agents/{id}/events``."""
        gap = body.get("gap")
        return cls(
            agent_id=agent_id,
            events=[dict(event) for event in body.get("events", [])],
            gap=(int(gap["from"]), int(gap["to"])) if isinstance(gap, Mapping) else None,
            epoch=body.get("epoch"),
            reset=bool(body.get("reset", False)),
            since=since,
        )

    @property
    def next_since(self) -> int | None:
        """The seq to carry on from (the newest event's), or ``since`` when there were none."""
        return int(self.events[-1]["seq"]) if self.events else self.since

    @property
    def types(self) -> list[str]:
        """Each event's type, in order."""
        return [str(event.get("type")) for event in self.events]

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self.events[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.events)

    def __repr__(self) -> str:
        span = f"seq {self.events[0]['seq']}..{self.events[-1]['seq']}" if self.events else "empty"
        extra = "".join(
            [
                f", gap {self.gap[0]}..{self.gap[1]}" if self.gap else "",
                ", reset" if self.reset else "",
            ]
        )
        return (
            f"<EventHistory {self.agent_id}: {len(self)} events, {span}, epoch {self.epoch}{extra}>"
        )

    def to_pandas(self, *, flatten: bool = False) -> Any:
        """A ``pandas.DataFrame``, one row per event: ``seq``, ``ts``, ``type``, ``data``.

        ``ts`` is a timezone-aware ``datetime64`` (UTC). ``data`` holds each
        event's data dict; with ``flatten=True`` it is spread instead into
        ``data.KEY`` columns (nested keys joined with dots, as
        ``pandas.json_normalize`` does). The gap, epoch and reset go to
        ``frame.attrs``.
        """
        try:
            import pandas as pd  # type: ignore[import-untyped, unused-ignore]
        except ImportError as error:
            raise ImportError(
                "EventHistory.to_pandas() needs pandas, which is not installed: "
                "pip install pandas (the list of event dicts works without it)"
            ) from error
        frame = pd.DataFrame(
            {
                "seq": pd.Series([event.get("seq") for event in self.events], dtype="int64"),
                "ts": pd.to_datetime(
                    pd.Series([event.get("ts") for event in self.events], dtype="float64"),
                    unit="s",
                    utc=True,
                ),
                "type": pd.Series([event.get("type") for event in self.events], dtype=object),
                "data": pd.Series([event.get("data", {}) for event in self.events], dtype=object),
            },
            columns=list(COLUMNS),
        )
        if flatten:
            spread = pd.json_normalize([event.get("data", {}) for event in self.events]).add_prefix(
                "data."
            )
            spread.index = frame.index
            frame = pd.concat([frame.drop(columns="data"), spread], axis=1)
        frame.attrs.update(agent_id=self.agent_id, gap=self.gap, epoch=self.epoch, reset=self.reset)
        return frame

    #: The same as ``to_pandas()``.
    as_dataframe = to_pandas
