"""Soak: minutes of steady mixed load on one Terrarium server; its memory, files and loop lag.

A fresh Terrarium server (the usual bench launcher, so a real Jupyter server
with the real extension) takes, for ten minutes by default:

- 200 observers of ``echo``. 40 of them reconnect in turn (one every
  0.75 s, so each every 30 s) with ``?since=`` and ``&epoch=`` of the last
  event they saw, and check that the stream carries on where they left it
  (the next seq, or a ``gap`` that says what was skipped); one of them
  sends ``{"type": "ping"}`` every half second and times the ``pong``.
- 200 perturbations a second on one Beam socket to ``echo``, each timed
  from send to reply. Each becomes two events (``perturbation`` and
  ``result``), so every observer gets about 400 events a second.

Every 10 s a line gives the elapsed time, the server's RSS and open file
descriptors (``/proc``), the loop lag seen from outside (the ping's round
trip, p50 and max over the interval) next to the server's own stall probe
(how late a 1 ms timer fired, p99), deliveries and perturbations answered
per second, and the observers the server counts (the stall probe is reset
after each reading, which also keeps its samples from piling up in the
server's memory). At the end, a table with
the least-squares slope of RSS and of open files per minute, over the whole
run and over its second half (after the start-up allocations).

The clients run in the harness process, on the clients' CPU, on their own
event loop (the soak needs clients that reconnect and resume, which the
fleet's observers do not). ``BENCH_SOAK_SECONDS`` sets the duration.
A soak takes long, so a run of every scenario leaves it out: only
``--only soak`` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bench.clients import Driver, Observer
from bench.context import BenchContext
from bench.results import Column, Table
from bench.servers import ServerHandle
from bench.stats import summarize
from bench.wsclient import WebSocketClient, connect

NAME = "soak"
TITLE = "Soak: 200 observers and 200 perturbations/s; server RSS, open files and loop lag"
#: Seconds of load; ``BENCH_SOAK_SECONDS`` overrides it.
DEFAULT_SECONDS = 600.0
SECONDS_VARIABLE = "BENCH_SOAK_SECONDS"
AGENT = "echo"
OBSERVERS = 200
#: Of the observers, how many reconnect in turn, and how often each of them does.
RESUMERS = 40
RECONNECT_EVERY = 30.0
#: Tries at a reconnect before the soak gives up (each failure is counted).
RECONNECT_ATTEMPTS = 3
RATE = 200.0
REPORT_EVERY = 10.0
PING_EVERY = 0.5
#: A ping not answered within this long counts as lost (and the next one goes out).
PING_LOST_AFTER = 5.0
PAYLOAD = {"text": "soak", "n": 1}
HOST = "127.0.0.1"
_PING = json.dumps({"type": "ping"}).encode()
_PONG = b'{"type":"pong"'

COLUMNS = [
    Column("seconds", "seconds", ".0f"),
    Column("observers", "observers"),
    Column("answered_s", "answered/s", ",.0f"),
    Column("errors", "errors"),
    Column("rtt_p99", "perturb p99 ms", ".2f"),
    Column("deliveries_s", "deliveries/s", ",.0f"),
    Column("rss_first", "RSS first MiB", ".1f"),
    Column("rss_last", "RSS last MiB", ".1f"),
    Column("rss_slope", "RSS MiB/min", "+.3f"),
    Column("rss_slope_late", "2nd half MiB/min", "+.3f"),
    Column("fds_first", "fds first"),
    Column("fds_last", "fds last"),
    Column("fds_slope", "fds/min", "+.2f"),
    Column("fds_slope_late", "2nd half fds/min", "+.2f"),
    Column("lag_p50", "lag p50 ms", ".2f"),
    Column("lag_p99", "lag p99 ms", ".2f"),
    Column("lag_max", "lag max ms", ".1f"),
    Column("stall_p99", "stall p99 ms", ".2f"),
    Column("reconnects", "reconnects"),
    Column("resume_broken", "resumes broken"),
]


def soak_seconds() -> float:
    value = os.environ.get(SECONDS_VARIABLE)
    if not value:
        return DEFAULT_SECONDS
    seconds = float(value)
    if not seconds >= REPORT_EVERY:
        raise ValueError(f"{SECONDS_VARIABLE} must be at least {REPORT_EVERY:g} seconds")
    return seconds


def slope_per_minute(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(seconds, value)`` points, per minute."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- the clients ----------------------------------------------------------------------------


@dataclass
class Track:
    """One reconnecting observer's place in the stream, kept across its connections."""

    last: int = 0
    epoch: str | None = None
    #: Frames of its earlier connections (the current one counts its own).
    frames: int = 0
    reconnects: int = 0
    gaps: int = 0
    resets: int = 0
    #: Events that were not the next seq, with no ``gap`` to say why.
    broken: int = 0


