"""``HolographicBuffer.ingest``: events numbered and serialised elsewhere (another replica).

A follower mirror keeps the source's seqs and bytes, skips what it already
has, and tells observers about seqs the source skipped as ``gap`` frames.
"""

from __future__ import annotations

import json
from typing import Any

from terrarium.mirror import HolographicBuffer
from tests.core.test_mirror import RecordingObserver, run_loop


def payload(seq: int, agent_id: str = "remote") -> bytes:
    event = {"seq": seq, "ts": 1.5, "agent_id": agent_id, "type": "result", "data": {"n": seq}}
    return json.dumps(event, separators=(",", ":")).encode()


def kinds(frames: list[dict[str, Any]]) -> list[tuple[str, int | None, int | None, int | None]]:
    return [(f["type"], f.get("seq"), f.get("from"), f.get("to")) for f in frames]


def follower(**options: Any) -> HolographicBuffer:
    return HolographicBuffer("remote", **options)


async def test_ingested_events_keep_their_seqs_and_bytes_for_live_observers() -> None:
    mirror = follower()
    mirror.ingest(39, payload(39))
    observer = RecordingObserver()
    mirror.attach(observer)
    for seq in range(40, 44):
        assert mirror.ingest(seq, payload(seq))
    await run_loop()
    assert observer.seqs() == [39, 40, 41, 42, 43]
    assert b"".join(observer.sends[1:]) == b"".join(payload(s) + b"\n" for s in range(40, 44))
    assert mirror.last_seq == 43


async def test_an_observer_of_an_empty_follower_is_told_what_came_before_its_first_event() -> None:
    mirror = follower()
    observer = RecordingObserver()
    mirror.attach(observer)  # hello says seq 0: the observer expects 1 next
    mirror.ingest(40, payload(40))
    await run_loop()
    assert kinds(observer.after_hello()) == [("gap", None, 1, 39), ("result", 40, None, None)]


async def test_what_is_not_newer_is_ignored() -> None:
    mirror = follower()
    observer = RecordingObserver()
    mirror.attach(observer)
    assert mirror.ingest(7, payload(7))
    assert not mirror.ingest(7, payload(7))
    assert not mirror.ingest(3, payload(3))
    assert mirror.ingest(8, payload(8))
    await run_loop()
    assert observer.seqs() == [7, 8]


def test_history_starts_where_ingestion_started() -> None:
    """Asking for seqs before the first ingested one is a gap, not silence."""
    mirror = follower(history_size=10)
    for seq in range(50, 53):
        mirror.ingest(seq, payload(seq))
    replay = mirror.replay(since=45)
    assert [json.loads(p)["seq"] for p in replay.payloads] == [50, 51, 52]
    assert replay.gap == (46, 49)
    assert mirror.replay(since=None).gap is None
    assert [json.loads(p)["seq"] for p in mirror.replay(since=50).payloads] == [51, 52]


async def test_a_skipped_run_of_seqs_reaches_live_observers_as_a_gap() -> None:
    mirror = follower()
    observer = RecordingObserver()
    mirror.attach(observer)
    mirror.ingest(1, payload(1))
    mirror.ingest(2, payload(2))
    mirror.ingest(6, payload(6))
    mirror.ingest(7, payload(7))
    await run_loop()
    assert kinds(observer.after_hello()) == [
        ("result", 1, None, None),
        ("result", 2, None, None),
        ("gap", None, 3, 5),
        ("result", 6, None, None),
        ("result", 7, None, None),
    ]


async def test_attach_and_replay_tell_of_holes_inside_the_history() -> None:
    mirror = follower()
    for seq in (1, 2, 6, 7):
        mirror.ingest(seq, payload(seq))
    observer = RecordingObserver()
    mirror.attach(observer, since=3)  # starts inside the hole
    assert kinds(observer.after_hello()) == [
        ("gap", None, 4, 5),
        ("result", 6, None, None),
        ("result", 7, None, None),
    ]
    replay = mirror.replay(since=1)
    assert [json.loads(p)["seq"] for p in replay.payloads] == [2, 6, 7]
    assert replay.gap == (3, 5)


async def test_a_hole_wider_than_the_ring_is_one_gap() -> None:
    mirror = follower(history_size=4, observer_queue_size=4)
    observer = RecordingObserver()
    mirror.attach(observer)
    mirror.ingest(1, payload(1))
    await run_loop()
    mirror.ingest(100, payload(100))
    await run_loop()
    assert kinds(observer.after_hello()) == [
        ("result", 1, None, None),
        ("gap", None, 2, 99),
        ("result", 100, None, None),
    ]
    late = RecordingObserver()
    mirror.attach(late, since=0)
    frames = late.after_hello()
    assert frames[0]["type"] == "gap" and frames[-1]["seq"] == 100
    assert [f["seq"] for f in frames if f["type"] == "result"] == [100]


def test_reflect_taps_each_event_and_ingest_does_not() -> None:
    tapped: list[tuple[int, bytes]] = []
    mirror = HolographicBuffer("own", tap=lambda seq, data: tapped.append((seq, data)))
    mirror.ingest(1, payload(1, "own"))
    seq = mirror.reflect("result", {"n": 2})
    assert seq == 2
    assert [s for s, _ in tapped] == [2]
    assert json.loads(tapped[0][1])["seq"] == 2
    assert mirror.replay(0).payloads[1] == tapped[0][1]
