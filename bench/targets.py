"""Targets T1-T8: each judged MET or MISSED from the scenario tables, with both figures.

A target whose scenario did not run (``--only``) or failed is "not run"; one
whose baseline did not show the effect it is compared with is
"INCONCLUSIVE"; one missed only where a floor measured in the same run (the
``floor`` scenario's one event per loop iteration with nothing else) makes it
impossible is "FLOOR",
with the floor and the figure it would need. Where the quick profile stops
at N=100, a target stated for N=1000 is judged at the largest N measured,
and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bench.results import Table


@dataclass(frozen=True, slots=True)
class Verdict:
    id: str
    goal: str
    met: bool | None
    measured: str = ""
    baseline: str = ""
    inconclusive: bool = False
    #: Missed only where a floor measured in the same run makes the target impossible.
    at_floor: bool = False

    @property
    def label(self) -> str:
        if self.inconclusive:
            return "INCONCLUSIVE"
        if self.at_floor and self.met is False:
            return "FLOOR"
        return {True: "MET", False: "MISSED", None: "not run"}[self.met]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "goal": self.goal,
            "verdict": self.label,
            "measured": self.measured,
            "baseline": self.baseline,
        }


Tables = dict[str, Table]

GOALS: Mapping[str, str] = MappingProxyType(
    {
        "T1": "reflect() p99 at N=1000 <= 1/1000 of baseline emit p99, <= 50 µs; N=1->1000 <= 30x",
        "T2": "deliveries/s, N>=10: >= 2.5x Tornado (1/iter), >= 20x (bursts), >= 1.5x websockets",
        "T3": "latency p99, N=100 at 1,000 events/s: <= 3 ms",
        "T4": "stalled observers: RSS growth <= 1/20 of baseline's; healthy p99 <= 1.2x unstalled",
        "T5": "attach, 100-event replay, while streaming: p99 <= 2 ms (N<=100), <= 10 ms (N=1000)",
        "T6": "RSS per idle observer <= 1.1x baseline's",
        "T7": "event-loop stall p99 during fan-out, N=1000: <= 5 ms",
        "T8": "/perturb echo round trip p50 <= 1.5x bare Tornado echo; pipelined >= 10,000/s",
    }
)


def _usable(tables: Tables, name: str) -> Table | None:
    table = tables.get(name)
    return table if table is not None and table.error is None and table.rows else None


def _at(n: int) -> str:
    return f"N={n}" + ("" if n >= 1000 else " (largest N run)")


def _t1(tables: Tables) -> Verdict:
    sat = _usable(tables, "saturation")
    if sat is None:
        return Verdict("T1", GOALS["T1"], None)
    top = max(row["n"] for row in sat.rows)
    ours, one = (sat.one(server="terrarium", mode="1/iter", n=k) for k in (top, 1))
    theirs = sat.one(server="tornado", mode="1/iter", n=top)
    if not (ours and one and theirs):
        return Verdict("T1", GOALS["T1"], None)
    p99, base = ours["emit_p99"], theirs["emit_p99"]
    growth = p99 / one["emit_p99"] if one["emit_p99"] else float("inf")
    met = p99 <= base / 1000 and p99 <= 50 and growth <= 30
    return Verdict(
        "T1",
        GOALS["T1"],
        met,
        f"reflect p99 {p99:.1f} µs at {_at(top)}, 1/{base / p99:,.0f} of baseline; "
        f"N=1->{top}: {growth:.1f}x (p99 {one['emit_p99']:.1f} µs at N=1)",
        f"Tornado emit p99 {base:,.0f} µs",
    )


def _send_floor(tables: Tables) -> dict[int, float]:
    """Deliveries/s at one event per loop iteration and nothing else, per N (``floor``)."""
    floor = _usable(tables, "floor")
    return {row["n"]: row["sends_s"] for row in floor.where(mode="1/iter")} if floor else {}


def _t2(tables: Tables) -> Verdict:
    sat = _usable(tables, "saturation")
    if sat is None:
        return Verdict("T2", GOALS["T2"], None)
    floor = _send_floor(tables)
    rate = {(row["server"], row["mode"], row["n"]): row["deliveries_s"] for row in sat.rows}
    counts = sorted({row["n"] for row in sat.rows if row["n"] >= 10})
    if not counts:
        return Verdict("T2", GOALS["T2"], None)
    one = min((rate["terrarium", "1/iter", n] / rate["tornado", "1/iter", n], n) for n in counts)
    burst = min(
        (rate["terrarium", "burst16", n] / rate["tornado", "burst16", n], n) for n in counts
    )
    ws_all = [
        (rate["terrarium", mode, n] / rate["websockets", mode, n], n, mode)
        for n in counts
        for mode in ("1/iter", "burst16")
    ]
    ws = min(ws_all)
    ws_missed = [entry for entry in ws_all if entry[0] < 1.5]
    # One event per flush, with no backlog to join, is one send() per delivery: 1.5x
    # websockets is out of reach where it asks for more than a bare send() loop makes.
    beyond_floor = [
        n
        for _, n, mode in ws_missed
        if mode == "1/iter" and n in floor and 1.5 * rate["websockets", mode, n] > floor[n]
    ]
    others_met = one[0] >= 2.5 and burst[0] >= 20
    measured = (
        f"lowest over N>=10: {one[0]:.1f}x Tornado 1/iter (N={one[1]}), "
        f"{burst[0]:.1f}x bursts (N={burst[1]}), {ws[0]:.2f}x websockets (N={ws[1]}, {ws[2]})"
    )
    if floor:
        measured += "; 1/iter floor " + ", ".join(
            f"{floor[n]:,.0f}/s at N={n}" for n in sorted(floor)
        )
    for n in beyond_floor:
        ours = rate["terrarium", "1/iter", n]
        measured += (
            f"; at N={n} 1.5x websockets needs {1.5 * rate['websockets', '1/iter', n]:,.0f}/s, "
            f"above that floor (Terrarium {ours:,.0f}/s, {ours / floor[n]:.0%} of it)"
        )
    top = counts[-1]
    return Verdict(
        "T2",
        GOALS["T2"],
        others_met and not ws_missed,
        measured,
        f"at N={top}: Tornado {rate['tornado', '1/iter', top]:,.0f} / "
        f"{rate['tornado', 'burst16', top]:,.0f}, websockets "
        f"{rate['websockets', '1/iter', top]:,.0f} / {rate['websockets', 'burst16', top]:,.0f} "
        "deliveries/s (1/iter / bursts)",
        at_floor=others_met and bool(ws_missed) and len(beyond_floor) == len(ws_missed),
    )


def _t3(tables: Tables) -> Verdict:
    lat = _usable(tables, "latency")
    ours = lat.one(server="terrarium") if lat else None
    if lat is None or ours is None:
        return Verdict("T3", GOALS["T3"], None)
    others = [row for row in lat.rows if row["server"] != "terrarium"]
    return Verdict(
        "T3",
        GOALS["T3"],
        ours["p99"] <= 3.0,
        f"p99 {ours['p99']:.2f} ms (p50 {ours['p50']:.2f} ms)",
        ", ".join(f"{row['server']} p99 {row['p99']:.2f} ms" for row in others),
    )


def _t4(tables: Tables) -> Verdict:
    st = _usable(tables, "stalled")
    if st is None:
        return Verdict("T4", GOALS["T4"], None)
    counts = sorted({row["stalled"] for row in st.rows if row["stalled"] > 0})
    growth, vs_none, base = [], [], []
    met, inconclusive = bool(counts), False
    for count in counts:
        ours = st.one(server="terrarium", stalled=count)
        theirs = st.one(server="tornado", stalled=count)
        if not (ours and theirs):
            return Verdict("T4", GOALS["T4"], None)
        inconclusive = inconclusive or theirs["growth_mib"] < 1.0
        flat = ours["growth_mib"] <= max(theirs["growth_mib"], 0.0) / 20
        calm = ours.get("p99_vs_none", float("inf")) <= 1.2
        met = met and flat and calm
        growth.append(f"{ours['growth_mib']:+.1f}")
        vs_none.append(f"{ours.get('p99_vs_none', float('nan')):.2f}x")
        base.append(f"{theirs['growth_mib']:+.1f}")
    label = "/".join(str(count) for count in counts)
    return Verdict(
        "T4",
        GOALS["T4"],
        met,
        f"RSS growth {' / '.join(growth)} MiB with {label} stalled; "
        f"healthy p99 {' / '.join(vs_none)} the unstalled run",
        f"Tornado RSS growth {' / '.join(base)} MiB",
        inconclusive=inconclusive,
    )


def _t5(tables: Tables) -> Verdict:
    at = _usable(tables, "attach")
    if at is None:
        return Verdict("T5", GOALS["T5"], None)
    ours = sorted(at.where(server="terrarium"), key=lambda row: row["n"])
    theirs = {row["n"]: row["p99"] for row in at.where(server="tornado")}
    if not ours:
        return Verdict("T5", GOALS["T5"], None)
    met = all(row["p99"] <= (2.0 if row["n"] <= 100 else 10.0) for row in ours)
    ns = "/".join(str(row["n"]) for row in ours)
    our_p99 = " / ".join(format(row["p99"], ".2f") for row in ours)
    their_p99 = " / ".join(format(theirs.get(row["n"], float("nan")), ".2f") for row in ours)
    return Verdict(
        "T5", GOALS["T5"], met, f"p99 {our_p99} ms at N={ns}", f"Tornado p99 {their_p99} ms"
    )


def _t6(tables: Tables) -> Verdict:
    idle = _usable(tables, "idle_rss")
    ours = idle.one(server="terrarium") if idle else None
    theirs = idle.one(server="tornado") if idle else None
    if not (ours and theirs):
        return Verdict("T6", GOALS["T6"], None)
    ratio = ours["kib_per_observer"] / theirs["kib_per_observer"]
    return Verdict(
        "T6",
        GOALS["T6"],
        ratio <= 1.1,
        f"{ours['kib_per_observer']:.1f} KiB per observer ({ratio:.2f}x) at N={ours['n']}",
        f"Tornado {theirs['kib_per_observer']:.1f} KiB per observer",
    )


def _t7(tables: Tables) -> Verdict:
    sat = _usable(tables, "saturation")
    if sat is None:
        return Verdict("T7", GOALS["T7"], None)
    top = max(row["n"] for row in sat.rows)
    ours = max(row["stall_p99"] for row in sat.where(server="terrarium", n=top))
    theirs = max(row["stall_p99"] for row in sat.where(server="tornado", n=top))
    return Verdict(
        "T7",
        GOALS["T7"],
        ours <= 5.0,
        f"stall p99 {ours:.2f} ms at {_at(top)} (worse of 1/iter and bursts)",
        f"Tornado stall p99 {theirs:,.1f} ms",
    )


def _t8(tables: Tables) -> Verdict:
    pt = _usable(tables, "perturb")
    ours = pt.one(server="terrarium") if pt else None
    theirs = pt.one(server="tornado") if pt else None
    if not (ours and theirs):
        return Verdict("T8", GOALS["T8"], None)
    ratio = ours["p50"] / theirs["p50"]
    throughput = ours["pipelined_s"] >= 10_000 and not ours["errors"]
    queued = pt.one(server="tornado+queue") if pt else None
    queued_ratio = queued["p50"] / theirs["p50"] if queued else None
    baseline = (
        f"Tornado echo rtt p50 {theirs['p50']:.3f} ms; pipelined {theirs['pipelined_s']:,.0f}/s"
    )
    if queued_ratio is not None:
        baseline += f"; the echo through a queue and a task: {queued_ratio:.2f}x"
    return Verdict(
        "T8",
        GOALS["T8"],
        ratio <= 1.5 and throughput,
        f"rtt p50 {ours['p50']:.3f} ms ({ratio:.2f}x); pipelined {ours['pipelined_s']:,.0f}/s"
        + (f"; {ours['errors']} errors" if ours["errors"] else ""),
        baseline,
        # The Beam's contract queues every request for the agent's own task: where that
        # alone costs more than 1.5x, no server that keeps the contract can meet it.
        at_floor=throughput and queued_ratio is not None and queued_ratio > 1.5,
    )


JUDGES: tuple[Callable[[Tables], Verdict], ...] = (_t1, _t2, _t3, _t4, _t5, _t6, _t7, _t8)


def evaluate(tables: Tables) -> list[Verdict]:
    return [judge(tables) for judge in JUDGES]


def render(verdicts: list[Verdict]) -> str:
    lines = ["== Targets"]
    for verdict in verdicts:
        lines.append(f"{verdict.id}  {verdict.label:<12} {verdict.goal}")
        if verdict.met is not None:
            lines.append(f"{'':18}measured: {verdict.measured}")
            lines.append(f"{'':18}baseline: {verdict.baseline}")
    met = sum(1 for verdict in verdicts if verdict.met and not verdict.inconclusive)
    floors = sum(1 for verdict in verdicts if verdict.label == "FLOOR")
    judged = sum(1 for verdict in verdicts if verdict.met is not None)
    lines.append(
        f"{met} of {judged} targets met"
        + (f", {floors} stopped by a floor measured in this run" if floors else "")
        + ("" if judged == 8 else " (of those run)")
    )
    return "\n".join(lines)
