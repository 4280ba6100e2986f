"""The Reflection's engine: one agent's mirror, fanned out to any number of observers.

``reflect()`` is O(1): it numbers the event, serialises and frames it once,
drops it into a ring and schedules one flush for the loop iteration. The flush
walks the observers and writes each one's missing frames as one joined buffer
(observers with the same lag share it), skips observers whose socket still
has unsent data, and tells an observer that fell out of the ring what it
missed (``gap``) or closes it, per policy. Why this shape: docs/performance.md.

The ring keeps each event once, as its frame (the payload is read back out of
it for ``replay``), and is bounded by bytes as well as by count: past
``max_bytes`` the oldest frames are let go, as if they had rolled off.

Each numbering has an ``epoch``, an opaque name made when the seqs start
afresh (a new process without the backplane); a client that resumes with
another epoch's seq is told the stream started over (``reset``) and gets the
kept history from its start, since its seq means nothing here.

A mirror can also be fed from elsewhere: ``ingest`` takes events that another
process already numbered and serialised (a follower of a remote agent, or an
owner reloading its history after a restart) and keeps the same seqs. A seq
the source skipped becomes a hole, told to observers as a ``gap``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from terrarium.events import PROTOCOL_VERSION, to_json

SlowObserverPolicy = Literal["gap", "close"]

#: Close code for an observer that fell behind under the ``close`` policy.
CLOSE_TRY_AGAIN_LATER = 1013
#: Close code when the observed agent is removed.
CLOSE_AGENT_REMOVED = 4004

#: The default bound on the bytes of frames one mirror keeps (``max_bytes``).
MAX_BYTES = 64 * 1024 * 1024

#: Called with each reflected event's seq and payload, for a backplane to carry it elsewhere.
Tap = Callable[[int, bytes], None]


def new_epoch() -> str:
    """A fresh name for a numbering that starts at 1 (opaque to clients)."""
    return secrets.token_hex(8)


class Observer(Protocol):
    """What the mirror needs of a subscriber; a WebSocket in production.

    ``send`` must not block and must not raise for a closed peer (the
    transport reports closure through ``detach``). ``backlogged`` is true
    while earlier data has not yet left user space; the observer calls
    ``HolographicBuffer.wake()`` once it drains.
    """

    def send(self, data: bytes) -> None: ...

    def backlogged(self) -> bool: ...

    def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Framing:
    """How a payload is wrapped for the observers' transport, and read back out.

    The mirror keeps only the frame, so it must be able to recover the payload
    (for ``replay``) from it; ``payload(b"")`` is ``b""``.
    """

    frame: Callable[[bytes], bytes]
    payload: Callable[[bytes], bytes]


def plain_frame(payload: bytes) -> bytes:
    """Newline-delimited JSON: the framing for transports that are not WebSockets."""
    return payload + b"\n"


def plain_payload(frame: bytes) -> bytes:
    return frame[:-1]


#: Newline-delimited JSON (a comm, a publication, the unit tests).
PLAIN = Framing(plain_frame, plain_payload)


def plain_frames(buffer: bytes) -> list[Any]:
    """The inverse of ``plain_frame``: one joined buffer back into parsed frames.

    An observer that is not a socket (a widget's comm, a publication) gets
    what the mirror wrote as one buffer and forwards frame by frame. JSON
    never holds a raw newline, so splitting on it is exact.
    """
    return [json.loads(line) for line in buffer.split(b"\n") if line]


@dataclass(slots=True, eq=False)
class _Cursor:
    observer: Observer
    next_seq: int
    open: bool = True


@dataclass(frozen=True, slots=True)
class Replay:
    """Kept payloads after a seq, and the range that was asked for but is gone.

    ``reset``: the seq asked after was another epoch's, so this starts from
    the beginning of what is kept instead.
    """

    payloads: list[bytes]
    gap: tuple[int, int] | None
    epoch: str = ""
    reset: bool = False


class HolographicBuffer:
    """Per-agent mirror: seq numbers, history, a live ring and observer cursors."""

    #: At most this many observers, and about this many seconds, per loop iteration of a
    #: flush pass, so attaches and other callbacks interleave with fan-out.
    flush_slice = 128
    flush_budget = 0.0001
    #: A new flush pass starts at most this often. Under sustained emission each write
    #: then carries everything that arrived meanwhile (one send for several events);
    #: a mirror that was quiet for longer flushes at once.
    flush_interval = 0.0005

    def __init__(
        self,
        agent_id: str,
        *,
        history_size: int = 100,
        observer_queue_size: int = 1024,
        slow_observer_policy: SlowObserverPolicy = "gap",
        max_bytes: int = MAX_BYTES,
        framing: Framing = PLAIN,
        epoch: str | None = None,
        snapshot: Callable[[], dict[str, Any]] | None = None,
        on_observers_changed: Callable[[int], None] | None = None,
        tap: Tap | None = None,
    ) -> None:
        if history_size < 0 or observer_queue_size < 1 or max_bytes < 0:
            raise ValueError("history_size and max_bytes must be >= 0 and observer_queue_size >= 1")
        self.agent_id = agent_id
        self.history_size = history_size
        self.observer_queue_size = observer_queue_size
        self.slow_observer_policy: SlowObserverPolicy = slow_observer_policy
        self.max_bytes = max_bytes
        #: The name of this numbering; a backplane sets the one its stream already has.
        self.epoch = epoch or new_epoch()
        self._capacity = max(history_size, observer_queue_size)
        self._frames: list[bytes] = [b""] * self._capacity
        #: Bytes of the frames in the ring.
        self._bytes = 0
        #: The newest seq whose frame the ring let go (overwritten or over ``max_bytes``):
        #: an observer still needing it or anything before it was lapped.
        self._let_go = 0
        self._last_seq = 0
        #: The oldest seq the ring may still hold: 1, unless the mirror was fed from the
        #: middle of a stream or let older frames go to stay within ``max_bytes``.
        self._oldest = 1
        #: Runs of seqs the source skipped (rare: only ``ingest`` makes them), oldest first.
        self._holes: list[tuple[int, int]] = []
        #: Carries each reflected event elsewhere (a backplane); None when embedded.
        self.tap = tap
        self._framer = framing.frame
        self._unframe = framing.payload
        self._snapshot = snapshot or dict
        self._on_observers_changed = on_observers_changed
        self._cursors: dict[Observer, _Cursor] = {}
        self._pass: list[_Cursor] = []
        self._pass_pos = 0
        self._pass_started = 0.0
        self._flush_scheduled = False
        self._dirty = False
        self._loop: asyncio.AbstractEventLoop | None = None
        quoted_id = to_json(agent_id).replace("%", "%%")
        self._prefix = '{"seq":%d,"ts":%r,"agent_id":' + quoted_id + ',"type":"%s","data":'

    # -- the agent's side ---------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def kept_bytes(self) -> int:
        """Bytes of frames the ring holds now: at most ``max_bytes`` plus the newest frame."""
        return self._bytes

    @property
    def observer_count(self) -> int:
        return len(self._cursors)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop this mirror numbers and flushes on (None until its agent starts)."""
        return self._loop

    def reflect(self, type_: str, data: dict[str, Any] | None = None) -> int:
        """Number, serialise and frame the event once; schedule a flush. Returns its seq."""
        seq = self._last_seq + 1
        body = self._prefix % (seq, time.time(), type_) + to_json(data or {}) + "}"
        payload = body.encode()
        self._keep(seq, self._framer(payload))
        self._last_seq = seq
        if self._cursors:
            self._schedule_flush()
        if self.tap is not None:
            self.tap(seq, payload)
        return seq

    def ingest(self, seq: int, payload: bytes) -> bool:
        """Keep an event numbered and serialised elsewhere; False if it is not newer.

        The first event a mirror ingests sets where its history starts; a seq
        past ``last_seq + 1`` leaves a hole that observers are told about as a
        ``gap``. The tap is not called: the event came from where it would go.
        """
        last = self._last_seq
        if seq <= last:
            return False
        capacity = self._capacity
        if last == 0:
            self._oldest = seq
        elif seq > last + 1:
            for missing in range(max(last + 1, seq - capacity + 1), seq):
                self._keep(missing, b"")
            self._holes.append((last + 1, seq - 1))
            oldest = seq - capacity + 1
            self._holes = [hole for hole in self._holes if hole[1] >= oldest]
        self._keep(seq, self._framer(payload))
        self._last_seq = seq
        if self._cursors:
            self._schedule_flush()
        return True

    def _keep(self, seq: int, frame: bytes) -> None:
        """Put a frame in its slot; past ``max_bytes``, let the oldest frames go.

        The newest frame always stays, however large, so live observers get it.
        """
        frames = self._frames
        slot = seq % self._capacity
        replaced = frames[slot]
        if replaced:
            # Its seq: the last one this slot could hold before (a source's jump may
            # leave it older than one ring back).
            self._let_go = min(self._last_seq, seq - self._capacity)
        self._bytes += len(frame) - len(replaced)
        frames[slot] = frame
        if self._bytes > self.max_bytes:
            oldest = max(self._oldest, seq - self._capacity + 1)
            while self._bytes > self.max_bytes and oldest < seq:
                slot = oldest % self._capacity
                if frames[slot]:
                    self._let_go = oldest
                self._bytes -= len(frames[slot])
                frames[slot] = b""
                oldest += 1
            self._oldest = oldest

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that numbers events and flushes; the agent binds it when it starts."""
        self._loop = loop

    def reflect_threadsafe(self, type_: str, data: dict[str, Any] | None = None) -> None:
        """Reflect from a worker thread: the event is numbered on the mirror's loop."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the mirror is not bound to a loop yet; start its agent first")
        loop.call_soon_threadsafe(self.reflect, type_, data)

    # -- reading what is kept -------------------------------------------------

    def _first_kept(self, keep: int) -> int:
        return max(self._oldest, self._last_seq - keep + 1)

    def resumes(self, since: int | None, epoch: str | None) -> tuple[int | None, bool]:
        """Where to resume a client from: its ``since``, or 0 with ``reset`` when the
        seq it holds is another epoch's (no epoch given: taken as this one's)."""
        if epoch is not None and epoch != self.epoch:
            return 0, True
        return since, False

    def replay(
        self, since: int | None, limit: int | None = None, epoch: str | None = None
    ) -> Replay:
        """History after ``since`` (all kept history when None), oldest first.

        ``gap`` is the range asked for but no longer kept or, failing that, the
        first hole the source left inside the range. A ``since`` of another
        ``epoch`` replays from the start, with ``reset``.
        """
        since, reset = self.resumes(since, epoch)
        first = self._first_kept(self.history_size)
        start, gap = self._start_after(since, first)
        stop = self._last_seq if limit is None else min(self._last_seq, start + limit - 1)
        frames, capacity, unframe = self._frames, self._capacity, self._unframe
        payloads = [unframe(frames[s % capacity]) for s in range(start, stop + 1)]
        if self._holes:
            payloads = [payload for payload in payloads if payload]
            if gap is None:
                gap = next(
                    (
                        (max(lo, start), min(hi, stop))
                        for lo, hi in self._holes
                        if hi >= start and lo <= stop
                    ),
                    None,
                )
        return Replay(payloads, gap, self.epoch, reset)

    def _start_after(self, since: int | None, first: int) -> tuple[int, tuple[int, int] | None]:
        if since is None:
            return first, None
        start = max(since + 1, 1)
        if start < first:
            return first, (start, first - 1)
        return start, None

    # -- the observers' side ----------------------------------------------------

    def attach(
        self, observer: Observer, since: int | None = None, epoch: str | None = None
    ) -> None:
        """Register, then send hello, any gap and the history as one write.

        Registration and replay happen in one synchronous step, so no live
        frame can slip between them out of order. A ``since`` of another
        ``epoch`` is answered with ``"reset": true`` and the kept history from
        its start.
        """
        if observer in self._cursors:
            raise ValueError("this observer is already attached")
        self._loop = asyncio.get_running_loop()
        since, reset = self.resumes(since, epoch)
        last = self._last_seq
        self._cursors[observer] = _Cursor(observer, last + 1)
        hello: dict[str, Any] = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "agent_id": self.agent_id,
            "seq": last,
            "epoch": self.epoch,
            "snapshot": self._snapshot(),
        }
        if reset:
            hello["reset"] = True
        parts = [self._framer(to_json(hello).encode())]
        start, gap = self._start_after(since, self._first_kept(self.history_size))
        if gap is not None:
            start = self._past_holes(start)
            parts.append(self._gap_frame(gap[0], start - 1))
        parts.append(self._join(start, last))
        observer.send(b"".join(parts))
        self._observers_changed()

    def detach(self, observer: Observer) -> None:
        cursor = self._cursors.pop(observer, None)
        if cursor is not None:
            cursor.open = False
            self._observers_changed()

    def close_all(self, code: int = CLOSE_AGENT_REMOVED, reason: str = "agent removed") -> None:
        for cursor in list(self._cursors.values()):
            self.detach(cursor.observer)
            cursor.observer.close(code, reason)

    def frame(self, message: dict[str, Any]) -> bytes:
        """Frame a message that is not an event (``pong``, say) for an observer."""
        return self._framer(to_json(message).encode())

    def wake(self) -> None:
        """An observer drained: write what it missed in the next flush."""
        if self._cursors:
            self._schedule_flush()

    def _observers_changed(self) -> None:
        if self._on_observers_changed is not None:
            self._on_observers_changed(len(self._cursors))

    def _gap_frame(self, first: int, last: int) -> bytes:
        return self._framer(b'{"type":"gap","from":%d,"to":%d}' % (first, last))

    def _past_holes(self, seq: int) -> int:
        """The first seq from ``seq`` on that is not in a hole (so gaps are told as one)."""
        for lo, hi in self._holes:
            if lo <= seq <= hi:
                seq = hi + 1
        return seq

    def _join(self, start: int, last: int) -> bytes:
        """The frames of seqs ``start..last`` as one buffer, holes told as ``gap`` frames."""
        frames, capacity = self._frames, self._capacity
        if not self._holes:
            return b"".join([frames[s % capacity] for s in range(start, last + 1)])
        parts: list[bytes] = []
        cursor = start
        for lo, hi in self._holes:
            if hi < cursor or lo > last:
                continue
            parts.extend(frames[s % capacity] for s in range(cursor, lo))
            parts.append(self._gap_frame(max(lo, cursor), min(hi, last)))
            cursor = min(hi, last) + 1
        parts.extend(frames[s % capacity] for s in range(cursor, last + 1))
        return b"".join(parts)

    # -- the flush --------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            self._dirty = True
            return
        loop = self._loop
        if loop is None:
            return
        self._flush_scheduled = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Serve one slice of observers; continue the pass next iteration if any remain.

        A slice ends after ``flush_slice`` observers or ``flush_budget`` seconds,
        whichever comes first, so one loop iteration never spends much longer
        than that on fan-out: attaches and other callbacks run between slices,
        and observers served later in a pass get what arrived meanwhile in the
        same write. A pass that would start within ``flush_interval`` of the
        previous one waits for it, an iteration at a time.
        """
        loop = self._loop
        if self._pass_pos >= len(self._pass):
            now = time.perf_counter()
            if now - self._pass_started < self.flush_interval and loop is not None:
                loop.call_soon(self._flush)
                return
            self._pass_started = now
            self._pass = list(self._cursors.values())
            self._pass_pos = 0
            self._dirty = False
        self._pass_pos = self._serve(self._pass, self._pass_pos)
        if loop is not None and (self._pass_pos < len(self._pass) or self._dirty):
            loop.call_soon(self._flush)
        else:
            self._flush_scheduled = False
            self._pass = []
            self._pass_pos = 0

    def _serve(self, cursors: list[_Cursor], pos: int) -> int:
        """Write to ``cursors`` from ``pos`` on until the slice ends; returns where it stopped."""
        last = self._last_seq
        first_live = self._first_kept(self.observer_queue_size)
        shared: dict[int, bytes] = {}
        end = min(len(cursors), pos + self.flush_slice)
        clock = time.perf_counter
        deadline = clock() + self.flush_budget
        while pos < end:
            cursor = cursors[pos]
            pos += 1
            start = cursor.next_seq
            if not cursor.open or start > last:
                continue
            behind = start < first_live
            # Lapped: an event it still needed was let go. Behind only by holes the
            # source left, it missed nothing, and is told so by a gap, never closed.
            lapped = behind and start <= self._let_go
            if lapped and self.slow_observer_policy == "close":
                self.detach(cursor.observer)
                cursor.observer.close(CLOSE_TRY_AGAIN_LATER, "observer too slow")
                continue
            if cursor.observer.backlogged():
                continue
            buffer = shared.get(start)
            if buffer is None:
                if behind:
                    begin = self._past_holes(first_live)
                    buffer = self._gap_frame(start, begin - 1) + self._join(begin, last)
                else:
                    buffer = self._join(start, last)
                shared[start] = buffer
            cursor.next_seq = last + 1
            try:
                cursor.observer.send(buffer)
            except Exception:
                self.detach(cursor.observer)
            if clock() > deadline:
                break
        return pos
