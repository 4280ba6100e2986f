"""Unit tests count loop iterations; the mirror's coalescing interval would shift them.

The interval is turned off here and tested on its own (``test_mirror.py``,
the ``flush_interval`` tests), where each test sets it on its mirror.
"""

from __future__ import annotations

import pytest

from terrarium.mirror import HolographicBuffer


@pytest.fixture(autouse=True)
def flush_every_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HolographicBuffer, "flush_interval", 0.0)
