"""Headless Chromium for the browser tests, and the screenshots they leave for people.

The browser is Debian's ``/usr/bin/chromium``, never a downloaded one.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: A stable, git-ignored copy of every screenshot, for a person to look at.
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORT = {"width": 1400, "height": 1000}


@asynccontextmanager
async def browser_page(
    chromium: Path, viewport: dict[str, int] | None = None
) -> AsyncIterator[tuple[Any, list[str]]]:
    """A fresh headless Chromium, one page, and the page's uncaught errors as they come."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport=viewport or VIEWPORT)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page, errors
        finally:
            await browser.close()


class Screenshots:
    """Saves screenshots under the test's tmp_path and copies them to ARTIFACTS."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.saved: list[Path] = []

    async def take(self, target: Any, name: str) -> Path:
        """``target``: a page (its viewport) or a locator (that element)."""
        path = self.folder / f"{name}.png"
        await target.screenshot(path=str(path))
        ARTIFACTS.mkdir(exist_ok=True)
        copy = ARTIFACTS / path.name
        shutil.copyfile(path, copy)
        self.saved.append(copy)
        print(f"screenshot {name}: {path} (copy: {copy})")
        return path


# -- JupyterLab's themes, where JupyterLab is not ------------------------------------------

#: JupyterLab's own theme stylesheets, as installed with it: nothing but ``:root`` variables.
LAB_THEMES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "themes" / "@jupyterlab"
LAB_THEME_NAMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


def lab_theme_css(theme: str) -> str:
    """The ``--jp-*`` variables of JupyterLab's ``light`` or ``dark`` theme."""
    return (LAB_THEMES / f"theme-{theme}-extension" / "index.css").read_text(encoding="utf-8")


async def apply_lab_theme(page: Any, theme: str | None) -> None:
    """Do to a page outside JupyterLab what JupyterLab does on a theme switch: put the
    theme's variables in, then flip ``data-jp-theme-light``/``-name`` on the body.
    ``None``: no theme at all (the page's own fallback colours)."""
    css = "" if theme is None else lab_theme_css(theme)
    light = None if theme is None else theme == "light"
    name = None if theme is None else LAB_THEME_NAMES[theme]
    await page.evaluate(
        """([css, light, name]) => {
            let style = document.getElementById("jp-theme-emulation");
            if (!style) {
                style = document.createElement("style");
                style.id = "jp-theme-emulation";
                document.head.prepend(style);
            }
            style.textContent = css;
            if (light === null) {
                delete document.body.dataset.jpThemeLight;
                delete document.body.dataset.jpThemeName;
            } else {
                document.body.dataset.jpThemeLight = String(light);
                document.body.dataset.jpThemeName = name;
            }
        }""",
        [css, light, name],
    )


# -- the widgets on a page of their own, with a stand-in kernel ------------------------------

#: The built widget bundles (``npm run build`` in js/).
STATIC = Path(__file__).resolve().parents[2] / "terrarium" / "static"
#: Served by the test itself (``page.route``), never from the network; a loopback
#: address, so that the page is a secure context (the clipboard works).
HARNESS = "http://127.0.0.1:9"

# A page that loads the widget bundles as anywidget would, each with a model whose
# kernel side is this script: it speaks the comm messages of PROTOCOL.md section 9.
# The test feeds frames (harness.frame / frames); a perturbation is answered with
# its data (after `replyDelayMs`) and reflected as the `perturbation` and `result`
# events an agent's mirror would carry.
HARNESS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Terrarium widgets</title>
<style>
  body { margin: 0; padding: 16px; background: var(--jp-layout-color0, #111117); }
  .cell { width: 700px; margin: 0 0 16px; }
</style>
</head>
<body>
<script type="module">
class Model {
  constructor(traits) {
    this.traits = traits;
    this.handlers = new Map();
  }
  get(name) { return this.traits[name]; }
  set(name, value) { this.traits[name] = value; }
  save_changes() {}
  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(fn);
  }
  off(name, fn) { this.handlers.get(name)?.delete(fn); }
  send(message) { harness.received(this, message); }
  push(message) { for (const fn of [...(this.handlers.get("msg:custom") ?? [])]) fn(message, []); }
}

const models = [];
const seqs = new Map();

window.harness = {
  replyDelayMs: 25,
  sent: [],
  async mount(bundle, traits = {}) {
    const cell = document.createElement("div");
    cell.className = "cell";
    cell.dataset.bundle = bundle;
    document.body.append(cell);
    const widget = (await import(`/static/${bundle}.js`)).default;
    const model = new Model({
      transport: "comm", agent_id: null, _instance: `model-${models.length}`, ...traits,
    });
    widget.initialize?.({ model });
    await widget.render({ model, el: cell });
    models.push(model);
    return models.length - 1;
  },
  push(message) { for (const model of models) model.push(message); },
  frame(frame) { this.push({ type: "frame", frame }); },
  frames(list) { for (const frame of list) this.frame(frame); },
  /** The next seq of an agent's stream; `reset` starts a new numbering. */
  seq(agent, reset = false) {
    const next = reset ? 1 : (seqs.get(agent) ?? 0) + 1;
    seqs.set(agent, next);
    return next;
  },
  event(agent, type, data) {
    this.frame({ seq: this.seq(agent), ts: Date.now() / 1000, agent_id: agent, type, data });
  },
  received(model, message) {
    this.sent.push(message);
    if (message.type !== "perturb") return;
    const agent = message.agent_id ?? model.get("agent_id");
    const pid = `p${this.sent.length}`;
    setTimeout(() => {
      const priority = message.priority ?? 100;
      this.event(agent, "perturbation", { perturbation_id: pid, priority, by: "harness" });
      this.event(agent, "result", { output: message.data, perturbation_id: pid });
      const reply = { type: "result", id: message.id, perturbation_id: pid, output: message.data };
      model.push({ type: "reply", id: message.id, reply });
    }, this.replyDelayMs);
  },
};
window.harnessReady = true;
</script>
</body>
</html>
"""


async def open_harness(page: Any) -> None:
    """Open the harness page; the bundles come from STATIC."""

    async def serve(route: Any) -> None:
        path = urlsplit(route.request.url).path
        if path == "/":
            await route.fulfill(body=HARNESS_HTML, content_type="text/html")
            return
        bundle = STATIC / path.removeprefix("/static/")
        if path.startswith("/static/") and bundle.is_file() and bundle.parent == STATIC:
            await route.fulfill(path=str(bundle), content_type="text/javascript")
            return
        await route.fulfill(status=404, body="not found")

    await page.route(f"{HARNESS}/**", serve)
    await page.goto(f"{HARNESS}/")
    await page.wait_for_function("() => window.harnessReady === true")
