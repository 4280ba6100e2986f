"""The demo notebooks in ``notebooks/``, run top to bottom by nbval against a real server.

A ``jupyter terrarium`` child process (with the demo agents) serves the run;
``pytest --nbval-lax`` runs every notebook in a fresh kernel whose
environment points ``terrarium.connect()`` at it (``TERRARIUM_URL`` and
``TERRARIUM_TOKEN``), and compares the cells tagged ``nbval-check-output``
with the outputs saved in the notebook, after ``sanitize.cfg``. It runs as a
subprocess, so that nbval collects ``notebooks/`` only here: the suite's own
``testpaths`` stay ``tests``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.launcher import TOKEN, TerrariumProcess, private_env

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = Path(__file__).with_name("sanitize.cfg")
EXPECTED = (
    "living_pipeline.ipynb",
    "perturbation_experiment.ipynb",
    "purgatory.ipynb",
    "tour.ipynb",
    "your_own_agent.ipynb",
)
CHECK, IGNORE = "nbval-check-output", "nbval-ignore-output"
WIDGETS = re.compile(
    r"^(AgentView|Terrarium|PerturbConsole|PurgatoryPanel|Pipeline)\(", re.MULTILINE
)
#: The whole nbval run: five kernels and about fifty cells (each cell has its own 120 s).
RUN_TIMEOUT = 600


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def test_the_demo_notebooks_are_there() -> None:
    assert [path.name for path in notebooks()] == list(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_each_notebook_is_saved_ready_for_nbval(name: str) -> None:
    """Outputs from a real run, at least one checked cell, widgets never checked."""
    path = NOTEBOOKS / name
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    cells = code_cells(path)
    checked = [cell for cell in cells if CHECK in tags(cell)]
    assert checked, f"{name} has no cell tagged {CHECK}"
    for cell in checked:
        assert cell.outputs, f"{name}: a checked cell has no saved output:\n{cell.source}"
        assert IGNORE not in tags(cell)
    for cell in cells:
        if WIDGETS.search(cell.source):
            assert IGNORE in tags(cell), f"{name}: a widget cell must be {IGNORE}:\n{cell.source}"
        for output in cell.outputs:
            assert output.output_type != "error", f"{name}: saved with an error:\n{cell.source}"
            assert TOKEN not in str(output), f"{name}: a token in a saved output"
        if cell.outputs:
            assert cell.execution_count is not None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TerrariumProcess]:
    with TerrariumProcess(tmp_path_factory.mktemp("notebook-server")) as process:
        process.wait_healthy()
        yield process


def summary(output: str) -> dict[str, int]:
    """``{"passed": 38, "failed": 1, ...}`` from pytest's last summary line."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    assert lines, f"no pytest summary in:\n{output}"
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", lines[-1])}


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_nbval_runs_every_notebook_against_a_real_server(
    server: TerrariumProcess, tmp_path: Path
) -> None:
    env = private_env(tmp_path / "kernels")
    env.update(TERRARIUM_URL=server.url, TERRARIUM_TOKEN=TOKEN, JUPYTER_PLATFORM_DIRS="1")
    env.pop("JUPYTER_TOKEN", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(SANITIZE),
        str(NOTEBOOKS),
        "-p",
        "no:cacheprovider",
        "--color=no",
        "-q",
    ]
    run = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = run.stdout + run.stderr
    counts = summary(output)
    expected = sum(len(code_cells(path)) for path in notebooks())
    assert counts.get("failed", 0) == 0, output
    assert counts.get("error", 0) + counts.get("errors", 0) == 0, output
    assert counts.get("passed") == expected, output
    assert run.returncode == 0, output
    print(f"nbval: {expected} cells of {len(notebooks())} notebooks passed")
