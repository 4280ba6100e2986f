"""The client against a real Jupyter server: the server tests' own fixtures and markers."""

from tests.jupyter_extension.conftest import (
    chatty,
    extension,
    gate,
    gateway,
    jp_server_config,
    pytest_configure,
    registry,
    token,
)

__all__ = [
    "chatty",
    "extension",
    "gate",
    "gateway",
    "jp_server_config",
    "pytest_configure",
    "registry",
    "token",
]
