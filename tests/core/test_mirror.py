"""The holographic mirror: numbering, history, fan-out, slow observers and replay."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from terrarium.events import PROTOCOL_VERSION
from terrarium.mirror import (
    CLOSE_AGENT_REMOVED,
    CLOSE_TRY_AGAIN_LATER,
    Framing,
    HolographicBuffer,
    plain_frame,
    plain_payload,
)

NOT_EVENTS = {"hello", "gap", "pong"}


def strict_loads(raw: bytes) -> Any:
    """Parse JSON, refusing NaN and Infinity as the protocol does."""

    def reject(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(raw, parse_constant=reject)


class RecordingObserver:
    """An observer that keeps what it is sent, and can be switched to backlogged."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.busy = False
        self.fail = False

    def send(self, data: bytes) -> None:
        if self.fail:
            raise ConnectionResetError("peer went away")
        self.sends.append(data)

    def backlogged(self) -> bool:
        return self.busy

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def frames(self) -> list[dict[str, Any]]:
        assert all(chunk.endswith(b"\n") for chunk in self.sends), "a send split a frame"
        return [strict_loads(line) for chunk in self.sends for line in chunk.split(b"\n") if line]

    def events(self) -> list[dict[str, Any]]:
        return [frame for frame in self.frames() if frame.get("type") not in NOT_EVENTS]

    def seqs(self) -> list[int]:
        return [event["seq"] for event in self.events()]

    def after_hello(self) -> list[dict[str, Any]]:
        frames = self.frames()
        assert frames[0]["type"] == "hello"
        return frames[1:]


def reflect_many(mirror: HolographicBuffer, count: int) -> list[int]:
    return [mirror.reflect("result", {"output": n}) for n in range(count)]


async def run_loop(iterations: int = 1) -> None:
    for _ in range(iterations):
        await asyncio.sleep(0)


def replayed_seqs(
    mirror: HolographicBuffer, since: int | None, limit: int | None = None
) -> list[int]:
    return [strict_loads(payload)["seq"] for payload in mirror.replay(since, limit).payloads]


# -- numbering and framing ------------------------------------------------------------


def test_seq_starts_at_one_and_is_contiguous() -> None:
    mirror = HolographicBuffer("m")
    assert mirror.last_seq == 0
    assert reflect_many(mirror, 5) == [1, 2, 3, 4, 5]
    assert mirror.last_seq == 5
    assert replayed_seqs(mirror, 0) == [1, 2, 3, 4, 5]


async def test_observer_receives_contiguous_seqs_across_flushes() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer)
    for _ in range(4):
        reflect_many(mirror, 3)
        await run_loop()
    assert observer.seqs() == list(range(1, 13))


def test_event_payload_carries_the_protocol_fields() -> None:
    mirror = HolographicBuffer("agent-7")
    mirror.reflect("result", {"output": "hi", "perturbation_id": None})
    mirror.reflect("state")
    first, second = (strict_loads(p) for p in mirror.replay(0).payloads)
    assert set(first) == {"seq", "ts", "agent_id", "type", "data"}
    assert first["agent_id"] == "agent-7"
    assert first["type"] == "result"
    assert first["data"] == {"output": "hi", "perturbation_id": None}
    assert isinstance(first["ts"], float)
    assert second["data"] == {}
    assert second["ts"] >= first["ts"]


def test_agent_id_is_escaped_in_frames() -> None:
    mirror = HolographicBuffer('quote"back\\slash')
    mirror.reflect("result", {"output": 1})
    assert strict_loads(mirror.replay(0).payloads[0])["agent_id"] == 'quote"back\\slash'


@pytest.mark.parametrize("observers", [0, 1, 25])
async def test_each_event_is_framed_once_whatever_the_observer_count(observers: int) -> None:
    calls: list[bytes] = []

    def counting_framer(payload: bytes) -> bytes:
        calls.append(payload)
        return plain_frame(payload)

    mirror = HolographicBuffer("m", framing=Framing(counting_framer, plain_payload))
    watchers = [RecordingObserver() for _ in range(observers)]
    for watcher in watchers:
        mirror.attach(watcher)
    before = len(calls)
    reflect_many(mirror, 3)
    await run_loop(2)
    assert len(calls) - before == 3
    for watcher in watchers:
        assert watcher.seqs() == [1, 2, 3]


