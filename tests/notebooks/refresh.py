"""Re-run the demo notebooks against a fresh demo server and save them with their outputs.

``uv run python -m tests.notebooks.refresh [notebooks/NAME.ipynb ...]`` (default:
all of them). What nbval compares is what this saves, so run it after changing
a notebook. Widget views are not saved (they only live with a kernel), nor is
widget state (it would carry the whole JavaScript bundle).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.launcher import TOKEN, TerrariumProcess
from tests.notebooks.test_notebooks import NOTEBOOKS

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def refresh(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs if WIDGET_VIEW not in out.get("data", {})]
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    print(f"saved {path}")


def main(argv: list[str]) -> None:
    paths = [Path(arg) for arg in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as home, TerrariumProcess(Path(home)) as server:
        server.wait_healthy()
        os.environ.update(TERRARIUM_URL=server.url, TERRARIUM_TOKEN=TOKEN)
        for path in paths:
            refresh(path)


if __name__ == "__main__":
    main(sys.argv[1:])
