"""Run the widgets' JavaScript unit tests (``npm test`` in js/) and check they passed.

Skipped where Node.js is missing, unless ``TERRARIUM_REQUIRE_NODE=1`` (set in
CI), where a missing Node.js is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "js"
REQUIRE_NODE = os.environ.get("TERRARIUM_REQUIRE_NODE") == "1"


def _summary(output: str, name: str) -> int | None:
    match = re.search(rf"^# {name} (\d+)\s*$", output, re.MULTILINE)
    return int(match.group(1)) if match else None


def test_javascript_unit_tests_pass() -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        message = "Node.js and npm are needed for the JavaScript unit tests"
        if REQUIRE_NODE:
            pytest.fail(f"{message} (TERRARIUM_REQUIRE_NODE=1)")
        pytest.skip(message)

    result = subprocess.run(
        [npm, "test", "--silent"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr

    passed, failed = _summary(output, "pass"), _summary(output, "fail")
    assert passed is not None and failed is not None, f"no TAP summary in:\n{output}"
    assert result.returncode == 0, f"npm test exited {result.returncode}:\n{output}"
    assert failed == 0, f"{failed} JavaScript test(s) failed:\n{output}"
    assert passed > 0, f"no JavaScript tests ran:\n{output}"
