"""Pipelines drawn live: on the ``{base}terrarium/`` dashboard, and as the ``Pipeline`` widget.

A real ``jupyter lab`` runs in a child process: with the demo agents (the
``requests`` pipeline: commands | parse | route | review), and, for
congestion, with ``tests/browser/pipeline_agents.py``'s ``backlog`` pipeline,
whose last stage is too slow for what reaches it. Headless Chromium opens the
dashboard, counts the nodes and edges, clicks a stage to aim the Beam, and
reads the marks a congested edge carries. The widget's own bundle is loaded
into a page of the same server with a stand-in anywidget model, so it talks
to the real server as it does inside JupyterLab.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.pages import Screenshots, browser_page
from tests.launcher import TOKEN, LabProcess

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "terrarium" / "static" / "pipeline.js"
REQUESTS = ["commands", "parse", "route", "review"]
WAIT = 30_000

# JupyterLab's own theme variables (a subset, as its Light and Dark themes set them).
LAB_LIGHT = {
    "--jp-layout-color0": "#ffffff",
    "--jp-layout-color1": "#ffffff",
    "--jp-layout-color2": "#eeeeee",
    "--jp-border-color1": "#bdbdbd",
    "--jp-border-color2": "#e0e0e0",
    "--jp-ui-font-color1": "rgba(0, 0, 0, 0.87)",
    "--jp-ui-font-color2": "rgba(0, 0, 0, 0.54)",
    "--jp-ui-font-color3": "rgba(0, 0, 0, 0.38)",
    "--jp-brand-color1": "#1976d2",
    "--jp-warn-color1": "#f57c00",
    "--jp-error-color1": "#d32f2f",
}
LAB_DARK = {
    "--jp-layout-color0": "#111111",
    "--jp-layout-color1": "#212121",
    "--jp-layout-color2": "#424242",
    "--jp-border-color1": "#616161",
    "--jp-border-color2": "#424242",
    "--jp-ui-font-color1": "rgba(255, 255, 255, 0.87)",
    "--jp-ui-font-color2": "rgba(255, 255, 255, 0.54)",
    "--jp-ui-font-color3": "rgba(255, 255, 255, 0.38)",
    "--jp-brand-color1": "#42a5f5",
    "--jp-warn-color1": "#ffa726",
    "--jp-error-color1": "#ef5350",
}

# Left edges of a pipeline's nodes, by stage.
NODE_XS = """(root) => Object.fromEntries([...root.querySelectorAll(".trm-pl-node")]
    .map((node) => [node.dataset.stage, node.getBoundingClientRect().left]))"""

# Pixels of the edge canvas close to a colour ([r, g, b], tolerance), and all drawn pixels.
CANVAS_PIXELS = """([root, rgb, tolerance]) => {
    const canvas = root.querySelector("canvas.trm-pl-edges");
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let drawn = 0;
    let close = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] < 40) continue;
        drawn += 1;
        if (Math.abs(data[i] - rgb[0]) <= tolerance && Math.abs(data[i + 1] - rgb[1]) <= tolerance
            && Math.abs(data[i + 2] - rgb[2]) <= tolerance) close += 1;
    }
    return { drawn, close };
}"""


def widget_page(config: dict[str, Any] | None) -> str:
    """A page that renders the Pipeline widget's bundle with a stand-in anywidget model."""
    script = (
        f'<script id="jupyter-config-data" type="application/json">{json.dumps(config)}</script>'
        if config is not None
        else ""
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">{script}</head>
<body style="margin:0;padding:16px;background:#111117"><div id="out" style="width:1100px"></div>
<script type="module">
  const state = {{ pipeline_id: "requests", selected: null }};
  const listeners = new Map();
  const model = {{
    get: (name) => state[name],
    set(name, value) {{
      if (state[name] === value) return;
      state[name] = value;
      for (const fn of listeners.get(`change:${{name}}`) ?? []) fn();
    }},
    save_changes() {{ window.saved.push({{ ...state }}); }},
    on(name, fn) {{
      if (!listeners.has(name)) listeners.set(name, []);
      listeners.get(name).push(fn);
    }},
    off(name, fn) {{
      listeners.set(name, (listeners.get(name) ?? []).filter((f) => f !== fn));
    }},
    send() {{}},
  }};
  window.saved = [];
  window.widgetModel = model;
  const widget = (await import("/pipeline-widget-under-test.js")).default;
  window.cleanup = widget.render({{ model, el: document.getElementById("out") }});
</script></body></html>"""


async def serve_the_widget(page: Any, lab: LabProcess, config: dict[str, Any] | None) -> None:
    """Log in (the page's cookie), then open a page of the server's origin with the widget."""
    await page.goto(f"{lab.url}/terrarium/api/health?token={TOKEN}")

    async def bundle(route: Any) -> None:
        source = BUNDLE.read_text(encoding="utf-8")
        await route.fulfill(body=source, content_type="text/javascript")

    async def html(route: Any) -> None:
        await route.fulfill(body=widget_page(config), content_type="text/html")

    await page.route("**/pipeline-widget-under-test.js", bundle)
    await page.route("**/pipeline-widget-under-test.html", html)
    await page.goto(f"{lab.url}/pipeline-widget-under-test.html")


async def set_theme(page: Any, variables: dict[str, str] | None) -> None:
    """Set (or, with None, remove) JupyterLab's theme variables, as a theme switch does."""
    await page.evaluate(
        """(variables) => {
            document.getElementById("lab-theme")?.remove();
            if (!variables) return;
            const style = document.createElement("style");
            style.id = "lab-theme";
            const rules = Object.entries(variables).map(([k, v]) => `${k}: ${v};`);
            style.textContent = `:root { ${rules.join(" ")} }`;
            document.head.append(style);
        }""",
        variables,
    )


@dataclass
class BacklogLab(LabProcess):
    """``jupyter lab`` serving only the ``backlog`` pipeline of ``pipeline_agents``."""

    demo_agents: bool = False

    def command(self) -> list[str]:
        return [*super().command(), "--TerrariumApp.agents=tests.browser.pipeline_agents:backlog"]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        return env


@pytest.fixture(scope="module")
def backlog_lab(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    home = tmp_path_factory.mktemp("backlog-lab")
    process = BacklogLab(home)
    with process:  # started, and stopped however the tests end
        process.wait_healthy()
        yield process


async def test_the_dashboard_draws_the_requests_pipeline_and_a_stage_aims_the_beam(
    lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    async with browser_page(chromium) as (page, errors):
        await page.goto(f"{lab.url}/terrarium/?token={TOKEN}")
        section = page.locator(".trm-pipelines")
        view = section.locator('.trm-pl[data-pipeline="requests"]')
        await expect(view).to_be_visible(timeout=WAIT)
        await expect(view).to_have_attribute("data-status", "live", timeout=WAIT)
        nodes = view.locator(".trm-pl-node")
        edges = view.locator(".trm-pl-edge")
        await expect(nodes).to_have_count(4)
        await expect(edges).to_have_count(3)
        await expect(view).to_have_attribute("data-stages", "4")
        await expect(view).to_have_attribute("data-edges", "3")

        # Left to right in topological order, an edge between each pair.
        xs = await view.evaluate(NODE_XS)
        assert sorted(xs, key=xs.get) == REQUESTS
        pairs = await edges.evaluate_all(
            "chips => chips.map((c) => [c.dataset.from, c.dataset.to])"
        )
        assert sorted(map(tuple, pairs)) == sorted(pairwise(REQUESTS))

        # Live: each stage breathes on its own stream, the first edge carries items.
        for stage in REQUESTS:
            node = view.locator(f'.trm-pl-node[data-stage="{stage}"]')
            await expect(node).to_have_attribute("data-state", "flowing", timeout=WAIT)
            await expect(node.locator("canvas.trm-pl-field")).to_be_visible()
        first = view.locator('.trm-pl-edge[data-from="commands"][data-to="parse"]')
        await page.wait_for_function(
            "(chip) => Number(chip.dataset.rate) > 0",
            arg=await first.element_handle(),
            timeout=WAIT,
        )
        await expect(first).not_to_have_attribute("data-congested", "")
        handle = await view.element_handle()
        drawn = await page.evaluate(CANVAS_PIXELS, [handle, [0xE6, 0xA3, 0x52], 40])
        assert drawn["drawn"] > 200 and drawn["close"] > 0, (
            drawn
        )  # edges, and items in the flow colour
        await screenshots.take(view, "pipeline_normal")

        # Clicking a stage aims the dashboard's Beam at it (and selects its tile).
        await view.locator('.trm-pl-node[data-stage="route"]').click()
        console = page.locator(".trm-beam .trm-console")
        await expect(console.locator(".trm-section-title code")).to_have_text("route")
        await expect(view.locator('.trm-pl-node[data-stage="route"]')).to_have_attribute(
            "data-selected", ""
        )
        await expect(page.locator('.trm-tile[data-agent="route"]')).to_have_attribute(
            "data-selected", ""
        )
        await expect(view.locator(".trm-pl-node[data-selected]")).to_have_count(1)
        sent = int(await console.get_attribute("data-replies") or 0)
        textarea = console.locator("textarea")
        await textarea.fill(
            '{"intent": "create", "object": "calendar", "sentence": "Create a calendar"}'
        )
        await console.get_by_role("button", name="Send").click()
        await expect(console).to_have_attribute("data-replies", str(sent + 1), timeout=WAIT)
        await expect(console.locator(".trm-reply").first).to_have_attribute("data-kind", "result")
        await expect(console.locator(".trm-reply-head").first).to_contain_text("to route")

        # A tile click moves the mark back off the pipeline.
        await page.locator('.trm-tile[data-agent="echo"]').click()
        await expect(console.locator(".trm-section-title code")).to_have_text("echo")
        await expect(view.locator(".trm-pl-node[data-selected]")).to_have_count(0)

        # The colours are JupyterLab's theme variables: the canvas follows a theme switch.
        for name, theme, edge in (
            ("pipeline_light", LAB_LIGHT, "#bdbdbd"),
            ("pipeline_dark", LAB_DARK, "#616161"),
        ):
            await set_theme(page, theme)
            await expect(view).to_have_css("background-color", css_rgb(theme["--jp-layout-color1"]))
            assert (
                await view.evaluate(
                    "(el) => getComputedStyle(el).getPropertyValue('--trm-pl-edge').trim()"
                )
            ) == edge
            brand = [int(theme["--jp-brand-color1"][i : i + 2], 16) for i in (1, 3, 5)]
            await page.wait_for_function(
                f"(root) => ({CANVAS_PIXELS})([root, {brand}, 40]).close > 0",
                arg=handle,
                timeout=WAIT,
            )
            await screenshots.take(view, name)
        await set_theme(page, None)
        assert errors == []


def css_rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def test_a_congested_edge_is_marked(
    backlog_lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    async with browser_page(chromium) as (page, errors):
        await page.goto(f"{backlog_lab.url}/terrarium/?token={TOKEN}")
        view = page.locator('.trm-pl[data-pipeline="backlog"]')
        await expect(view).to_be_visible(timeout=WAIT)
        await expect(view.locator(".trm-pl-node")).to_have_count(3)
        await expect(view.locator(".trm-pl-edge")).to_have_count(2)

        # sink is too slow for what stamp sends it: the edge fills, and stamp's policy drops.
        slow = view.locator('.trm-pl-edge[data-from="stamp"][data-to="sink"]')
        await expect(slow).to_have_attribute("data-congested", "", timeout=WAIT)
        await expect(slow).to_have_attribute("data-level", "congested")
        await expect(slow).to_have_attribute("data-policy", "drop_newest")
        await page.wait_for_function(
            "(chip) => Number(chip.dataset.drops) > 0",
            arg=await slow.element_handle(),
            timeout=WAIT,
        )
        await expect(slow.locator(".trm-pl-edge-drops")).to_contain_text("dropped")
        await expect(slow.locator(".trm-pl-edge-warn")).to_have_text("⚠")
        assert "congested" in (await slow.get_attribute("title") or "")

        # Upstream of it, items flow freely.
        free = view.locator('.trm-pl-edge[data-from="intake"][data-to="stamp"]')
        await expect(free).not_to_have_attribute("data-congested", "")
        await expect(view).to_have_attribute("data-congested", "1")
        await expect(view.locator(".trm-pl-alert")).to_have_text("⚠ 1 congested edge")

        # The canvas draws it in the congestion colour (the dashboard's fallback, #e5646e).
        handle = await view.element_handle()
        pixels = await page.evaluate(CANVAS_PIXELS, [handle, [0xE5, 0x64, 0x6E], 45])
        assert pixels["close"] > 50, pixels
        await screenshots.take(view, "pipeline_congested")
        assert errors == []


async def test_the_pipeline_widget_draws_live_and_its_selection_aims_its_beam(
    lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    config = {"baseUrl": "/", "terrarium": {"version": "test", "protocol": 1}}
    async with browser_page(chromium) as (page, errors):
        await serve_the_widget(page, lab, config)
        root = page.locator('.trm-pipeline-widget[data-pipeline="requests"]')
        await expect(root).to_have_attribute("data-status", "live", timeout=WAIT)
        await expect(root.locator(".trm-pl-node")).to_have_count(4)
        await expect(root.locator(".trm-pl-edge")).to_have_count(3)
        for stage in REQUESTS:
            await expect(root.locator(f'.trm-pl-node[data-stage="{stage}"]')).to_have_attribute(
                "data-state", "flowing", timeout=WAIT
            )

        # The first stage is aimed at until a person picks one; the pick reaches the model.
        beam = root.locator(".trm-pl-beam")
        await expect(beam.locator(".trm-section-title code")).to_have_text("commands")
        await root.locator('.trm-pl-node[data-stage="parse"]').click()
        await expect(beam.locator(".trm-section-title code")).to_have_text("parse")
        await expect(root).to_have_attribute("data-selected", "parse")
        saved = await page.evaluate("window.saved.map((state) => state.selected)")
        assert saved[-1] == "parse"

        # `selected` set from Python aims the widget's Beam too.
        await page.evaluate("window.widgetModel.set('selected', 'review')")
        await expect(beam.locator(".trm-section-title code")).to_have_text("review")
        await expect(root.locator('.trm-pl-node[data-stage="review"]')).to_have_attribute(
            "data-selected", ""
        )
        await screenshots.take(root, "pipeline_widget")

        # Destroyed, it lets go of its sockets and timers.
        await page.evaluate("window.cleanup()")
        await expect(root).to_have_count(0)
        assert errors == []


async def test_without_the_server_extension_the_widget_says_what_it_needs(
    lab: LabProcess, chromium: Path
) -> None:
    async with browser_page(chromium) as (page, errors):
        await serve_the_widget(page, lab, {"baseUrl": "/"})  # a Jupyter page, no Terrarium marker
        root = page.locator(".trm-pipeline-widget")
        await expect(root).to_have_attribute("data-status", "extension missing", timeout=WAIT)
        await expect(root).to_contain_text("needs the Terrarium server extension")
        await expect(root).to_contain_text("kernel comm")
        await expect(root.locator(".trm-pl-node")).to_have_count(0)
        assert errors == []


async def test_the_dashboard_selects_the_agent_its_address_names(
    lab: LabProcess, chromium: Path
) -> None:
    """``#agent=ID`` (the JupyterLab panel's link) aims the Beam at that agent, on load
    and when only the fragment changes."""
    async with browser_page(chromium) as (page, errors):
        await page.goto(f"{lab.url}/terrarium/?token={TOKEN}#agent=slow")
        console = page.locator(".trm-beam .trm-console")
        await expect(console.locator(".trm-section-title code")).to_have_text("slow", timeout=WAIT)
        await expect(page.locator('.trm-tile[data-agent="slow"]')).to_have_attribute(
            "data-selected", ""
        )
        await page.evaluate("location.hash = '#agent=review'")
        await expect(console.locator(".trm-section-title code")).to_have_text(
            "review", timeout=WAIT
        )
        assert errors == []