async def test_attach_replays_kept_frames_without_framing_them_again() -> None:
    calls: list[bytes] = []

    def counting_framer(payload: bytes) -> bytes:
        calls.append(payload)
        return plain_frame(payload)

    mirror = HolographicBuffer("m", framing=Framing(counting_framer, plain_payload))
    reflect_many(mirror, 4)
    before = len(calls)
    observer = RecordingObserver()
    mirror.attach(observer, since=0)
    assert len(calls) - before == 1
    assert strict_loads(calls[-1])["type"] == "hello"
    assert observer.seqs() == [1, 2, 3, 4]


def test_non_finite_floats_become_null() -> None:
    mirror = HolographicBuffer("m")
    mirror.reflect(
        "metabolism",
        {"flow": float("nan"), "nested": [float("inf"), -float("inf"), 1.5], "ok": 2.0},
    )
    event = strict_loads(mirror.replay(0).payloads[0])
    assert event["data"] == {"flow": None, "nested": [None, None, 1.5], "ok": 2.0}


async def test_non_finite_floats_reach_observers_as_valid_json() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer)
    mirror.reflect("result", {"output": float("nan")})
    await run_loop()
    assert observer.events()[0]["data"] == {"output": None}


def test_objects_that_are_not_json_are_sent_as_their_repr() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    mirror = HolographicBuffer("m")
    mirror.reflect("result", {"output": Opaque(), "tuple": (1, 2)})
    assert strict_loads(mirror.replay(0).payloads[0])["data"] == {
        "output": "<opaque>",
        "tuple": [1, 2],
    }


@pytest.mark.parametrize(
    ("history_size", "observer_queue_size", "max_bytes"),
    [(-1, 10, 0), (10, 0, 0), (10, 10, -1)],
)
def test_invalid_sizes_are_refused(
    history_size: int, observer_queue_size: int, max_bytes: int
) -> None:
    with pytest.raises(ValueError):
        HolographicBuffer(
            "m",
            history_size=history_size,
            observer_queue_size=observer_queue_size,
            max_bytes=max_bytes,
        )


# -- hello and history ------------------------------------------------------------------


async def test_hello_frame_fields() -> None:
    snapshots = iter(range(1, 100))
    mirror = HolographicBuffer("agent-h", snapshot=lambda: {"n": next(snapshots)})
    reflect_many(mirror, 2)
    first = RecordingObserver()
    mirror.attach(first)
    reflect_many(mirror, 3)
    second = RecordingObserver()
    mirror.attach(second)

    hello = first.frames()[0]
    assert hello == {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "agent_id": "agent-h",
        "seq": 2,
        "epoch": mirror.epoch,
        "snapshot": {"n": 1},
    }
    assert PROTOCOL_VERSION == 1
    assert second.frames()[0]["seq"] == 5
    assert second.frames()[0]["snapshot"] == {"n": 2}


async def test_hello_without_snapshot_callable_has_an_empty_snapshot() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer)
    assert observer.frames() == [
        {
            "type": "hello",
            "protocol": 1,
            "agent_id": "m",
            "seq": 0,
            "epoch": mirror.epoch,
            "snapshot": {},
        }
    ]


async def test_hello_and_history_arrive_as_one_write() -> None:
    mirror = HolographicBuffer("m")
    reflect_many(mirror, 3)
    observer = RecordingObserver()
    mirror.attach(observer, since=0)
    assert len(observer.sends) == 1
    assert [frame.get("type") for frame in observer.frames()] == ["hello"] + ["result"] * 3


