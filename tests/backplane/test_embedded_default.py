"""The embedded default stays as it was: no Redis unless a URL is given."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jupyter_extension.app import TerrariumApp
from jupyter_extension.backplane import make_bus
from terrarium.backplane.settings import BackplaneSettings
from terrarium.bus import LocalBus
from terrarium.registry import AgentRegistry


def test_without_a_url_nothing_imports_redis() -> None:
    code = (
        "import sys, jupyter_extension.app, terrarium, terrarium.registry\n"
        "print(any(m == 'redis' or m.startswith('redis.') for m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "False"


def test_the_bus_is_local_unless_a_url_is_set() -> None:
    import logging

    registry = AgentRegistry()
    bus = make_bus(BackplaneSettings(), registry, logging.getLogger("test"))
    assert isinstance(bus, LocalBus)
    assert registry.membership is None
    assert bus.describe({"id": "x"}) == {"id": "x"}


def test_the_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERRARIUM_REDIS_URL", "redis://example:6379/1")
    assert TerrariumApp().redis_url == "redis://example:6379/1"
    monkeypatch.delenv("TERRARIUM_REDIS_URL")
    assert TerrariumApp().redis_url == ""
