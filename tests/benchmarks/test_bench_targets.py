"""The bench's T2 verdict: MET, MISSED, or FLOOR when only a measured floor stands in the way."""

from __future__ import annotations

from bench.results import Table
from bench.targets import evaluate

#: Columns the other targets read from the same table; their values do not matter here.
OTHER_COLUMNS = {"emit_p99": 1.0, "stall_p99": 1.0}


def saturation(ours_one: float, websockets_one: float) -> Table:
    """A saturation table at N=10 and 100 with every clause met but the websockets one at 1/iter."""
    table = Table("saturation", "", [])
    for n in (10, 100):
        for server, one, burst in (
            ("terrarium", ours_one, 3_000_000.0),
            ("tornado", 50_000.0, 50_000.0),
            ("websockets", websockets_one, 120_000.0),
        ):
            for mode, rate in (("1/iter", one), ("burst16", burst)):
                table.rows.append(
                    {"server": server, "n": n, "mode": mode, "deliveries_s": rate, **OTHER_COLUMNS}
                )
    return table


def floor(sends_s: float) -> Table:
    table = Table("floor", "", [])
    table.rows = [{"mode": "1/iter", "n": n, "sends_s": sends_s} for n in (10, 100)]
    table.rows += [{"mode": "send", "n": n, "sends_s": 10 * sends_s} for n in (10, 100)]
    return table


def t2(tables: dict[str, Table]) -> tuple[str, str]:
    (verdict,) = [verdict for verdict in evaluate(tables) if verdict.id == "T2"]
    return verdict.label, verdict.measured


def test_every_clause_met_is_met() -> None:
    assert t2({"saturation": saturation(300_000, 150_000)})[0] == "MET"


def test_a_websockets_miss_within_the_floor_is_missed() -> None:
    tables = {"saturation": saturation(200_000, 150_000), "floor": floor(240_000)}
    assert t2(tables)[0] == "MISSED"


def test_a_websockets_miss_beyond_the_floor_is_floor_with_the_figures() -> None:
    tables = {"saturation": saturation(200_000, 150_000), "floor": floor(220_000)}
    label, measured = t2(tables)
    assert label == "FLOOR"
    assert "needs 225,000/s" in measured
    assert "91% of it" in measured


def test_without_the_floor_scenario_a_miss_stays_missed() -> None:
    assert t2({"saturation": saturation(200_000, 150_000)})[0] == "MISSED"


def test_another_clause_missed_is_never_excused_by_the_floor() -> None:
    table = saturation(200_000, 150_000)
    for row in table.where(server="terrarium", mode="burst16"):
        row["deliveries_s"] = 500_000.0
    assert t2({"saturation": table, "floor": floor(220_000)})[0] == "MISSED"


def perturb(ours: float, queued: float) -> Table:
    table = Table("perturb", "", [])
    for server, p50 in (("terrarium", ours), ("tornado", 0.2), ("tornado+queue", queued)):
        table.rows.append({"server": server, "p50": p50, "pipelined_s": 20_000.0, "errors": 0})
    return table


def t8(table: Table) -> str:
    (verdict,) = [verdict for verdict in evaluate({"perturb": table}) if verdict.id == "T8"]
    return verdict.label


def test_t8_is_met_within_one_and_a_half_times_the_echo() -> None:
    assert t8(perturb(0.29, 0.25)) == "MET"


def test_t8_over_the_ratio_is_missed_while_a_queue_alone_fits_in_it() -> None:
    assert t8(perturb(0.32, 0.25)) == "MISSED"


def test_t8_is_floor_when_the_queue_alone_costs_more_than_the_ratio() -> None:
    assert t8(perturb(0.36, 0.31)) == "FLOOR"