async def test_attach_without_since_sends_all_kept_history_and_no_gap() -> None:
    mirror = HolographicBuffer("m", history_size=3, observer_queue_size=8)
    reflect_many(mirror, 5)
    observer = RecordingObserver()
    mirror.attach(observer)
    assert [frame.get("type") for frame in observer.after_hello()] == ["result"] * 3
    assert observer.seqs() == [3, 4, 5]


async def test_attach_since_zero_after_roll_off_reports_the_gap_from_one() -> None:
    mirror = HolographicBuffer("m", history_size=3, observer_queue_size=8)
    reflect_many(mirror, 5)
    observer = RecordingObserver()
    mirror.attach(observer, since=0)
    rest = observer.after_hello()
    assert rest[0] == {"type": "gap", "from": 1, "to": 2}
    assert [event["seq"] for event in rest[1:]] == [3, 4, 5]


async def test_attach_since_zero_with_everything_kept_has_no_gap() -> None:
    mirror = HolographicBuffer("m", history_size=10)
    reflect_many(mirror, 5)
    observer = RecordingObserver()
    mirror.attach(observer, since=0)
    assert [frame["type"] for frame in observer.after_hello()] == ["result"] * 5
    assert observer.seqs() == [1, 2, 3, 4, 5]


async def test_attach_since_zero_on_an_empty_mirror_sends_only_hello() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer, since=0)
    assert [frame["type"] for frame in observer.frames()] == ["hello"]


@pytest.mark.parametrize("since", [1, 3, 4])
async def test_attach_since_n_resumes_exactly_after_n(since: int) -> None:
    mirror = HolographicBuffer("m", history_size=10)
    reflect_many(mirror, 5)
    observer = RecordingObserver()
    mirror.attach(observer, since=since)
    assert [frame["type"] for frame in observer.after_hello()] == ["result"] * (5 - since)
    assert observer.seqs() == list(range(since + 1, 6))


async def test_attach_since_a_rolled_off_seq_reports_only_the_missing_part() -> None:
    mirror = HolographicBuffer("m", history_size=4, observer_queue_size=8)
    reflect_many(mirror, 10)
    observer = RecordingObserver()
    mirror.attach(observer, since=3)
    rest = observer.after_hello()
    assert rest[0] == {"type": "gap", "from": 4, "to": 6}
    assert observer.seqs() == [7, 8, 9, 10]


@pytest.mark.parametrize("since", [5, 6, 1000])
async def test_attach_since_at_or_beyond_the_last_seq_sends_nothing_old(since: int) -> None:
    mirror = HolographicBuffer("m")
    reflect_many(mirror, 5)
    observer = RecordingObserver()
    mirror.attach(observer, since=since)
    assert [frame["type"] for frame in observer.frames()] == ["hello"]
    mirror.reflect("result")
    await run_loop()
    assert observer.seqs() == [6]


async def test_history_is_limited_to_history_size() -> None:
    mirror = HolographicBuffer("m", history_size=4, observer_queue_size=16)
    reflect_many(mirror, 10)
    assert replayed_seqs(mirror, None) == [7, 8, 9, 10]
    observer = RecordingObserver()
    mirror.attach(observer)
    assert observer.seqs() == [7, 8, 9, 10]


async def test_history_size_zero_keeps_nothing_to_replay() -> None:
    mirror = HolographicBuffer("m", history_size=0, observer_queue_size=4)
    reflect_many(mirror, 3)
    quiet = RecordingObserver()
    mirror.attach(quiet)
    assert [frame["type"] for frame in quiet.frames()] == ["hello"]
    resuming = RecordingObserver()
    mirror.attach(resuming, since=0)
    assert resuming.after_hello() == [{"type": "gap", "from": 1, "to": 3}]
    mirror.reflect("result")
    await run_loop()
    assert quiet.seqs() == [4]
    assert resuming.seqs() == [4]


# -- epochs ----------------------------------------------------------------------------


