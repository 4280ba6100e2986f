"""Build the widget and dashboard bundles with npm whenever the package is built.

Runs for every target, the editable install that ``uv sync`` makes included,
so a fresh clone gets ``terrarium/static/*.js`` and
``jupyter_extension/static/dashboard.js`` without a separate step. The bundles
are git-ignored and shipped as artifacts (see ``[tool.hatch.build]``).

Set ``TERRARIUM_SKIP_JS_BUILD=1`` to use bundles that are already there
(a machine without Node.js, with bundles built elsewhere).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLES = (
    "terrarium/static/agent_view.js",
    "terrarium/static/terrarium_grid.js",
    "terrarium/static/perturb_console.js",
    "terrarium/static/purgatory_panel.js",
    "terrarium/static/terrarium.css",
    "jupyter_extension/static/dashboard.js",
)


class JavaScriptBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        js = root / "js"
        missing = [name for name in BUNDLES if not (root / name).is_file()]
        if not (js / "package.json").is_file():
            # Building from an sdist: it carries the bundles, not the sources.
            if missing:
                raise RuntimeError(
                    f"terrarium: no js/ sources to build and bundles are missing: {missing}"
                )
            return
        if os.environ.get("TERRARIUM_SKIP_JS_BUILD") == "1":
            if missing:
                raise RuntimeError(
                    "terrarium: TERRARIUM_SKIP_JS_BUILD=1 but these bundles are missing: "
                    f"{missing}; build them with `npm ci && npm run build` in js/"
                )
            self.app.display_info("terrarium: TERRARIUM_SKIP_JS_BUILD=1, using existing bundles")
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "terrarium: building the package needs Node.js and npm, to bundle the widgets "
                "(js/ -> terrarium/static/). Install Node.js 18 or newer (https://nodejs.org), "
                "or set TERRARIUM_SKIP_JS_BUILD=1 if the bundles are already built."
            )
        if not (js / "node_modules").is_dir():
            self._npm(npm, js, "ci", "--no-audit", "--no-fund")
        self._npm(npm, js, "run", "build")
        still_missing = [name for name in BUNDLES if not (root / name).is_file()]
        if still_missing:
            raise RuntimeError(f"terrarium: npm run build did not produce {still_missing}")

    def _npm(self, npm: str, cwd: Path, *args: str) -> None:
        self.app.display_info(f"terrarium: npm {' '.join(args)} (in js/)")
        result = subprocess.run([npm, *args], cwd=cwd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"terrarium: `npm {' '.join(args)}` failed in {cwd} "
                f"(exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
