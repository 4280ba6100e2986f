"""How big and how long: the full run and the ``--quick`` smoke run.

The full run is sized to finish in about five minutes on a 2-vCPU machine;
the quick one in a little over a minute, with N = 1 and 100 only, shorter
windows, fewer stalled-observer runs, and no cross-replica scenario.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    #: Observer counts of the saturation and attach scenarios.
    observers: tuple[int, ...]
    #: Seconds of emission before a saturation window opens, and the window itself.
    warmup: float
    window: float
    #: Saturation clients wait this long before a poll that follows one with many sockets
    #: ready, so one read takes many frames and the clients' core is not the limit
    #: (``bench.pacing``).
    read_pace: float = 0.002
    #: Characters of ``output`` per event: 84 makes a ~204-byte event, the size the
    #: mirror was designed around.
    event_bytes: int = 84
    #: Fixed-rate latency (T3): observers, events per second, seconds sampled.
    latency_observers: int = 100
    latency_rate: float = 1000.0
    latency_seconds: float = 5.0
    #: Each observer json-parses one frame in this many for latency.
    sample_every: int = 10
    #: Sequential attaches per observer count (T5), and the deliveries per second
    #: the background stream is capped at while they happen.
    attaches: int = 100
    attach_budget: float = 5.0
    attach_stream_deliveries: float = 100_000.0
    attach_stream_rate: float = 1000.0
    #: Idle observers for the RSS-per-observer figure (T6), and seconds to settle
    #: before each RSS reading.
    idle_observers: int = 1000
    idle_settle: float = 1.0
    #: Stalled observers (T4): how many per run, next to how many healthy ones, for how long,
    #: and the event size. Larger than 200 bytes: the kernel holds the first ~3 MB a
    #: stalled reader does not take, so with 200-byte events a baseline too slow for
    #: 1,000 events/s would show no growth at all within 20 s.
    stalled_counts: tuple[int, ...] = (0, 1, 10)
    stalled_healthy: int = 100
    stalled_seconds: float = 20.0
    stalled_event_bytes: int = 1024
    #: Streaming before the first RSS reading: Terrarium's live ring (1,024 events) is
    #: full by then, so what grows afterwards is not the ring filling up.
    stalled_warmup: float = 2.0
    #: /perturb (T8): sequential round trips, then pipelined requests and the window in flight.
    round_trips: int = 2000
    pipelined: int = 20_000
    pipeline_window: int = 256
    #: Scenarios this profile leaves out unless asked for by ``--only``.
    #: The soak runs ten minutes and judges no target: always on its own.
    skipped: tuple[str, ...] = ("soak",)


FULL = Profile(name="full", observers=(1, 10, 100, 1000), warmup=0.5, window=1.5)

QUICK = Profile(
    name="quick",
    observers=(1, 100),
    warmup=0.25,
    window=0.5,
    latency_seconds=1.0,
    attaches=30,
    attach_budget=2.0,
    idle_observers=300,
    idle_settle=0.3,
    stalled_counts=(0, 10),
    stalled_seconds=3.0,
    stalled_event_bytes=4096,
    stalled_warmup=1.2,
    round_trips=500,
    pipelined=5000,
    # It judges no target, and a Redis and two replicas take most of its 20 s to start.
    skipped=("cross_replica", "soak"),
)