def test_each_mirror_numbers_in_an_epoch_of_its_own() -> None:
    first, second = HolographicBuffer("m"), HolographicBuffer("m")
    assert first.epoch and second.epoch and first.epoch != second.epoch
    assert HolographicBuffer("m", epoch="kept").epoch == "kept"


async def test_a_since_of_another_epoch_is_a_reset_with_history_from_the_start() -> None:
    mirror = HolographicBuffer("m", history_size=4)
    reflect_many(mirror, 10)
    resuming = RecordingObserver()
    mirror.attach(resuming, since=3, epoch="an-older-epoch")
    hello, *rest = resuming.frames()
    assert hello["reset"] is True and hello["epoch"] == mirror.epoch
    # From the start of what is kept, saying what is no longer kept.
    assert rest[0] == {"type": "gap", "from": 1, "to": 6}
    assert [event["seq"] for event in rest[1:]] == [7, 8, 9, 10]


async def test_a_since_of_this_epoch_or_of_none_resumes_as_asked() -> None:
    mirror = HolographicBuffer("m", history_size=4)
    reflect_many(mirror, 10)
    for epoch in (mirror.epoch, None):
        resuming = RecordingObserver()
        mirror.attach(resuming, since=8, epoch=epoch)
        assert "reset" not in resuming.frames()[0]
        assert resuming.seqs() == [9, 10]


def test_replay_of_another_epoch_starts_over_too() -> None:
    mirror = HolographicBuffer("m", history_size=4)
    reflect_many(mirror, 6)
    same = mirror.replay(5, epoch=mirror.epoch)
    assert (same.reset, same.epoch, len(same.payloads)) == (False, mirror.epoch, 1)
    other = mirror.replay(5, epoch="other")
    assert other.reset and other.gap == (1, 2)
    assert [strict_loads(p)["seq"] for p in other.payloads] == [3, 4, 5, 6]


# -- what the ring costs ------------------------------------------------------------------

BIG = 64 * 1024


def reflect_big(mirror: HolographicBuffer, count: int) -> None:
    for n in range(count):
        mirror.reflect("result", {"output": str(n % 10) * BIG})


