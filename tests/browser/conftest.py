"""Real browser tests: Playwright drives Debian's Chromium against a real JupyterLab.

The browser is never downloaded: it is ``/usr/bin/chromium`` (``apt-get
install chromium``). Without it these tests skip, unless
``TERRARIUM_REQUIRE_BROWSER=1`` (CI sets it), where they fail.

Screenshots go to each test's ``tmp_path`` and are copied to
``tests/browser/artifacts/`` (git-ignored), where a person can look at them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.pages import CHROMIUM, Screenshots
from tests.launcher import LabProcess

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; skip without it, but fail where it is required (CI)."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"{CHROMIUM} is missing: apt-get install chromium"
    if os.environ.get("TERRARIUM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message} (TERRARIUM_REQUIRE_BROWSER=1)")
    pytest.skip(message)


def serve_notebooks(home: Path, *, demo_agents: bool) -> Iterator[LabProcess]:
    root = home / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    process = LabProcess(home, root_dir=root, demo_agents=demo_agents)
    with process:  # started, and stopped however the tests end
        process.wait_healthy()
        yield process


@pytest.fixture(scope="module")
def lab(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    """``jupyter lab`` with the extension and the demo agents, over a copy of notebooks/."""
    yield from serve_notebooks(tmp_path_factory.mktemp("lab"), demo_agents=True)


@pytest.fixture(scope="module")
def plain_lab(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    """A plain ``jupyter lab``: the extension is on (as installed) but serves no agent."""
    yield from serve_notebooks(tmp_path_factory.mktemp("plain-lab"), demo_agents=False)


@pytest.fixture
def screenshots(tmp_path: Path) -> Screenshots:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return Screenshots(folder)
