"""Build the browser side with npm whenever the package is built.

Two builds, each from its own npm project, both run for every target, the
editable install that ``uv sync`` makes included, so a fresh clone gets them
without a separate step:

- ``js/``: the widget and dashboard bundles, ``terrarium/static/*.js`` and
  ``jupyter_extension/static/dashboard.js`` (esbuild);
- ``labextension/``: the prebuilt JupyterLab extension ``@terrarium/jupyterlab``
  in ``labextension/prebuilt/`` (TypeScript, then ``jupyter-builder build``),
  which the wheel installs as shared data in
  ``share/jupyter/labextensions/@terrarium/jupyterlab``.

Everything built is git-ignored and shipped as artifacts (see
``[tool.hatch.build]`` and the wheel's ``shared-data`` in pyproject.toml).
``jupyter-builder`` (the Python side of JupyterLab's extension builder) is a
build requirement, so it runs from the build environment: no JupyterLab needs
to be installed to build the package.

Set ``TERRARIUM_SKIP_JS_BUILD=1`` to use what is already built (a machine
without Node.js, with the bundles and the extension built elsewhere).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLES = (
    "terrarium/static/agent_view.js",
    "terrarium/static/terrarium_grid.js",
    "terrarium/static/perturb_console.js",
    "terrarium/static/purgatory_panel.js",
    "terrarium/static/pipeline.js",
    "terrarium/static/terrarium.css",
    "jupyter_extension/static/dashboard.js",
)

#: The JupyterLab extension's npm project, and where `jupyter-builder build` writes it.
LABEXTENSION = "labextension"
LABEXTENSION_OUTPUT = "labextension/prebuilt"


def labextension_missing(root: Path) -> list[str]:
    """What a complete prebuilt extension lacks: its package.json and the entry it names."""
    package = root / LABEXTENSION_OUTPUT / "package.json"
    if not package.is_file():
        return [f"{LABEXTENSION_OUTPUT}/package.json"]
    try:
        load = json.loads(package.read_text())["jupyterlab"]["_build"]["load"]
    except (ValueError, KeyError, TypeError):
        return [f"{LABEXTENSION_OUTPUT}/package.json (no jupyterlab._build.load)"]
    entry = f"{LABEXTENSION_OUTPUT}/{load}"
    return [] if (root / entry).is_file() else [entry]


class JavaScriptBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        skip = os.environ.get("TERRARIUM_SKIP_JS_BUILD") == "1"
        self._widgets(root, skip)
        self._labextension(root, skip)

    def _widgets(self, root: Path, skip: bool) -> None:
        js = root / "js"

        def missing() -> list[str]:
            return [name for name in BUNDLES if not (root / name).is_file()]

        if not (js / "package.json").is_file():
            # Building from an sdist: it carries the bundles, not the sources.
            if missing():
                raise RuntimeError(
                    f"terrarium: no js/ sources to build and bundles are missing: {missing()}"
                )
            return
        if skip:
            if missing():
                raise RuntimeError(
                    "terrarium: TERRARIUM_SKIP_JS_BUILD=1 but these bundles are missing: "
                    f"{missing()}; build them with `npm ci && npm run build` in js/"
                )
            self.app.display_info("terrarium: TERRARIUM_SKIP_JS_BUILD=1, using existing bundles")
            return
        npm = self._require_npm("to bundle the widgets (js/ -> terrarium/static/)")
        if not (js / "node_modules").is_dir():
            self._npm(npm, js, "ci", "--no-audit", "--no-fund")
        self._npm(npm, js, "run", "build")
        if missing():
            raise RuntimeError(f"terrarium: npm run build did not produce {missing()}")

    def _labextension(self, root: Path, skip: bool) -> None:
        project = root / LABEXTENSION
        if not (project / "package.json").is_file():
            # Building from an sdist: it carries the prebuilt extension, not the sources.
            if labextension_missing(root):
                raise RuntimeError(
                    f"terrarium: no {LABEXTENSION}/ sources to build and the prebuilt "
                    f"JupyterLab extension is incomplete: {labextension_missing(root)}"
                )
            return
        if skip:
            if labextension_missing(root):
                raise RuntimeError(
                    "terrarium: TERRARIUM_SKIP_JS_BUILD=1 but the prebuilt JupyterLab "
                    f"extension is incomplete: {labextension_missing(root)}; build it with "
                    f"`npm ci && npm run build` in {LABEXTENSION}/ (jupyter-builder on PATH)"
                )
            self.app.display_info(
                "terrarium: TERRARIUM_SKIP_JS_BUILD=1, using the existing JupyterLab extension"
            )
            return
        npm = self._require_npm(f"to build the JupyterLab extension ({LABEXTENSION}/)")
        # `npm run build` runs `jupyter-builder build`: the one of this build environment.
        scripts = str(Path(sys.executable).parent)
        path = os.pathsep.join([scripts, os.environ.get("PATH", "")])
        if shutil.which("jupyter-builder", path=path) is None:
            raise RuntimeError(
                "terrarium: building the JupyterLab extension needs `jupyter-builder` "
                "(the Python package jupyter-builder, a build requirement in pyproject.toml); "
                f"it is not in {scripts} nor on PATH"
            )
        self._install(npm, project)
        # A clean output: no chunk of an earlier build is shipped.
        shutil.rmtree(root / LABEXTENSION_OUTPUT, ignore_errors=True)
        self._npm(npm, project, "run", "build", env={**os.environ, "PATH": path})
        if labextension_missing(root):
            raise RuntimeError(
                f"terrarium: npm run build in {LABEXTENSION}/ did not produce "
                f"{labextension_missing(root)}"
            )

    def _require_npm(self, purpose: str) -> str:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                f"terrarium: building the package needs Node.js and npm, {purpose}. "
                "Install Node.js 20.19 or newer (https://nodejs.org), or set "
                "TERRARIUM_SKIP_JS_BUILD=1 if everything is already built."
            )
        return npm

    def _install(self, npm: str, project: Path) -> None:
        """``npm ci`` when node_modules is missing or older than the lockfile (a dependency
        was added or upgraded since)."""
        installed = project / "node_modules" / ".package-lock.json"
        lock = project / "package-lock.json"
        if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return
        self._npm(npm, project, "ci", "--no-audit", "--no-fund")

    def _npm(self, npm: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        where = cwd.relative_to(self.root) if cwd.is_relative_to(self.root) else cwd
        self.app.display_info(f"terrarium: npm {' '.join(args)} (in {where}/)")
        result = subprocess.run(
            [npm, *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"terrarium: `npm {' '.join(args)}` failed in {cwd} "
                f"(exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
