"""The Terrarium Jupyter server extension: the Reflection, the Beam and the REST routes."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_extension.app import TerrariumApp

    return [{"module": "jupyter_extension.app", "app": TerrariumApp}]