class Resumer(WebSocketClient):
    """An observer that parses every frame and checks seqs run on across reconnects."""

    parse_all = True

    def __init__(self, host: str, path: str, track: Track, pings: Pings | None = None) -> None:
        super().__init__(host, path)
        self.track = track
        self.pings = pings

    def on_message(self, payload: bytes) -> None:
        if payload.startswith(_PONG):
            if self.pings is not None:
                self.pings.answered()
            return
        message = json.loads(payload)
        track = self.track
        kind = message.get("type")
        if kind == "hello":
            track.epoch = message.get("epoch")
            if message.get("reset"):
                track.resets += 1
            if track.last == 0 or message.get("reset"):
                # A first connection (no since), or a numbering that started afresh: the
                # replayed history is not checked, the live events from here on are.
                track.last = int(message.get("seq", 0))
        elif kind == "gap":
            track.gaps += 1
            track.last = max(track.last, int(message["to"]))
        elif isinstance(message.get("seq"), int):
            seq = message["seq"]
            if seq <= track.last:
                return
            if seq != track.last + 1:
                track.broken += 1
            track.last = seq

    def path_to_resume(self) -> str:
        query: dict[str, Any] = {"since": self.track.last}
        if self.track.epoch is not None:
            query["epoch"] = self.track.epoch
        return f"{ServerHandle.observe_path(AGENT)}?{urlencode(query)}"


@dataclass
class Pings:
    """Round trips of observe-socket pings: the server's loop lag as a client sees it."""

    samples: list[float] = field(default_factory=list)
    sent_at: float | None = None
    lost: int = 0

    def send(self, client: WebSocketClient) -> None:
        now = time.perf_counter()
        if self.sent_at is not None:
            if now - self.sent_at < PING_LOST_AFTER:
                return
            self.lost += 1
        self.sent_at = now
        client.send(_PING)

    def answered(self) -> None:
        if self.sent_at is not None:
            self.samples.append(time.perf_counter() - self.sent_at)
            self.sent_at = None


@dataclass
class Beam:
    """The perturbation driver's counts: answered, errors by code, round trips."""

    sent_at: dict[str, float] = field(default_factory=dict)
    sent: int = 0
    answered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    rtts: list[float] = field(default_factory=list)
    #: Set once nothing sent waits for its reply (made when someone waits for that).
    idle: asyncio.Event | None = None

    def all_answered(self) -> asyncio.Event:
        self.idle = asyncio.Event()
        if not self.sent_at:
            self.idle.set()
        return self.idle

    def on_reply(self, reply: dict[str, Any]) -> None:
        started = self.sent_at.pop(str(reply.get("id")), None)
        if self.idle is not None and not self.sent_at:
            self.idle.set()
        if started is not None:
            self.rtts.append(time.perf_counter() - started)
        if reply.get("type") == "result":
            self.answered += 1
        else:
            code = str(reply.get("code") or reply.get("type"))
            self.errors[code] = self.errors.get(code, 0) + 1


@dataclass
class Sample:
    """One 10 s reading."""

    t: float
    rss_mib: float
    fds: int
    lag: dict[str, float]
    stall_p99: float
    deliveries_s: float
    answered_s: float
    rtt_p99: float
    observers: int
    reconnects: int