def traced_growth(work: Callable[[], None]) -> int:
    """Bytes still allocated after ``work`` that were not before it."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_the_ring_keeps_one_copy_of_each_event() -> None:
    mirror = HolographicBuffer("m", history_size=100, observer_queue_size=1024)
    held = traced_growth(lambda: reflect_big(mirror, 40))
    assert 40 * BIG <= mirror.kept_bytes < 41 * BIG
    # The frame and nothing else: a payload kept beside it would double this.
    assert held < 1.2 * 40 * BIG, held


def test_the_ring_is_bounded_by_bytes_as_well_as_by_count() -> None:
    bound = 16 * BIG
    mirror = HolographicBuffer("m", history_size=100, observer_queue_size=1024, max_bytes=bound)
    held = traced_growth(lambda: reflect_big(mirror, 300))
    assert mirror.kept_bytes <= bound
    assert held < bound + 4 * BIG, held


def test_replay_after_the_byte_bound_starts_later_and_says_what_is_gone() -> None:
    mirror = HolographicBuffer("m", history_size=100, max_bytes=10 * BIG)
    reflect_big(mirror, 30)
    replay = mirror.replay(0)
    seqs = [strict_loads(payload)["seq"] for payload in replay.payloads]
    assert seqs == list(range(seqs[0], 31))
    assert 8 <= len(seqs) < 11
    assert replay.gap == (1, seqs[0] - 1)
    assert all(strict_loads(payload)["data"]["output"] for payload in replay.payloads)


def test_the_newest_event_stays_however_large() -> None:
    mirror = HolographicBuffer("m", max_bytes=BIG // 2)
    reflect_big(mirror, 3)
    assert [strict_loads(p)["seq"] for p in mirror.replay(None).payloads] == [3]


async def test_an_observer_behind_what_the_bytes_keep_gets_a_gap() -> None:
    mirror = HolographicBuffer("m", history_size=100, max_bytes=4 * BIG)
    slow = RecordingObserver()
    mirror.attach(slow)
    slow.busy = True
    await run_loop()
    reflect_big(mirror, 12)
    await run_loop()
    slow.busy = False
    mirror.wake()
    await run_loop()
    rest = slow.after_hello()
    assert rest[0]["type"] == "gap" and rest[0]["from"] == 1
    assert [event["seq"] for event in rest[1:]] == list(range(rest[0]["to"] + 1, 13))


# -- live fan-out -------------------------------------------------------------------------


async def test_reflect_never_sends_synchronously() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer)
    reflect_many(mirror, 3)
    assert len(observer.sends) == 1
    await run_loop()
    assert observer.seqs() == [1, 2, 3]


async def test_live_flush_coalesces_events_into_one_send_per_observer() -> None:
    mirror = HolographicBuffer("m")
    observers = [RecordingObserver() for _ in range(3)]
    for observer in observers:
        mirror.attach(observer)
    reflect_many(mirror, 4)
    await run_loop()
    for observer in observers:
        assert len(observer.sends) == 2
        live = observer.sends[1]
        assert [strict_loads(line)["seq"] for line in live.split(b"\n") if line] == [1, 2, 3, 4]


async def test_observers_with_the_same_lag_share_one_buffer() -> None:
    mirror = HolographicBuffer("m")
    first, second, lagging = RecordingObserver(), RecordingObserver(), RecordingObserver()
    for observer in (first, second, lagging):
        mirror.attach(observer)
    lagging.busy = True
    reflect_many(mirror, 2)
    await run_loop()
    assert first.sends[-1] is second.sends[-1]

    lagging.busy = False
    reflect_many(mirror, 2)
    await run_loop()
    assert first.sends[-1] is second.sends[-1]
    assert lagging.sends[-1] is not first.sends[-1]
    assert lagging.seqs() == [1, 2, 3, 4]
    assert first.seqs() == [1, 2, 3, 4]


async def test_backlogged_observer_is_skipped_until_it_wakes_the_mirror() -> None:
    mirror = HolographicBuffer("m")
    slow, fast = RecordingObserver(), RecordingObserver()
    mirror.attach(slow)
    mirror.attach(fast)
    slow.busy = True
    reflect_many(mirror, 3)
    await run_loop(3)
    assert fast.seqs() == [1, 2, 3]
    assert len(slow.sends) == 1

    slow.busy = False
    mirror.wake()
    await run_loop()
    assert len(slow.sends) == 2
    assert slow.seqs() == [1, 2, 3]


async def test_wake_without_anything_missed_sends_nothing() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer)
    reflect_many(mirror, 2)
    await run_loop()
    mirror.wake()
    await run_loop(2)
    assert len(observer.sends) == 2


async def test_lapped_observer_gets_the_exact_gap_then_contiguous_events() -> None:
    mirror = HolographicBuffer("m", history_size=2, observer_queue_size=4)
    slow, fast = RecordingObserver(), RecordingObserver()
    mirror.attach(slow)
    mirror.attach(fast)
    slow.busy = True
    for _ in range(5):
        reflect_many(mirror, 2)
        await run_loop()
    slow.busy = False
    mirror.wake()
    await run_loop()
    mirror.reflect("result")
    await run_loop()

    rest = slow.after_hello()
    assert rest[0] == {"type": "gap", "from": 1, "to": 6}
    assert [event["seq"] for event in rest[1:]] == [7, 8, 9, 10, 11]
    assert fast.seqs() == list(range(1, 12))
    assert slow.closed is None
    assert mirror.observer_count == 2


async def test_lag_is_bounded_by_observer_queue_size_even_with_longer_history() -> None:
    mirror = HolographicBuffer("m", history_size=8, observer_queue_size=3)
    slow = RecordingObserver()
    mirror.attach(slow)
    slow.busy = True
    for _ in range(5):
        mirror.reflect("result")
        await run_loop()
    slow.busy = False
    mirror.wake()
    await run_loop()
    rest = slow.after_hello()
    assert rest[0] == {"type": "gap", "from": 1, "to": 2}
    assert [event["seq"] for event in rest[1:]] == [3, 4, 5]
    assert replayed_seqs(mirror, None) == [1, 2, 3, 4, 5]


async def test_observer_exactly_queue_size_behind_gets_no_gap() -> None:
    mirror = HolographicBuffer("m", history_size=2, observer_queue_size=4)
    slow = RecordingObserver()
    mirror.attach(slow)
    slow.busy = True
    reflect_many(mirror, 4)
    await run_loop()
    slow.busy = False
    mirror.wake()
    await run_loop()
    assert [frame["type"] for frame in slow.after_hello()] == ["result"] * 4
    assert slow.seqs() == [1, 2, 3, 4]


async def test_burst_larger_than_the_live_ring_gives_a_gap_to_a_prompt_observer() -> None:
    mirror = HolographicBuffer("m", history_size=2, observer_queue_size=4)
    observer = RecordingObserver()
    mirror.attach(observer)
    reflect_many(mirror, 6)
    await run_loop()
    rest = observer.after_hello()
    assert rest[0] == {"type": "gap", "from": 1, "to": 2}
    assert [event["seq"] for event in rest[1:]] == [3, 4, 5, 6]


async def test_lapped_observer_is_closed_under_the_close_policy() -> None:
    counts: list[int] = []
    mirror = HolographicBuffer(
        "m",
        history_size=2,
        observer_queue_size=4,
        slow_observer_policy="close",
        on_observers_changed=counts.append,
    )
    slow, fast = RecordingObserver(), RecordingObserver()
    mirror.attach(slow)
    mirror.attach(fast)
    slow.busy = True
    for _ in range(5):
        mirror.reflect("result")
        await run_loop()

    assert slow.closed == (CLOSE_TRY_AGAIN_LATER, "observer too slow")
    assert CLOSE_TRY_AGAIN_LATER == 1013
    assert mirror.observer_count == 1
    assert counts == [1, 2, 1]
    slow.busy = False
    mirror.wake()
    mirror.reflect("result")
    await run_loop()
    assert len(slow.sends) == 1
    assert fast.seqs() == [1, 2, 3, 4, 5, 6]


async def test_backlogged_but_not_lapped_observer_survives_the_close_policy() -> None:
    mirror = HolographicBuffer(
        "m", history_size=2, observer_queue_size=4, slow_observer_policy="close"
    )
    slow = RecordingObserver()
    mirror.attach(slow)
    slow.busy = True
    reflect_many(mirror, 4)
    await run_loop()
    assert slow.closed is None
    slow.busy = False
    mirror.wake()
    await run_loop()
    assert slow.seqs() == [1, 2, 3, 4]


async def test_observer_whose_send_raises_is_detached_and_others_still_get_frames() -> None:
    counts: list[int] = []
    mirror = HolographicBuffer("m", on_observers_changed=counts.append)
    before, broken, after = RecordingObserver(), RecordingObserver(), RecordingObserver()
    for observer in (before, broken, after):
        mirror.attach(observer)
    broken.fail = True
    reflect_many(mirror, 2)
    await run_loop()
    assert mirror.observer_count == 2
    assert counts[-1] == 2
    broken.fail = False
    reflect_many(mirror, 1)
    await run_loop()
    assert before.seqs() == [1, 2, 3]
    assert after.seqs() == [1, 2, 3]
    assert broken.seqs() == []


async def test_observer_detached_by_another_during_a_flush_is_not_written_to() -> None:
    mirror = HolographicBuffer("m")

    class ClosingPeer(RecordingObserver):
        """Its send makes another socket close, as a transport callback would."""

        victim: RecordingObserver | None = None

        def send(self, data: bytes) -> None:
            super().send(data)
            if self.victim is not None:
                mirror.detach(self.victim)

    peer, victim = ClosingPeer(), RecordingObserver()
    mirror.attach(peer)
    mirror.attach(victim)
    peer.victim = victim
    reflect_many(mirror, 2)
    await run_loop()
    assert peer.seqs() == [1, 2]
    assert victim.seqs() == []
    assert mirror.observer_count == 1


async def test_attach_during_a_sliced_flush_keeps_every_observer_in_order() -> None:
    mirror = HolographicBuffer("m", history_size=200, observer_queue_size=200)
    mirror.flush_slice = 2
    expected_first: dict[RecordingObserver, int] = {}
    for _ in range(7):
        observer = RecordingObserver()
        mirror.attach(observer)
        expected_first[observer] = 1

    reflect_many(mirror, 2)
    await run_loop()
    served = [observer for observer in expected_first if observer.seqs()]
    assert len(served) == 2

    for round_ in range(6):
        late = RecordingObserver()
        since = max(0, mirror.last_seq - round_ % 3)
        mirror.attach(late, since=since if round_ % 2 else None)
        expected_first[late] = since + 1 if round_ % 2 else 1
        reflect_many(mirror, 2)
        await run_loop()

    await run_loop(40)
    last = mirror.last_seq
    for observer, first in expected_first.items():
        seqs = observer.seqs()
        assert seqs == list(range(first, last + 1))
        assert observer.frames()[0]["type"] == "hello"
        assert "gap" not in [frame["type"] for frame in observer.frames()]


async def test_a_slice_ends_when_its_time_budget_is_spent() -> None:
    """A slow write ends the slice; the rest of the pass gets what arrived meanwhile, joined."""
    mirror = HolographicBuffer("m")
    mirror.flush_budget = 0.001

    class SlowPeer(RecordingObserver):
        def send(self, data: bytes) -> None:
            super().send(data)
            time.sleep(2 * mirror.flush_budget)

    slow, later = SlowPeer(), RecordingObserver()
    mirror.attach(slow)
    mirror.attach(later)
    slow.sends.clear()
    later.sends.clear()
    mirror.reflect("result")
    await run_loop()
    assert slow.seqs() == [1]
    assert later.seqs() == []

    mirror.reflect("result")
    await run_loop()
    assert later.seqs() == [1, 2]
    assert len(later.sends) == 1
    await run_loop(3)
    assert slow.seqs() == [1, 2]
    assert later.seqs() == [1, 2]


async def test_passes_closer_than_the_flush_interval_join_their_events() -> None:
    mirror = HolographicBuffer("m")
    mirror.flush_interval = 0.05
    observer = RecordingObserver()
    mirror.attach(observer)
    observer.sends.clear()

    mirror.reflect("result")
    await run_loop()
    assert observer.seqs() == [1]  # quiet before: out on the next iteration

    mirror.reflect("result")
    await run_loop(3)
    mirror.reflect("result")
    await run_loop(3)
    assert observer.seqs() == [1]  # within the interval: held

    await asyncio.sleep(0.06)
    await run_loop(2)
    assert observer.seqs() == [1, 2, 3]
    assert len(observer.sends) == 2  # the two held events went out as one write


async def test_a_mirror_quiet_for_longer_than_the_interval_flushes_at_once() -> None:
    mirror = HolographicBuffer("m")
    mirror.flush_interval = 0.01
    observer = RecordingObserver()
    mirror.attach(observer)
    for expected in range(1, 4):
        await asyncio.sleep(0.02)
        mirror.reflect("result")
        await run_loop()
        assert observer.seqs() == list(range(1, expected + 1))


async def test_detach_stops_delivery() -> None:
    mirror = HolographicBuffer("m")
    staying, leaving = RecordingObserver(), RecordingObserver()
    mirror.attach(staying)
    mirror.attach(leaving)
    mirror.reflect("result")
    await run_loop()
    mirror.detach(leaving)
    reflect_many(mirror, 2)
    await run_loop()
    assert leaving.seqs() == [1]
    assert staying.seqs() == [1, 2, 3]
    assert leaving.closed is None


async def test_detach_between_reflect_and_flush_drops_pending_frames() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer)
    reflect_many(mirror, 2)
    mirror.detach(observer)
    await run_loop(2)
    assert observer.seqs() == []


async def test_on_observers_changed_reports_every_count_change() -> None:
    counts: list[int] = []
    mirror = HolographicBuffer("m", on_observers_changed=counts.append)
    first, second = RecordingObserver(), RecordingObserver()
    mirror.attach(first)
    mirror.attach(second)
    mirror.detach(first)
    mirror.detach(first)
    mirror.detach(RecordingObserver())
    assert counts == [1, 2, 1]
    assert mirror.observer_count == 1
    mirror.close_all()
    assert counts == [1, 2, 1, 0]


async def test_close_all_closes_with_4004_and_detaches() -> None:
    mirror = HolographicBuffer("m")
    observers = [RecordingObserver() for _ in range(3)]
    for observer in observers:
        mirror.attach(observer)
    mirror.close_all()
    assert CLOSE_AGENT_REMOVED == 4004
    assert mirror.observer_count == 0
    mirror.reflect("result")
    await run_loop(2)
    for observer in observers:
        assert observer.closed == (4004, "agent removed")
        assert observer.seqs() == []


def test_frame_wraps_a_non_event_message_with_the_framer() -> None:
    mirror = HolographicBuffer("m")
    framed = mirror.frame({"type": "pong"})
    assert framed.endswith(b"\n")
    assert strict_loads(framed) == {"type": "pong"}
    assert mirror.last_seq == 0


def test_reflect_threadsafe_needs_a_bound_loop() -> None:
    mirror = HolographicBuffer("m")
    with pytest.raises(RuntimeError):
        mirror.reflect_threadsafe("result", {"output": 1})
    assert mirror.last_seq == 0


async def test_reflect_threadsafe_numbers_the_event_on_the_loop() -> None:
    mirror = HolographicBuffer("m")
    observer = RecordingObserver()
    mirror.attach(observer)
    thread = threading.Thread(target=mirror.reflect_threadsafe, args=("result", {"output": 7}))
    thread.start()
    await asyncio.to_thread(thread.join)
    await run_loop(3)
    assert mirror.last_seq == 1
    assert observer.events()[0]["data"] == {"output": 7}


# -- replay ------------------------------------------------------------------------------


def test_replay_of_an_empty_mirror_is_empty() -> None:
    replay = HolographicBuffer("m").replay(0)
    assert replay.payloads == []
    assert replay.gap is None


def test_replay_payloads_are_unframed_json() -> None:
    mirror = HolographicBuffer("m")
    mirror.reflect("result", {"output": "x"})
    (payload,) = mirror.replay(None).payloads
    assert not payload.endswith(b"\n")
    assert strict_loads(payload)["data"] == {"output": "x"}


@pytest.mark.parametrize(
    ("since", "limit", "seqs", "gap"),
    [
        (None, None, [4, 5, 6, 7, 8], None),
        (0, None, [4, 5, 6, 7, 8], (1, 3)),
        (-5, None, [4, 5, 6, 7, 8], (1, 3)),
        (2, None, [4, 5, 6, 7, 8], (3, 3)),
        (3, None, [4, 5, 6, 7, 8], None),
        (5, None, [6, 7, 8], None),
        (8, None, [], None),
        (20, None, [], None),
        (0, 2, [4, 5], (1, 3)),
        (5, 1, [6], None),
        (5, 0, [], None),
        (None, 3, [4, 5, 6], None),
        (6, 10, [7, 8], None),
    ],
)
def test_replay_since_and_limit(
    since: int | None, limit: int | None, seqs: list[int], gap: tuple[int, int] | None
) -> None:
    mirror = HolographicBuffer("m", history_size=5, observer_queue_size=16)
    reflect_many(mirror, 8)
    replay = mirror.replay(since, limit)
    assert [strict_loads(payload)["seq"] for payload in replay.payloads] == seqs
    assert replay.gap == gap
