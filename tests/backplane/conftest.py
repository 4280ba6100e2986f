"""Fixtures for the backplane tests: a real Redis, and pairs of real gateway replicas.

Replica ``a`` runs the demo agents (it owns them); replica ``b`` runs none
and reaches them through Redis. Heartbeats expire after 2 s here, so a killed
owner is noticed quickly; nothing waits on that figure as an assertion.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backplane.servers import RedisServer, replica, require_redis, wait_healthy
from tests.jupyter_extension.helpers import Gateway
from tests.launcher import TOKEN, TerrariumProcess

HEARTBEAT_TTL = "--TerrariumApp.redis_heartbeat_ttl=2"


@dataclass
class Pair:
    """Two replicas sharing one Redis, and a client for each."""

    home: Path
    redis: RedisServer
    a: TerrariumProcess
    b: TerrariumProcess

    def gateway(self, process: TerrariumProcess) -> Gateway:
        return Gateway(port=process.port, base_url="/", token=TOKEN)

    def restart_b(self) -> None:
        self.b.stop()
        self.b = replica(
            self.home,
            self.redis,
            "b",
            "--TerrariumApp.demo_agents=False",
            HEARTBEAT_TTL,
            port=self.b.port,
        ).start()
        wait_healthy(self.b)

    def stop(self) -> None:
        for process in (self.b, self.a):
            process.stop()
        self.redis.stop()


def start_pair(home: Path) -> Pair:
    redis = RedisServer(home / "redis").start()
    a = replica(home, redis, "a", HEARTBEAT_TTL).start()
    b = replica(home, redis, "b", "--TerrariumApp.demo_agents=False", HEARTBEAT_TTL).start()
    pair = Pair(home, redis, a, b)
    try:
        wait_healthy(a)
        wait_healthy(b)
    except BaseException:
        pair.stop()
        raise
    return pair


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One pair for the tests that leave it as they found it."""
    require_redis()
    pair = start_pair(tmp_path_factory.mktemp("pair"))
    yield pair
    pair.stop()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """A pair of its own, for a test that restarts or kills something."""
    require_redis()
    pair = start_pair(tmp_path)
    yield pair
    pair.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