class Soak:
    """The load and the readings of one soak run, on the harness's own event loop."""

    def __init__(self, server: ServerHandle, seconds: float) -> None:
        self.server = server
        self.seconds = seconds
        self.host = f"{HOST}:{server.port}"
        self.path = server.observe_path(AGENT)
        self.steady: list[Observer] = []
        self.resumers: list[Resumer] = []
        self.pinger: Resumer | None = None
        self.pings = Pings()
        self.beam = Beam()
        self.driver: Driver | None = None
        self.samples: list[Sample] = []
        #: Every ping and perturbation round trip of the run, in seconds.
        self.all_pings: list[float] = []
        self.all_rtts: list[float] = []
        self.reconnects = 0
        self.reconnect_failures = 0
        self.lost_observers = 0
        self._stop_at = 0.0

    # -- opening, reconnecting, closing -----------------------------------------------

    async def _resumer(self, track: Track, path: str, pings: Pings | None = None) -> Resumer:
        client = await connect(lambda: Resumer(self.host, path, track, pings), self.server.port)
        assert isinstance(client, Resumer)
        return client

    async def open(self) -> None:
        gate = asyncio.Semaphore(64)

        async def steady() -> None:
            async with gate:
                client = await connect(
                    lambda: Observer(self.host, self.path, sink=[]), self.server.port
                )
                assert isinstance(client, Observer)
                self.steady.append(client)

        async def resuming(index: int) -> None:
            async with gate:
                pings = self.pings if index == 0 else None
                self.resumers.append(await self._resumer(Track(), self.path, pings))

        await asyncio.gather(
            *(steady() for _ in range(OBSERVERS - RESUMERS)),
            *(resuming(index) for index in range(RESUMERS)),
        )
        self.pinger = next(client for client in self.resumers if client.pings is not None)
        headers = [("Authorization", f"token {self.server.token}")]
        path = self.server.perturb_path(AGENT)
        driver = await connect(lambda: Driver(self.host, path, headers), self.server.port)
        assert isinstance(driver, Driver)
        driver.on_reply = self.beam.on_reply
        self.driver = driver

    async def reconnect(self, index: int) -> None:
        old = self.resumers[index]
        track = old.track
        track.frames += old.frames
        old.close()
        for attempt in range(RECONNECT_ATTEMPTS):
            try:
                new = await self._resumer(track, old.path_to_resume(), old.pings)
                break
            except (OSError, ConnectionError):
                self.reconnect_failures += 1
                if attempt + 1 == RECONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5)
        track.reconnects += 1
        self.reconnects += 1
        self.resumers[index] = new
        if old is self.pinger:
            self.pinger = new
            self.pings.sent_at = None  # its ping left with the old connection

    async def close(self) -> None:
        clients: list[WebSocketClient] = [*self.steady, *self.resumers]
        if self.driver is not None:
            clients.append(self.driver)
        for client in clients:
            client.close()
        if clients:
            waiting = asyncio.gather(*(c.closed for c in clients), return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting, 10)

    # -- what runs during the soak ------------------------------------------------------

    def deliveries(self) -> int:
        steady = sum(client.frames for client in self.steady)
        return steady + sum(client.track.frames + client.frames for client in self.resumers)

    async def _perturb(self) -> None:
        driver = self.driver
        assert driver is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() < self._stop_at:
            due = int((loop.time() - started) * RATE)
            while self.beam.sent < due:
                cid = driver.request(PAYLOAD, wait=False)
                self.beam.sent_at[cid] = time.perf_counter()
                self.beam.sent += 1
            await asyncio.sleep(0.005)

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        every = RECONNECT_EVERY / RESUMERS
        index = 0
        while loop.time() + every < self._stop_at:
            await asyncio.sleep(every)
            await self.reconnect(index)
            index = (index + 1) % RESUMERS

    async def _ping(self) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < self._stop_at:
            if self.pinger is not None:
                self.pings.send(self.pinger)
            await asyncio.sleep(PING_EVERY)

    async def _report(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        server = self.server
        last_deliveries, last_answered, last_t = self.deliveries(), self.beam.answered, started
        tick = 1
        while True:
            await asyncio.sleep(max(0.0, started + tick * REPORT_EVERY - loop.time()))
            now = loop.time()
            deliveries, answered = self.deliveries(), self.beam.answered
            pings, self.pings.samples = self.pings.samples, []
            rtts, self.beam.rtts = self.beam.rtts, []
            self.all_pings += pings
            self.all_rtts += rtts
            # Off the loop: the readings block for a moment, the clients must not.
            stats = await loop.run_in_executor(None, server.bench, "stats")
            await loop.run_in_executor(None, server.bench, "reset")
            observers = await loop.run_in_executor(None, self._observers_listed)
            span = now - last_t
            lag = summarize(pings, 1e3)
            sample = Sample(
                t=now - started,
                rss_mib=server.rss_kib() / 1024,
                fds=open_files(server.pid),
                lag=lag,
                stall_p99=float(stats["stall_ms"]["p99"]),
                deliveries_s=(deliveries - last_deliveries) / span,
                answered_s=(answered - last_answered) / span,
                rtt_p99=summarize(rtts, 1e3)["p99"],
                observers=observers,
                reconnects=self.reconnects,
            )
            self.samples.append(sample)
            print(_line(sample, self.beam, self.pings.lost), flush=True)
            last_deliveries, last_answered, last_t = deliveries, answered, now
            tick += 1
            if now >= self._stop_at - 0.5:
                return

    def _observers_listed(self) -> int:
        import urllib.request

        url = f"http://{self.host}/terrarium/api/agents/{AGENT}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(json.load(response)["observers"])

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await self.open()
        started = loop.time()
        self._stop_at = started + self.seconds
        tasks = [
            loop.create_task(self._perturb()),
            loop.create_task(self._reconnect()),
            loop.create_task(self._ping()),
        ]
        try:
            await self._report(started)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Replies still on their way: a bounded wait, so "answered" counts them.
            if self.beam.sent_at:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.beam.all_answered().wait(), 10)
            await self.close()


