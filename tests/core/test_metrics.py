"""Metabolism: flow, turbulence, pressure and temperature from an agent's counters."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from terrarium.flux import AgentCounters
from terrarium.metrics import (
    DEFAULT_MIN_SPAN,
    DEFAULT_WINDOW,
    DESCRIPTIONS,
    Metabolism,
    MetabolismMeter,
)

PROTOCOL_FIELDS = {
    "state",
    "pressure",
    "flow",
    "temperature",
    "turbulence",
    "queue_depth",
    "observers",
}


def counters(
    events: int = 0,
    errors: int = 0,
    queue_depth: int = 0,
    queue_capacity: int = 100,
    temperature: float = 0.0,
) -> AgentCounters:
    return AgentCounters(
        events=events,
        errors=errors,
        queue_depth=queue_depth,
        queue_capacity=queue_capacity,
        temperature=temperature,
    )


def assert_finite(vitals: Metabolism) -> None:
    for name in ("pressure", "flow", "temperature", "turbulence"):
        assert math.isfinite(getattr(vitals, name)), name
    json.dumps(vitals.as_dict(), allow_nan=False)


def test_first_reading_of_an_idle_agent_is_all_zero() -> None:
    vitals = MetabolismMeter().read(counters(), "dormant", 0, now=100.0)
    assert vitals == Metabolism(
        state="dormant",
        pressure=0.0,
        flow=0.0,
        temperature=0.0,
        turbulence=0.0,
        queue_depth=0,
        observers=0,
    )
    assert_finite(vitals)


def test_an_agent_that_stays_idle_has_zero_flow_and_turbulence_not_nan() -> None:
    meter = MetabolismMeter(window=10.0)
    for now in (0.0, 1.0, 5.0, 30.0):
        vitals = meter.read(counters(events=7, errors=2), "flowing", 1, now=now)
        assert vitals.flow == 0.0
        assert vitals.turbulence == 0.0
        assert_finite(vitals)


def test_flow_is_events_per_second_since_the_first_sample() -> None:
    meter = MetabolismMeter(window=10.0, min_span=1.0)
    meter.read(counters(events=0), "flowing", 0, now=0.0)
    assert meter.read(counters(events=10), "flowing", 0, now=2.0).flow == 5.0
    assert meter.read(counters(events=40), "flowing", 0, now=4.0).flow == 10.0


def test_a_young_meter_divides_by_the_minimum_span() -> None:
    meter = MetabolismMeter(window=10.0)
    assert meter.min_span == DEFAULT_MIN_SPAN == 5.0
    meter.read(counters(events=0), "flowing", 0, now=0.0)
    assert meter.read(counters(events=10), "flowing", 0, now=2.0).flow == 10 / 5.0
    assert meter.read(counters(events=40), "flowing", 0, now=4.0).flow == 40 / 5.0
    assert meter.read(counters(events=60), "flowing", 0, now=6.0).flow == pytest.approx(60 / 6.0)


def test_flow_only_counts_the_sliding_window() -> None:
    meter = MetabolismMeter(window=10.0)
    meter.read(counters(events=0), "flowing", 0, now=0.0)
    meter.read(counters(events=1000), "flowing", 0, now=5.0)
    meter.read(counters(events=1010), "flowing", 0, now=10.0)
    vitals = meter.read(counters(events=1020), "flowing", 0, now=15.0)
    assert vitals.flow == pytest.approx(20 / 10)


def test_a_burst_leaves_the_window_once_it_is_old_enough() -> None:
    meter = MetabolismMeter(window=2.0, min_span=1.0)
    meter.read(counters(events=0), "flowing", 0, now=0.0)
    assert meter.read(counters(events=500), "flowing", 0, now=1.0).flow == 500.0
    for now in (2.0, 3.0, 4.0):
        vitals = meter.read(counters(events=500), "flowing", 0, now=now)
    assert vitals.flow == 0.0


def test_turbulence_is_errors_over_events_in_the_window() -> None:
    meter = MetabolismMeter(window=10.0)
    meter.read(counters(events=0, errors=0), "flowing", 0, now=0.0)
    vitals = meter.read(counters(events=10, errors=2), "flowing", 0, now=1.0)
    assert vitals.turbulence == pytest.approx(0.2)


def test_old_errors_leave_the_turbulence_window() -> None:
    meter = MetabolismMeter(window=2.0)
    meter.read(counters(events=0, errors=0), "flowing", 0, now=0.0)
    assert meter.read(counters(events=4, errors=4), "flowing", 0, now=1.0).turbulence == 1.0
    meter.read(counters(events=4, errors=4), "flowing", 0, now=3.0)
    meter.read(counters(events=4, errors=4), "flowing", 0, now=4.0)
    vitals = meter.read(counters(events=14, errors=4), "flowing", 0, now=5.0)
    assert vitals.turbulence == 0.0
    assert vitals.flow > 0


def test_errors_without_events_is_full_turbulence() -> None:
    meter = MetabolismMeter()
    meter.read(counters(events=0, errors=0), "flowing", 0, now=0.0)
    assert meter.read(counters(events=0, errors=3), "flowing", 0, now=1.0).turbulence == 1.0


def test_turbulence_never_exceeds_one() -> None:
    meter = MetabolismMeter()
    meter.read(counters(events=0, errors=0), "flowing", 0, now=0.0)
    assert meter.read(counters(events=2, errors=9), "flowing", 0, now=1.0).turbulence == 1.0


@pytest.mark.parametrize(
    ("depth", "capacity", "pressure"),
    [(0, 16, 0.0), (4, 16, 25.0), (16, 16, 100.0), (1, 3, 33.33), (50, 16, 100.0)],
)
def test_pressure_is_the_queue_fill_in_percent(depth: int, capacity: int, pressure: float) -> None:
    vitals = MetabolismMeter().read(
        counters(queue_depth=depth, queue_capacity=capacity), "flowing", 0, now=0.0
    )
    assert vitals.pressure == pressure
    assert vitals.queue_depth == depth


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [(0.5, 0.5), (float("nan"), 0.0), (float("inf"), 0.0), (0.123456, 0.1235)],
)
def test_temperature_is_passed_through_finite(temperature: float, expected: float) -> None:
    vitals = MetabolismMeter().read(counters(temperature=temperature), "flowing", 0, now=0.0)
    assert vitals.temperature == expected
    assert_finite(vitals)


def test_samples_closer_than_the_resolution_are_merged() -> None:
    meter = MetabolismMeter(window=1.0)
    meter.read(counters(events=0), "flowing", 0, now=0.0)
    meter.read(counters(events=10), "flowing", 0, now=0.5)
    meter.read(counters(events=20), "flowing", 0, now=0.5 + meter.resolution / 2)
    vitals = meter.read(counters(events=30), "flowing", 0, now=1.55)
    assert vitals.flow == pytest.approx((30 - 10) / (1.55 - 0.5), abs=1e-3)


def test_state_and_observers_are_reported_as_given() -> None:
    vitals = MetabolismMeter().read(counters(), "draining", 3, now=0.0)
    assert vitals.state == "draining"
    assert vitals.observers == 3


def test_as_dict_has_exactly_the_protocol_fields() -> None:
    data: dict[str, Any] = MetabolismMeter().read(counters(), "flowing", 2, now=0.0).as_dict()
    assert set(data) == PROTOCOL_FIELDS


def test_reading_without_now_uses_the_monotonic_clock() -> None:
    meter = MetabolismMeter()
    first = meter.read(counters(events=0), "flowing", 0)
    second = meter.read(counters(events=3), "flowing", 0)
    assert first.flow == 0.0
    assert second.flow >= 0.0
    assert_finite(second)


@pytest.mark.parametrize("window", [0, -1.0, float("nan")])
def test_window_must_be_positive(window: float) -> None:
    with pytest.raises(ValueError):
        MetabolismMeter(window=window)


@pytest.mark.parametrize("min_span", [0, -1.0, float("nan")])
def test_min_span_must_be_positive(min_span: float) -> None:
    with pytest.raises(ValueError):
        MetabolismMeter(min_span=min_span)


def test_min_span_is_at_most_the_window() -> None:
    assert MetabolismMeter(window=2.0).min_span == 2.0
    assert MetabolismMeter(window=2.0, min_span=0.5).min_span == 0.5


def test_every_figure_stays_finite_across_a_busy_life() -> None:
    meter = MetabolismMeter(window=1.0)
    for step in range(50):
        vitals = meter.read(
            counters(
                events=step * 3,
                errors=step,
                queue_depth=step % 5,
                queue_capacity=4,
                temperature=step / 40,
            ),
            "flowing",
            step % 3,
            now=step * 0.1,
        )
        assert_finite(vitals)
        assert 0.0 <= vitals.pressure <= 100.0
        assert 0.0 <= vitals.turbulence <= 1.0
        assert vitals.flow >= 0.0


# -- the window: a new agent is not a burst, an old sample does not stretch it ----------------


def test_a_new_agent_ticking_once_a_second_never_reads_above_its_rate() -> None:
    """The gateway reads an agent whenever STATUS is asked for and on every metabolism
    tick; a new agent with one event 40 ms after the first reading read 25/s."""
    meter = MetabolismMeter()
    events = 0
    flows: list[tuple[float, float]] = []
    # The clock: a tick every second (from 0), an event every second (from 0.04),
    # and a STATUS read right after each event.
    ticks = [(float(second), "tick") for second in range(31)]
    beats = [(second + 0.04, "event") for second in range(30)]
    for now, what in sorted(ticks + beats):
        if what == "event":
            events += 1
        vitals = meter.read(counters(events=events), "flowing", 1, now=now)
        flows.append((now, vitals.flow))
    assert max(flow for _, flow in flows) <= 1.2, flows[:12]
    settled = [flow for now, flow in flows if now >= DEFAULT_WINDOW]
    assert settled
    assert all(flow == pytest.approx(1.0, abs=0.11) for flow in settled), settled


def test_the_first_seconds_ramp_up_instead_of_spiking() -> None:
    meter = MetabolismMeter()
    meter.read(counters(events=0), "dormant", 0, now=0.0)
    assert meter.read(counters(events=1), "flowing", 0, now=0.04).flow == pytest.approx(0.2)
    assert meter.read(counters(events=2), "flowing", 0, now=1.04).flow == pytest.approx(0.4)


def test_the_window_never_reaches_further_back_than_its_length() -> None:
    """Readings far apart (no observer, a STATUS now and then) do not stretch the
    window: the events since the window's start are interpolated, not averaged
    over everything since the last sample inside it."""
    meter = MetabolismMeter(window=10.0)
    meter.read(counters(events=0), "flowing", 0, now=0.0)
    meter.read(counters(events=100), "flowing", 0, now=1.0)
    meter.read(counters(events=100), "flowing", 0, now=100.0)
    vitals = meter.read(counters(events=101), "flowing", 0, now=101.0)
    assert vitals.flow == pytest.approx(1 / 10)


def test_turbulence_covers_only_the_window_when_readings_are_far_apart() -> None:
    meter = MetabolismMeter(window=10.0)
    meter.read(counters(events=0, errors=0), "flowing", 0, now=0.0)
    meter.read(counters(events=10, errors=10), "flowing", 0, now=100.0)
    vitals = meter.read(counters(events=20, errors=10), "flowing", 0, now=101.0)
    # Window [91, 101]: 0.9 of the ten failing events (evenly spread over 0-100), and ten good ones.
    assert vitals.turbulence == pytest.approx(0.9 / 10.9, abs=1e-4)
    assert vitals.flow == pytest.approx(10.9 / 10, abs=1e-3)


def test_a_single_old_reading_is_interpolated_to_the_window() -> None:
    meter = MetabolismMeter(window=10.0)
    meter.read(counters(events=0), "flowing", 0, now=0.0)
    vitals = meter.read(counters(events=600), "flowing", 0, now=600.0)
    assert vitals.flow == pytest.approx(1.0)


def test_descriptions_cover_every_figure_and_state_the_window() -> None:
    assert set(DESCRIPTIONS) == PROTOCOL_FIELDS
    for name in ("flow", "turbulence"):
        assert f"{DEFAULT_WINDOW:g} s" in DESCRIPTIONS[name]
    assert f"{DEFAULT_MIN_SPAN:g} s" in DESCRIPTIONS["flow"]
