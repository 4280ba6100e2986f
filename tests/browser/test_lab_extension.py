"""The JupyterLab extension ``@terrarium/jupyterlab``, installed prebuilt with the package.

A real ``jupyter lab`` runs in a child process (the server extension and
the demo agents as installed); headless Chromium uses the extension as a
person does: opens the Terrarium panel in the left sidebar and watches the
agents change, runs "Terrarium dashboard" from the command palette, clicks an
agent, switches JupyterLab to its Dark theme. Every wait is an explicit
condition with a generous timeout; nothing is timed.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from terrarium.client import connect
from tests.browser.pages import Screenshots, browser_page
from tests.launcher import BIN, TOKEN, LabProcess, private_env

pytestmark = pytest.mark.timeout(300)

NAME = "@terrarium/jupyterlab"
PROJECT = Path(__file__).resolve().parents[2] / "labextension"
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / NAME
#: Among the demo agents (the server's own list is what the panel must show).
DEMO_AGENTS = {"approver", "echo", "heartbeat", "slow"}
STATES = {"dormant", "flowing", "perturbed", "draining", "stopped", "collapsed", "unavailable"}
#: Milliseconds: JupyterLab on a 2-core machine.
SLOW = 120_000
WAIT = 30_000

PANEL = "#terrarium-agents"
SIDEBAR_TAB = '.jp-SideBar.jp-mod-left li.lm-TabBar-tab[data-id="terrarium-agents"]'
DASHBOARD = ".jp-MainAreaWidget.trm-lab-dashboard"
DASHBOARD_TAB = 'li.lm-TabBar-tab[data-id="terrarium-dashboard"]'

LAB_READY = """() => {
    const app = window.jupyterapp;
    return app !== undefined && app.shell.node.isConnected
        && document.querySelector('.jp-SideBar.jp-mod-left') !== null
        && document.getElementById("jupyterlab-splash") === null;
}"""

SEQ_GREW = """([selector, before]) => {
    const row = document.querySelector(selector);
    return row !== null && Number(row.dataset.seq) > before;
}"""

PENDING_AT_LEAST = """([selector, least]) => {
    const row = document.querySelector(selector);
    return row !== null && Number(row.dataset.pending) >= least;
}"""

# The theme is applied and its splash screen (shown while it loads) is gone.
THEME_IS_LIGHT = """(light) => document.body.dataset.jpThemeLight === String(light)
    && document.getElementById("jupyterlab-splash") === null"""

# The relative luminance of an element's computed background colour (0 black, 1 white).
LUMINANCE = """(node) => {
    const [r, g, b] = getComputedStyle(node).backgroundColor.match(/[\\d.]+/g).map(Number);
    const linear = (c) => {
        c /= 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def row(agent: str) -> str:
    return f'{PANEL} .trm-lab-agent[data-agent="{agent}"]'


# -- installed as the package installs it ------------------------------------------------


def test_the_extension_is_installed_prebuilt_and_enabled(tmp_path: Path) -> None:
    """``jupyter labextension list``, as a user runs it, lists the extension enabled and
    from the Python package; its files are in the environment's share/jupyter."""
    listing = subprocess.run(
        [str(BIN / "jupyter"), "labextension", "list"],
        env=private_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text = ANSI.sub("", listing.stdout + listing.stderr)
    version = json.loads((PROJECT / "package.json").read_text())["version"]
    line = next((line for line in text.splitlines() if NAME in line), None)
    assert line is not None, text
    assert line.split() == [NAME, f"v{version}", "enabled", "OK", "(python,", "terrarium)"]
    # A prebuilt extension: no `jupyter lab build` is needed (nor offered).
    assert "jupyter lab build" not in text

    package = json.loads((INSTALLED / "package.json").read_text())
    assert package["name"] == NAME
    assert (INSTALLED / package["jupyterlab"]["_build"]["load"]).is_file()
    install = json.loads((INSTALLED / "install.json").read_text())
    assert install["packageName"] == "terrarium"


def test_the_styles_use_only_jupyterlab_theme_variables() -> None:
    """No colour of its own: every theme (Light, Dark, High Contrast) draws the panel."""
    colour_literal = re.compile(
        r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch|color)\(|"
        r"\b(?:white|black|red|green|blue|gr[ae]y|orange|yellow|purple)\b"
    )
    sheets = sorted((PROJECT / "style").glob("*.css"))
    assert sheets
    for sheet in sheets:
        # Comments out; then every declaration's value.
        css = re.sub(r"/\*.*?\*/", "", sheet.read_text(), flags=re.S)
        for prop, value in re.findall(r"([\w-]+)\s*:\s*([^;{}]+);", css):
            assert not colour_literal.search(value), f"{sheet.name}: {prop}: {value}"
            for variable in re.findall(r"var\(\s*(--[\w-]+)", value):
                assert variable.startswith("--jp-"), f"{sheet.name}: {prop}: {value}"


# -- in a real JupyterLab ----------------------------------------------------------------


async def open_lab(page: Any, lab: LabProcess) -> None:
    await page.goto(f"{lab.url}/lab?token={TOKEN}")
    await page.wait_for_function(LAB_READY, timeout=SLOW)


async def open_the_panel(page: Any) -> Any:
    """Click the Terrarium tab of the left sidebar, as a person does."""
    tab = page.locator(SIDEBAR_TAB)
    await expect(tab).to_be_visible(timeout=SLOW)
    assert await tab.get_attribute("title") == "Terrarium"
    await tab.click()
    panel = page.locator(PANEL)
    await expect(panel).to_be_visible(timeout=WAIT)
    await expect(panel.locator(".trm-lab-title")).to_have_text("Terrarium")
    return panel


async def execute(page: Any, command: str, args: dict[str, Any] | None = None) -> None:
    """Run a JupyterLab command (``window.jupyterapp``: ``expose_app_in_browser``)."""
    await page.evaluate(
        "async ([command, args]) => { await window.jupyterapp.commands.execute(command, args); }",
        [command, args or {}],
    )


async def run_from_the_palette(page: Any, label: str) -> None:
    """Ctrl+Shift+C, type the command's label, Enter."""
    await page.locator("body").press("Control+Shift+C")
    search = page.locator(".lm-CommandPalette-input")
    await expect(search).to_be_visible(timeout=WAIT)
    await search.fill(label)
    item = page.locator(".lm-CommandPalette-item.lm-mod-active")
    await expect(item.locator(".lm-CommandPalette-itemLabel")).to_have_text(label)
    await search.press("Enter")


async def check_the_dashboard(page: Any, agents: list[str]) -> Any:
    """One "Terrarium" tab, current, with the live dashboard inside its iframe."""
    tab = page.locator(DASHBOARD_TAB)
    await expect(tab).to_have_count(1, timeout=WAIT)
    await expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"))
    await expect(tab.locator(".lm-TabBar-tabLabel")).to_have_text("Terrarium")
    iframe = page.locator(f"{DASHBOARD} iframe")
    sandbox = set((await iframe.get_attribute("sandbox") or "").split())
    assert sandbox == {"allow-scripts", "allow-same-origin"}
    frame = page.frame_locator(f"{DASHBOARD} iframe")
    for agent in agents:
        await expect(frame.locator(f'.trm-tile[data-agent="{agent}"]')).to_be_visible(timeout=WAIT)
    await expect(frame.locator(".trm-header .trm-conn")).to_have_text(
        f"{len(agents)} agents live", timeout=WAIT
    )
    return iframe


async def test_the_sidebar_lists_the_agents_live_and_opens_the_dashboard(
    lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    client = connect(lab.url, TOKEN)
    served = sorted(agent["id"] for agent in await asyncio.to_thread(client.agents))
    assert set(served) >= DEMO_AGENTS
    async with browser_page(chromium) as (page, errors):
        await open_lab(page, lab)
        # JupyterLab opens on its Launcher, where the dashboard has its card.
        card = page.locator(".jp-LauncherCard", has_text="Terrarium dashboard")
        await expect(card).to_be_visible(timeout=SLOW)

        # The sidebar panel: every agent, in id order, its state, flow and pending decisions.
        panel = await open_the_panel(page)
        await expect(panel).to_have_attribute("data-status", "live", timeout=WAIT)
        await expect(panel).to_have_attribute("data-agents", str(len(served)))
        await expect(panel.locator(".trm-lab-summary")).to_contain_text(
            f"{len(served)} agents live"
        )
        ids = await panel.locator(".trm-lab-agent").evaluate_all(
            "rows => rows.map((row) => row.dataset.agent)"
        )
        assert ids == served
        for agent in served:
            agent_row = page.locator(row(agent))
            await expect(agent_row.locator(".trm-lab-agent-id")).to_have_text(agent)
            state = await agent_row.get_attribute("data-state")
            assert state in STATES
            await expect(agent_row.locator(".trm-lab-state")).to_have_text(state)
            await expect(agent_row.locator(".trm-lab-flow")).to_have_text(
                re.compile(r"^\d+(\.\d)? ev/s$")
            )
        await expect(page.locator(row("heartbeat"))).to_have_attribute("data-state", "flowing")

        # Live: heartbeat's newest seq moves on without anyone touching the page ...
        before = int(await page.locator(row("heartbeat")).get_attribute("data-seq") or 0)
        await page.wait_for_function(SEQ_GREW, arg=[row("heartbeat"), before], timeout=WAIT)
        # ... and a decision the approver asks for (over REST) shows as pending.
        made = await asyncio.to_thread(
            client.request,
            "POST",
            "agents",
            "approver",
            "perturb",
            body={"data": {"action": "delete", "records": 47}},
        )
        assert made["token"]["status"] == "pending"
        await page.wait_for_function(PENDING_AT_LEAST, arg=[row("approver"), 1], timeout=WAIT)
        await expect(page.locator(row("approver")).locator(".trm-lab-pending")).to_have_text(
            re.compile(r"^\d+ pending$")
        )

        # The command palette: "Terrarium dashboard" opens the dashboard in a tab.
        await run_from_the_palette(page, "Terrarium dashboard")
        iframe = await check_the_dashboard(page, served)
        assert (await iframe.get_attribute("src") or "").endswith("/terrarium/")

        # Clicking an agent: the same tab, focused on that agent.
        await page.locator(row("echo")).click()
        await expect(iframe).to_have_attribute("src", re.compile(r"/terrarium/#agent=echo$"))
        await expect(page.locator(DASHBOARD_TAB)).to_have_count(1)
        await page.wait_for_function(
            "(frame) => frame.contentWindow.location.hash === '#agent=echo'",
            arg=await iframe.element_handle(),
            timeout=WAIT,
        )
        await expect(page.frame_locator(f"{DASHBOARD} iframe").locator(".trm-tile")).to_have_count(
            len(served)
        )

        # Light, then JupyterLab Dark: the panel follows the theme.
        await page.wait_for_function(THEME_IS_LIGHT, arg=True, timeout=WAIT)
        assert await panel.evaluate(LUMINANCE) > 0.6
        await screenshots.take(page, "lab_light")
        await execute(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
        await page.wait_for_function(THEME_IS_LIGHT, arg=False, timeout=WAIT)
        await page.wait_for_function(
            f"() => ({LUMINANCE})(document.querySelector('{PANEL}')) < 0.2", timeout=WAIT
        )
        await expect(panel).to_have_attribute("data-status", "live")
        await screenshots.take(page, "lab_dark")

        # The Launcher's card opens the dashboard too, once its tab is closed.
        await page.locator(DASHBOARD_TAB).locator(".lm-TabBar-tabCloseIcon").click()
        await expect(page.locator(DASHBOARD_TAB)).to_have_count(0, timeout=WAIT)
        await execute(page, "launcher:create")
        await page.locator(".jp-LauncherCard:visible", has_text="Terrarium dashboard").click()
        iframe = await check_the_dashboard(page, served)
        assert (await iframe.get_attribute("src") or "").endswith("/terrarium/")
        assert errors == []


# -- without the server extension -------------------------------------------------------


@dataclass
class LabWithoutServerExtension(LabProcess):
    """``jupyter lab`` with the Terrarium server extension disabled in its user config:
    the JupyterLab extension is there, the routes it asks are not."""

    demo_agents: bool = False

    def start(self) -> LabWithoutServerExtension:
        config = self.home / "config" / "jupyter_server_config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_extension": False}}})
        )
        super().start()
        return self

    def wait_healthy(self, within: float = 60.0) -> dict[str, Any]:
        """Jupyter's own ``api`` answers, and Terrarium's ``api/health`` is a 404."""
        assert self.process is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jupyter lab exited:\n{self.log.read_text()}")
            try:
                with opener.open(f"{self.url}/api", timeout=5) as reply:
                    answer = dict(json.loads(reply.read()))
                break
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        else:
            raise AssertionError(f"no answer within {within} s:\n{self.log.read_text()}")
        with pytest.raises(urllib.error.HTTPError) as missing:
            opener.open(f"{self.url}/terrarium/api/health", timeout=5)
        missing.value.close()
        assert missing.value.code == 404
        return answer


@pytest.fixture(scope="module")
def lab_without_server_extension(
    chromium: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabProcess]:
    process = LabWithoutServerExtension(tmp_path_factory.mktemp("lab-without-terrarium"))
    with process:  # started, and stopped however the tests end
        process.wait_healthy()
        yield process


async def test_without_the_server_extension_the_panel_says_it_is_not_reachable(
    lab_without_server_extension: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    async with browser_page(chromium) as (page, errors):
        await open_lab(page, lab_without_server_extension)
        panel = await open_the_panel(page)
        await expect(panel).to_have_attribute("data-status", "error", timeout=WAIT)
        await expect(panel).to_have_attribute("data-failure", "unreachable")
        message = panel.locator(".trm-lab-message")
        await expect(message).to_be_visible()
        await expect(message.locator(".trm-lab-message-title")).to_have_text(
            "Terrarium server extension not reachable"
        )
        await expect(message.locator(".trm-lab-message-detail")).to_contain_text("404")
        await expect(panel.locator(".trm-lab-agent")).to_have_count(0)
        await screenshots.take(page, "lab_unreachable")
        assert errors == []
