"""The client process: every observer, attach probe and driver of a run, on one CPU.

The harness starts one fleet process (pinned to the clients' CPU) and calls
its operations through a pipe: ``Fleet.call("observe", ...)`` runs
``FleetWorker.op_observe(...)`` on the fleet's event loop and returns its
result. Figures that need the clients' clock (frame counts, latencies,
attach and round-trip times) are taken in here, next to the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from bench.clients import AttachProbe, Driver, Observer, Sink
from bench.pacing import PacedSelector
from bench.procs import pin, raise_fd_limit
from bench.stats import summarize
from bench.wsclient import WebSocketClient, connect

HOST = "127.0.0.1"
#: Handshakes in flight at once: below Tornado's listen backlog of 128.
CONNECT_CONCURRENCY = 64
#: Receive buffer of a stalled observer: small, so the server's side fills up quickly.
STALLED_RCVBUF = 4096


@dataclass(eq=False)
class Group:
    """Observers opened together and read the same way, with their latency samples."""

    members: list[Observer] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def frames(self) -> int:
        return sum(member.frames for member in self.members)


async def _close_all(clients: list[WebSocketClient], limit: float = 10.0) -> None:
    for client in clients:
        client.close()
    if clients:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(client.closed for client in clients), return_exceptions=True),
                limit,
            )


class FleetWorker:
    """The operations the harness may call; each returns plain, picklable data."""

    def __init__(self, selector: PacedSelector) -> None:
        self.selector = selector
        self.sinks: list[Sink] = []
        self.groups: dict[str, Group] = {}
        self.driver: Driver | None = None

    # -- observers ----------------------------------------------------------------

    async def op_observe(
        self, name: str, port: int, path: str, count: int, stall: bool = False
    ) -> dict[str, Any]:
        """Open ``count`` observers into group ``name``; returns once every handshake is done."""
        group = self.groups.setdefault(name, Group())
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        rcvbuf = STALLED_RCVBUF if stall else None
        host = f"{HOST}:{port}"

        async def open_one() -> Observer:
            async with gate:
                client = await connect(
                    lambda: Observer(host, path, sink=group.latencies, stall=stall),
                    port,
                    rcvbuf=rcvbuf,
                )
                assert isinstance(client, Observer)
                group.members.append(client)
                return client

        started = time.perf_counter()
        results = await asyncio.gather(*(open_one() for _ in range(count)), return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {count} observers failed: {failures[0]!r}")
        return {"opened": count, "seconds": time.perf_counter() - started}

    async def op_sink(self, port: int, count: int) -> int:
        """Open ``count`` plain TCP connections that only read (for ``bench.send_floor``)."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one() -> None:
            async with gate:
                _, sink = await loop.create_connection(Sink, HOST, port)
                self.sinks.append(sink)

        await asyncio.gather(*(open_one() for _ in range(count)))
        return len(self.sinks)

    async def op_close_sinks(self) -> int:
        """Close the sinks; returns the bytes they received."""
        received = sum(sink.received for sink in self.sinks)
        for sink in self.sinks:
            sink.close()
        self.sinks.clear()
        return received

    async def op_snapshot(self, names: list[str]) -> dict[str, float]:
        """Frames received so far by the groups, the fleet's clock and its CPU time."""
        return {
            "t": time.perf_counter(),
            "frames": sum(self.groups[name].frames() for name in names),
            "cpu": time.process_time(),
        }

    async def op_per_member(self, name: str) -> list[int]:
        return [member.frames for member in self.groups[name].members]

    async def op_drain(self, names: list[str], quiet: float = 0.3, limit: float = 20.0) -> bool:
        """Wait until the groups have received nothing for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        last, still_since = -1, loop.time()
        while loop.time() < deadline:
            total = sum(self.groups[name].frames() for name in names)
            if total != last:
                last, still_since = total, loop.time()
            elif loop.time() - still_since >= quiet:
                return True
            await asyncio.sleep(0.05)
        return False

    async def op_sampling(self, name: str, every: int) -> None:
        """Sample one frame in ``every`` per observer (staggered), from a clean slate."""
        group = self.groups[name]
        group.latencies.clear()
        for index, member in enumerate(group.members):
            member.sample(every, index % every if every else 0)

    async def op_latency(self, name: str) -> dict[str, float]:
        """Latency percentiles in milliseconds over the samples taken so far."""
        return summarize(self.groups[name].latencies, 1e3)

    async def op_close(self, name: str) -> None:
        group = self.groups.pop(name, None)
        if group is not None:
            await _close_all(list(group.members))

    # -- attaches -------------------------------------------------------------------

    async def op_attach(self, port: int, path: str, count: int, budget: float) -> list[list[float]]:
        """Up to ``count`` sequential attaches within ``budget`` seconds.

        Returns [handshake ms, attach ms, replayed events] for each.
        """
        host = f"{HOST}:{port}"
        records: list[list[float]] = []
        deadline = time.perf_counter() + budget
        for _ in range(count):
            if time.perf_counter() > deadline:
                break
            probe = await connect(lambda: AttachProbe(host, path), port)
            assert isinstance(probe, AttachProbe)
            try:
                await asyncio.wait_for(probe.done, 10)
            finally:
                probe.close()
            records.append(
                [
                    (probe.upgraded_at - probe.started) * 1e3,
                    (probe.done_at - probe.started) * 1e3,
                    probe.replayed,
                ]
            )
            await _close_all([probe], 2)
        return records

    # -- the perturb socket ------------------------------------------------------------

    async def op_driver(self, port: int, path: str, token: str) -> None:
        await self.op_close_driver()
        host = f"{HOST}:{port}"
        headers = [("Authorization", f"token {token}")]
        driver = await connect(lambda: Driver(host, path, headers), port)
        assert isinstance(driver, Driver)
        self.driver = driver

    async def op_close_driver(self) -> None:
        if self.driver is not None:
            await _close_all([self.driver], 5)
            self.driver = None

    def _driver(self) -> Driver:
        if self.driver is None:
            raise RuntimeError("no perturb socket: call driver first")
        return self.driver

    async def op_send(self, data: Any) -> str:
        """Send one request without waiting; ``wait`` collects its reply."""
        return self._driver().request(data)

    async def op_wait(self, cid: str, limit: float = 60.0) -> dict[str, Any]:
        future = self._driver().replies.get(cid)
        if future is None:
            raise KeyError(f"no request {cid} was sent")
        reply = await asyncio.wait_for(future, limit)
        del self._driver().replies[cid]
        return reply

    async def op_round_trips(self, count: int, data: Any, raw: bool = False) -> dict[str, Any]:
        """``count`` sequential requests; round-trip percentiles in milliseconds.

        With ``raw`` the round trips themselves (ms) come back too, under ``samples``.
        """
        driver = self._driver()
        times: list[float] = []
        errors: list[str] = []
        for _ in range(count):
            started = time.perf_counter()
            cid = driver.request(data)
            reply = await asyncio.wait_for(driver.replies[cid], 30)
            del driver.replies[cid]
            times.append(time.perf_counter() - started)
            if reply.get("type") != "result":
                errors.append(str(reply.get("code") or reply.get("message")))
        summary = {**summarize(times, 1e3), "errors": len(errors), "first_error": errors[:1]}
        if raw:
            summary["samples"] = [1e3 * seconds for seconds in times]
        return summary

    async def op_pipelined(self, total: int, window: int, data: Any) -> dict[str, Any]:
        """``total`` requests with ``window`` in flight on one socket; requests per second."""
        driver = self._driver()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        counts = {"sent": 0, "received": 0}
        errors: list[str] = []

        def send_one() -> None:
            counts["sent"] += 1
            driver.request(data, wait=False)

        def on_reply(reply: dict[str, Any]) -> None:
            counts["received"] += 1
            if reply.get("type") != "result":
                errors.append(str(reply.get("code") or reply.get("message")))
            if counts["sent"] < total:
                send_one()
            elif counts["received"] >= total and not done.done():
                done.set_result(None)

        driver.on_reply = on_reply
        started = time.perf_counter()
        try:
            for _ in range(min(window, total)):
                send_one()
            await asyncio.wait_for(done, 120)
        finally:
            driver.on_reply = None
        seconds = time.perf_counter() - started
        return {
            "count": total,
            "window": window,
            "seconds": seconds,
            "per_s": total / seconds,
            "errors": len(errors),
            "first_error": errors[:1],
        }

    async def op_pace(self, seconds: float) -> None:
        """Read in batches, waiting ``seconds`` before each poll (0: read eagerly again)."""
        self.selector.pace = seconds

    async def op_realtime(self) -> bool:
        """Run this process under SCHED_FIFO, so it preempts other work on its core when woken.

        For a probe that times single events: another process's batch of reads
        on the same core would otherwise add up to a scheduler slice to the
        figure. False where the policy is not permitted (not root, no such call).
        """
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except (AttributeError, OSError):
            return False
        return True

    async def op_ping(self) -> str:
        return "pong"

    async def close(self) -> None:
        for name in list(self.groups):
            await self.op_close(name)
        await self.op_close_driver()
        await self.op_close_sinks()


async def _serve(conn: Connection, selector: PacedSelector) -> None:
    worker = FleetWorker(selector)
    loop = asyncio.get_running_loop()
    try:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message is None:
                break
            op, kwargs = message
            try:
                result = await getattr(worker, f"op_{op}")(**kwargs)
            except Exception as error:
                conn.send(("error", f"{op}: {type(error).__name__}: {error}"))
                traceback.print_exc()
            else:
                conn.send(("ok", result))
    finally:
        await worker.close()


def run_fleet(conn: Connection, cpu: int | None) -> None:
    """Entry point of the client process."""
    pin(cpu)
    raise_fd_limit()
    selector = PacedSelector()
    loop = asyncio.SelectorEventLoop(selector)
    # Investigation aid: BENCH_PROFILE_CLIENTS=FILE writes the clients' cProfile stats at exit.
    profile_to = os.environ.get("BENCH_PROFILE_CLIENTS")
    profiler = cProfile.Profile() if profile_to else None
    if profiler is not None:
        profiler.enable()
    try:
        loop.run_until_complete(_serve(conn, selector))
    finally:
        loop.close()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile_to))


class FleetError(RuntimeError):
    """An operation failed inside the client process."""


class Fleet:
    """The harness's handle on the client process; a context manager that always stops it."""

    def __init__(self, cpu: int | None) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=run_fleet, args=(child, cpu), name="bench-fleet", daemon=True
        )

    def __enter__(self) -> Fleet:
        self._process.start()
        self.call("ping", timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def call(self, op: str, timeout: float = 180.0, **kwargs: Any) -> Any:
        self._conn.send((op, kwargs))
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.2):
            if not self._process.is_alive():
                raise FleetError(f"the client process died during {op}")
            if time.monotonic() > deadline:
                raise FleetError(f"{op} did not answer within {timeout:g} s")
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError) as error:
            raise FleetError(f"the client process went away during {op}") from error
        if status != "ok":
            raise FleetError(value)
        return value

    def stop(self) -> None:
        """Ask the fleet to close its sockets and exit; terminate, then kill, if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
