"""The backplane writer's bounds on what one agent's stream holds, in events and bytes."""

from __future__ import annotations

from terrarium.backplane.writer import Limits, _Backlog, _Ledger


def test_the_backlog_while_redis_is_away_keeps_the_newest_within_both_limits() -> None:
    limits = Limits(events=5, bytes=100)
    backlog = _Backlog()
    for seq in range(1, 11):
        backlog.add(seq, b"x" * 10, limits)
    assert [seq for seq, _ in backlog.items] == [6, 7, 8, 9, 10]
    for seq in range(11, 14):
        backlog.add(seq, b"y" * 40, limits)
    assert [seq for seq, _ in backlog.items] == [12, 13]
    assert backlog.size == 80
    # The newest stays, however large.
    backlog.add(14, b"z" * 500, limits)
    assert [seq for seq, _ in backlog.items] == [14]
    assert [seq for seq, _ in backlog.take()] == [14] and backlog.size == 0


def test_the_ledger_trims_whole_entries_to_within_both_limits() -> None:
    limits = Limits(events=600, bytes=10_000)
    ledger = _Ledger()
    for index in range(5):
        ledger.add(f"{index}-0", 256, 1000)
    # 1,280 events: the two newest entries (512) fit, a third would not.
    assert ledger.trim(limits) == "3-0"
    assert (ledger.events, ledger.size) == (512, 2000)
    assert ledger.trim(limits) is None  # nothing more to drop
    ledger.add("5-0", 1, 9_500)
    assert ledger.trim(limits) == "5-0"
    assert (ledger.events, ledger.size) == (1, 9_500)
    ledger.add("6-0", 1, 20_000)
    assert ledger.trim(limits) == "6-0"  # the newest entry stays, however large
