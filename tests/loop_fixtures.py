"""In-process tests count loop iterations; the mirror's time limits would shift them.

On a slow machine a 100 µs slice can end after one observer, and passes
closer than the flush interval wait: both would make the number of loop
iterations a test needs depend on the machine. The ``conftest.py`` of each
folder of in-process tests takes this fixture, which turns them off; they are
tested on their own (``tests/core/test_mirror.py``), where each test sets them
on its mirror.
"""

from __future__ import annotations

import pytest

from terrarium.mirror import HolographicBuffer


@pytest.fixture(autouse=True)
def flush_without_time_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HolographicBuffer, "flush_interval", 0.0)
    monkeypatch.setattr(HolographicBuffer, "flush_budget", 3600.0)
