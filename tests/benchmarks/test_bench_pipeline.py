"""The bench's pipeline scenario at a tiny size: every row is there with its figures.

Timings are not checked (a unit test's machine says nothing about them), only
that each path ran and that the rows carry what the table and the JSON show.
"""

from __future__ import annotations

from typing import Any

from bench.results import Table
from bench.scenarios import by_name, pipeline

TINY = pipeline.Sizes(events=300, rounds=2, items=40, blocks=2, warm_up=5)


def one(table: Table, **match: Any) -> dict[str, Any]:
    row = table.one(**match)
    assert row is not None, match
    return row


def test_the_scenario_is_registered() -> None:
    assert by_name("pipeline") is pipeline


def test_a_tiny_run_has_every_row_and_figure() -> None:
    table = pipeline.measure(TINY)

    assert table.name == "pipeline"
    assert table.error is None
    assert table.notes
    per_event = table.where(measure="per event")
    assert [(row["path"], row["source"]) for row in per_event] == list(pipeline.RUNS)
    for row in per_event:
        assert row["n"] == TINY.events
        assert row["rounds"] == TINY.rounds
        assert 0 < row["us_min"] <= row["us_event"] <= row["us_max"]
        if row["path"] == pipeline.LOOP:
            assert "vs_queues" not in row
        else:
            assert {"us_stage", "vs_loop", "vs_queues"} <= row.keys()
            assert row["vs_loop"] > 0
    for source in (pipeline.BARE, pipeline.FROM_ITERABLE):
        assert one(table, path=pipeline.QUEUES, source=source)["vs_queues"] == 1.0

    latency = table.where(measure="latency")
    assert [row["path"] for row in latency] == [pipeline.QUEUES, pipeline.PIPELINE]
    for row in latency:
        assert row["n"] == TINY.items
        assert 0 < row["p50"] <= row["p99"] <= row["max"]
    assert one(table, measure="latency", path=pipeline.PIPELINE)["vs_queues"] > 0

    rendered = table.render()
    assert "µs/event" in rendered and "p99 µs" in rendered
    assert table.as_json()["rows"] == table.rows
