"""Fixtures for the server tests: a real Jupyter server running the Terrarium extension.

Traits of ``TerrariumApp`` are set per test with ``@pytest.mark.terrarium(name=value)``,
other Jupyter configuration with ``@pytest.mark.jupyter_config({"Class": {...}})``
(on a test or a module; the closest marker wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_extension.app import TerrariumApp
from terrarium.registry import AgentRegistry
from tests.jupyter_extension.agents import Chatty, Gate
from tests.jupyter_extension.helpers import Gateway

DEFAULT_TRAITS: dict[str, Any] = {
    "demo_agents": True,
    "agents": ["tests.jupyter_extension.agents:make_test_agents"],
    "load_entry_points": False,
    # Metabolism ticks only where a test asks for them, so streams stay predictable.
    "metrics_interval": 3600.0,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "terrarium(**traits): TerrariumApp traits for the test's server"
    )
    config.addinivalue_line(
        "markers", "jupyter_config(sections): more configuration for the test's server"
    )


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    traits = dict(DEFAULT_TRAITS)
    for marker in reversed(list(request.node.iter_markers("terrarium"))):
        traits.update(marker.kwargs)
    config: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": {"jupyter_extension": True}},
        "TerrariumApp": traits,
    }
    for marker in reversed(list(request.node.iter_markers("jupyter_config"))):
        for section, values in marker.args[0].items():
            config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def extension(jp_serverapp: Any) -> TerrariumApp:
    """The running extension app."""
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_extension"]
    assert isinstance(app, TerrariumApp)
    return app


@pytest.fixture
def registry(extension: TerrariumApp) -> AgentRegistry:
    return extension.registry


@pytest.fixture
def gate(registry: AgentRegistry) -> Gate:
    handler = registry.get("gate").handler
    assert isinstance(handler, Gate)
    return handler


@pytest.fixture
def chatty(registry: AgentRegistry) -> Chatty:
    handler = registry.get("chatty").handler
    assert isinstance(handler, Chatty)
    return handler


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    value = jp_serverapp.identity_provider.token
    assert value
    return str(value)


@pytest.fixture
def gateway(
    jp_serverapp: Any, http_server: Any, jp_http_port: int, jp_base_url: str, token: str
) -> Iterator[Gateway]:
    """Opens sockets and requests against the server; closes every socket afterwards."""
    client = Gateway(port=jp_http_port, base_url=jp_base_url, token=token)
    yield client
    client.close_all()