def _line(sample: Sample, beam: Beam, lost_pings: int) -> str:
    errors = sum(beam.errors.values())
    return (
        f"  {sample.t:5.0f} s  RSS {sample.rss_mib:6.1f} MiB  fds {sample.fds:4d}  "
        f"lag p50 {sample.lag['p50']:5.2f} max {sample.lag['max']:6.1f} ms  "
        f"stall p99 {sample.stall_p99:5.2f} ms  "
        f"deliveries {sample.deliveries_s:8,.0f}/s  answered {sample.answered_s:5.0f}/s "
        f"(p99 {sample.rtt_p99:5.2f} ms, {errors} errors)  observers {sample.observers}  "
        f"reconnects {sample.reconnects}" + (f"  lost pings {lost_pings}" if lost_pings else "")
    )


def _row(soak: Soak) -> dict[str, Any]:
    samples = soak.samples
    if not samples:
        return {}
    rss = [(s.t, s.rss_mib) for s in samples]
    fds = [(s.t, float(s.fds)) for s in samples]
    half = samples[-1].t / 2
    late = [s for s in samples if s.t >= half]
    lag = summarize(soak.all_pings, 1e3)
    total = samples[-1].t
    tracks = [client.track for client in soak.resumers]
    return {
        "seconds": total,
        "observers": OBSERVERS,
        "answered_s": soak.beam.answered / total,
        "sent": soak.beam.sent,
        "answered": soak.beam.answered,
        "unanswered": len(soak.beam.sent_at),
        "errors": sum(soak.beam.errors.values()),
        "errors_by_code": soak.beam.errors,
        "rtt_p99": summarize(soak.all_rtts, 1e3)["p99"],
        "deliveries_s": sum(s.deliveries_s for s in samples) / len(samples),
        "rss_first": samples[0].rss_mib,
        "rss_last": samples[-1].rss_mib,
        "rss_slope": slope_per_minute(rss),
        "rss_slope_late": slope_per_minute([(s.t, s.rss_mib) for s in late]),
        "fds_first": samples[0].fds,
        "fds_last": samples[-1].fds,
        "fds_slope": slope_per_minute(fds),
        "fds_slope_late": slope_per_minute([(s.t, float(s.fds)) for s in late]),
        "lag_p50": lag["p50"],
        "lag_p99": lag["p99"],
        "lag_max": lag["max"],
        "pings": lag["count"],
        "lost_pings": soak.pings.lost,
        "stall_p99": max(s.stall_p99 for s in samples),
        "reconnects": soak.reconnects,
        "reconnect_failures": soak.reconnect_failures,
        "resume_broken": sum(track.broken for track in tracks),
        "resume_gaps": sum(track.gaps for track in tracks),
        "resume_resets": sum(track.resets for track in tracks),
        "series": [
            {
                "t": s.t,
                "rss_mib": s.rss_mib,
                "fds": s.fds,
                "lag_ms": s.lag,
                "stall_p99_ms": s.stall_p99,
                "deliveries_s": s.deliveries_s,
                "answered_s": s.answered_s,
                "rtt_p99_ms": s.rtt_p99,
                "observers": s.observers,
            }
            for s in samples
        ],
    }


def run(context: BenchContext) -> Table:
    table = Table(NAME, TITLE, COLUMNS)
    seconds = soak_seconds()
    print(
        f"Soak for {seconds:g} s ({SECONDS_VARIABLE} sets it): {OBSERVERS} observers of "
        f"{AGENT} ({RESUMERS} reconnecting with ?since= every {RECONNECT_EVERY:g} s), "
        f"{RATE:g} perturbations/s; a line every {REPORT_EVERY:g} s.",
        flush=True,
    )
    with context.server("terrarium") as server:
        soak = Soak(server, seconds)
        asyncio.run(soak.run())
    row = _row(soak)
    if row:
        table.rows.append(row)
    table.notes += [
        f"lag = round trip of an observe ping ({PING_EVERY:g} s apart) to its pong, seen from",
        f"outside, over the whole run ({row.get('pings', 0)} pings, "
        f"{row.get('lost_pings', 0)} lost); stall p99 = the server's own 1 ms timer probe,",
        "its worst 10 s interval. Slopes: least squares over the 10 s readings (the whole",
        "run, and its second half, after the start-up allocations).",
        "resumes broken = events after a ?since= reconnect that were not the next seq, with",
        f"no gap to say why ({row.get('resume_gaps', 0)} gaps, "
        f"{row.get('resume_resets', 0)} epoch resets, "
        f"{row.get('reconnect_failures', 0)} failed reconnects).",
        f"perturbations: {row.get('sent', 0):,} sent, {row.get('answered', 0):,} answered, "
        f"errors {row.get('errors_by_code', {})}, "
        f"{row.get('unanswered', 0)} unanswered at the end.",
    ]
    return table
