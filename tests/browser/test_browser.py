"""What a person sees: the tour notebook in JupyterLab, and the ``{base}terrarium/`` dashboard.

A real ``jupyter lab`` (the extension as installed, the demo agents) runs in
a child process; headless Chromium opens the tour notebook, runs every cell
from JupyterLab's Run menu, and uses the widgets the way a person does:
watches a tile breathe, types a perturbation into the console, clicks
Approve on a Purgatory card. Every wait is an explicit condition with a
generous timeout; nothing is timed.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from terrarium.client import TerrariumClient, connect
from tests.browser.pages import (
    HARNESS,
    Screenshots,
    apply_lab_theme,
    browser_page,
    open_harness,
)
from tests.launcher import TOKEN, LabProcess

# JupyterLab, a kernel and a whole notebook per test: more than the suite's 120 s default.
pytestmark = pytest.mark.timeout(300)

#: The demo agents every test counts on; the server may serve more (the demo pipeline's
#: stages): the tests take the server's own list, and check these are in it.
DEMO_AGENTS = ["approver", "echo", "heartbeat", "slow"]
#: Milliseconds: JupyterLab, a kernel and the whole tour on a 2-core machine.
SLOW = 120_000
WAIT = 30_000

KERNEL_IDLE = """() => {
    const panel = window.jupyterapp?.shell.currentWidget;
    return panel?.sessionContext?.session?.kernel?.status === "idle";
}"""

# Truthy once every code cell has run (after "clear outputs", a cell's execution
# count is null until it ran), or as soon as a cell failed: the test reports which.
RAN_TO_THE_END = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter((cell) => cell.model.type === "code");
    const errors = [];
    cells.forEach((cell, index) => {
        for (const output of cell.model.outputs.toJSON()) {
            if (output.output_type === "error") {
                errors.push(`cell ${index}: ${output.ename}: ${output.evalue}`);
            }
        }
    });
    const idle = panel.sessionContext.session?.kernel?.status === "idle";
    const done = idle && cells.every((cell) => cell.model.executionCount !== null);
    return errors.length || done ? { errors, cells: cells.length } : false;
}"""

# The text of each code cell's outputs, in order.
OUTPUT_TEXTS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    return panel.content.widgets
        .filter((cell) => cell.model.type === "code")
        .map((cell) => cell.model.outputs.toJSON().map((output) => {
            if (output.text) return [].concat(output.text).join("");
            const plain = output.data && output.data["text/plain"];
            return plain ? [].concat(plain).join("") : "";
        }).join("\\n"));
}"""

EVENTS_GREW = """([selector, before]) => {
    const root = document.querySelector(selector);
    return root !== null && Number(root.dataset.events) > before;
}"""

PENDING_SETTLED = """(selector) => {
    const root = document.querySelector(selector);
    const cards = root === null ? -1 : root.querySelectorAll(".trm-card").length;
    return root !== null && Number(root.dataset.pending) === cards;
}"""


def client_of(lab: LabProcess) -> TerrariumClient:
    return connect(lab.url, TOKEN)


async def served_agents(lab: LabProcess) -> list[str]:
    """The agents the server runs, in id order; the demo agents among them."""
    served = sorted(agent["id"] for agent in await asyncio.to_thread(client_of(lab).agents))
    assert set(DEMO_AGENTS) <= set(served), served
    return served


async def events_grow(page: Any, selector: str) -> tuple[int, int]:
    """Read ``data-events`` twice: the second read must be larger (live events)."""
    before = int(await page.locator(selector).get_attribute("data-events") or 0)
    await page.wait_for_function(EVENTS_GREW, arg=[selector, before], timeout=WAIT)
    after = int(await page.locator(selector).get_attribute("data-events") or 0)
    assert after > before
    return before, after


async def perturb_from_console(page: Any, console: Any, text: str, expected: str) -> None:
    """Type into a console's input, press its Send button, see the result."""
    sent = int(await console.get_attribute("data-sent") or 0)
    replies = int(await console.get_attribute("data-replies") or 0)
    textarea = console.locator("textarea")
    await textarea.click()
    await textarea.press_sequentially(text)
    await expect(textarea).to_have_value(text)
    await console.get_by_role("button", name="Send").click()
    await expect(console).to_have_attribute("data-sent", str(sent + 1), timeout=WAIT)
    await expect(console).to_have_attribute("data-replies", str(replies + 1), timeout=WAIT)
    reply = console.locator(".trm-reply").first
    await expect(reply).to_have_attribute("data-kind", "result")
    await expect(reply.locator(".trm-reply-body")).to_have_text(f"result {expected}")


async def approve_a_card(
    page: Any,
    root_selector: str,
    client: TerrariumClient,
    screenshots: Screenshots,
    name: str,
    token_id: str | None = None,
) -> str:
    """Click Approve on a "Delete 47 records?" card (``token_id``'s, else the oldest): it
    goes, and the count drops by one (plus any the approver's own stream ejected meanwhile)."""
    root = page.locator(root_selector)
    cards = root.locator(".trm-card")
    if token_id is None:
        oldest = cards.filter(has_text="Delete 47 records?").first
        await expect(oldest).to_be_visible(timeout=SLOW)
        token_id = str(await oldest.get_attribute("data-token"))
    card = root.locator(f'.trm-card[data-token="{token_id}"]')
    await expect(card).to_be_visible(timeout=WAIT)
    await expect(card.locator(".trm-prompt")).to_have_text("Delete 47 records?")
    await page.wait_for_function(PENDING_SETTLED, arg=root_selector, timeout=WAIT)
    before_ids = set(await cards.evaluate_all("cards => cards.map((c) => c.dataset.token)"))
    before = int(await root.get_attribute("data-pending") or 0)
    assert before == len(before_ids) >= 1
    await screenshots.take(root, f"{name}-before")

    await card.get_by_role("button", name="Approve").click()

    await expect(card).to_have_count(0, timeout=WAIT)
    await page.wait_for_function(PENDING_SETTLED, arg=root_selector, timeout=WAIT)
    after_ids = set(await cards.evaluate_all("cards => cards.map((c) => c.dataset.token)"))
    after = int(await root.get_attribute("data-pending") or 0)
    assert token_id not in after_ids
    assert after == before - 1 + len(after_ids - before_ids)
    await screenshots.take(root, f"{name}-after")

    token = await asyncio.to_thread(client.request, "GET", "purgatory", "approver", token_id)
    assert token["status"] == "resolved"
    events = await asyncio.to_thread(
        client.request, "GET", "agents", "approver", "events", limit=1000
    )
    resolved = [
        event["data"]
        for event in events["events"]
        if event["type"] == "semaphore_resolved" and event["data"].get("token_id") == token_id
    ]
    assert [data["output"] for data in resolved] == [{"deleted": 47, "approved": True}]
    return token_id


async def run_the_tour(page: Any, lab: LabProcess) -> list[str]:
    """Open tour.ipynb, clear its saved outputs and run it from the Run menu, as a person
    does; every cell must run without error. Returns each code cell's output text."""
    await page.goto(f"{lab.url}/lab/tree/tour.ipynb?token={TOKEN}")
    await page.wait_for_function(KERNEL_IDLE, timeout=SLOW)
    await page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    await page.get_by_role("menuitem", name="Run", exact=True).click()
    await page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    state = await (await page.wait_for_function(RAN_TO_THE_END, timeout=SLOW)).json_value()
    assert state["errors"] == []
    outputs: list[str] = await page.evaluate(OUTPUT_TEXTS)
    assert len(outputs) == state["cells"]
    # The kernel found the server that runs it by JPY_PARENT_PID (nothing in its environment).
    assert "(JPY_PARENT_PID)" in outputs[0], outputs[0]
    assert "{'hello': 'terrarium'}" in outputs
    return outputs


async def check_the_agent_view(page: Any, screenshots: Screenshots, name: str) -> Any:
    """The AgentView of heartbeat: a live tile whose event count grows."""
    view = page.locator(".trm-agent-view")
    await expect(view).to_have_attribute("data-agent", "heartbeat")
    await expect(view).to_have_attribute("data-status", "live", timeout=WAIT)
    await expect(view.locator("canvas.trm-field")).to_be_visible()
    await expect(view.locator(".trm-log-line").first).to_be_visible(timeout=WAIT)
    await events_grow(page, ".trm-agent-view")
    await screenshots.take(view, name)
    return view


async def check_the_grid(page: Any, agents: list[str], screenshots: Screenshots, name: str) -> None:
    """The Terrarium widget: a tile for every agent."""
    grid = page.locator(".trm-terrarium")
    await expect(grid).to_have_attribute("data-agents", str(len(agents)), timeout=WAIT)
    await expect(grid).to_have_attribute("data-status", "live")
    tiles = await grid.locator(".trm-tile").evaluate_all(
        "tiles => tiles.map((tile) => tile.dataset.agent)"
    )
    assert sorted(tiles) == agents
    await screenshots.take(grid, name)


async def test_the_tour_notebook_runs_and_its_widgets_are_live(
    lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    client = client_of(lab)
    served = await served_agents(lab)
    async with browser_page(chromium) as (page, errors):
        outputs = await run_the_tour(page, lab)
        assert ast.literal_eval(outputs[1]) == served

        view = await check_the_agent_view(page, screenshots, "tour-agent-view")
        await check_the_grid(page, served, screenshots, "tour-terrarium")

        # PerturbConsole: type JSON, press Send, see the result.
        console = page.locator(".trm-perturb-console")
        await perturb_from_console(
            page, console, '{"hello": "browser", "n": [1, 2]}', '{"hello":"browser","n":[1,2]}'
        )
        await screenshots.take(console, "tour-perturb-console")

        # PurgatoryPanel: the tour's own cell made the approver ask; approve a card.
        await approve_a_card(page, ".trm-purgatory-panel", client, screenshots, "tour-purgatory")

        await view.scroll_into_view_if_needed()
        await screenshots.take(page, "tour-notebook")
        assert errors == []


async def test_the_dashboard_shows_every_agent_live_and_answers_purgatory(
    lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    client = client_of(lab)
    served = await served_agents(lab)
    async with browser_page(chromium) as (page, errors):
        await page.goto(f"{lab.url}/terrarium/?token={TOKEN}")
        for agent in served:
            await expect(page.locator(f'.trm-tile[data-agent="{agent}"]')).to_be_visible(
                timeout=WAIT
            )
        await expect(page.locator(".trm-header .trm-conn")).to_have_text(
            f"{len(served)} agents live", timeout=WAIT
        )
        await expect(page.locator(".trm-grid-view")).to_have_attribute(
            "data-agents", str(len(served))
        )
        heartbeat = '.trm-tile[data-agent="heartbeat"]'
        await events_grow(page, heartbeat)
        await screenshots.take(page, "dashboard")

        # The Beam: click a tile to aim the console at it, then perturb.
        await page.locator('.trm-tile[data-agent="echo"]').click()
        console = page.locator(".trm-beam .trm-console")
        await expect(console.locator(".trm-section-title code")).to_have_text("echo")
        await perturb_from_console(page, console, '{"from": "dashboard"}', '{"from":"dashboard"}')

        # Purgatory: a semaphore made over REST appears as a card; Approve resolves it.
        made = await asyncio.to_thread(
            client.request,
            "POST",
            "agents",
            "approver",
            "perturb",
            body={"data": {"action": "delete", "records": 47}},
        )
        token_id = made["token"]["id"]
        await approve_a_card(
            page, ".trm-purgatory", client, screenshots, "dashboard-purgatory", token_id
        )
        await events_grow(page, heartbeat)
        await screenshots.take(page, "dashboard-after-approve")
        assert errors == []


async def test_on_a_plain_jupyter_lab_the_tour_publishes_its_own_agents(
    plain_lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    """``jupyter lab`` without demo agents, as a new user starts it: the tour's kernel
    publishes echo, heartbeat and slow itself, and they breathe all the same."""
    published = ["echo", "heartbeat", "slow"]
    assert client_of(plain_lab).agents() == []
    async with browser_page(chromium) as (page, errors):
        outputs = await run_the_tour(page, plain_lab)
        assert outputs[1] == str(published)
        assert "no approver on this server" in "".join(outputs)

        view = await check_the_agent_view(page, screenshots, "plain-lab-agent-view")
        await check_the_grid(page, published, screenshots, "plain-lab-terrarium")
        console = page.locator(".trm-perturb-console")
        await perturb_from_console(page, console, '"from the kernel"', '"from the kernel"')
        await view.scroll_into_view_if_needed()
        await screenshots.take(page, "plain-lab-tour-notebook")
        assert errors == []


# -- in JupyterLab's themes; the chart, the event log, the Beam console -------------------

# The colours a person sees on `node`: its text colour over the background it sits on
# (translucent layers composited down to the first opaque one), their WCAG contrast
# ratio and the background's luminance (0 black, 1 white).
READABILITY = """(node) => {
    const parse = (value) => {
        if (value.startsWith("color(srgb")) {
            const [r, g, b, a] = value.match(/[\\d.]+/g).map(Number);
            return [r * 255, g * 255, b * 255, a ?? 1];
        }
        const [r, g, b, a] = value.match(/[\\d.]+/g).map(Number);
        return [r, g, b, a ?? 1];
    };
    const layers = [];
    for (let at = node; at; at = at.parentElement) {
        const colour = parse(getComputedStyle(at).backgroundColor);
        if (colour[3] > 0) layers.push(colour);
        if (colour[3] >= 1) break;
    }
    const over = ([r, g, b, a], [br, bg, bb]) =>
        [r * a + br * (1 - a), g * a + bg * (1 - a), b * a + bb * (1 - a)];
    let background = [255, 255, 255];
    for (const layer of layers.reverse()) background = over(layer, background);
    const text = over(parse(getComputedStyle(node).color), background);
    const luminance = ([r, g, b]) => {
        const linear = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const [hi, lo] = [luminance(text), luminance(background)].sort((x, y) => y - x);
    return {
        text: text.map(Math.round).join(","),
        background: background.map(Math.round).join(","),
        contrast: (hi + 0.05) / (lo + 0.05),
        luminance: luminance(background),
    };
}"""

# Labels a person must be able to read whole: any that is cut (its text wider than its
# box) or that sticks out of its tile, detail, console or card, with why.
CLIPPED = """(root) => {
    const selectors = [
        ".trm-tile-name", ".trm-tile-genus", ".trm-state", ".trm-pending-badge", ".trm-vital-label",
        ".trm-vital-value", ".trm-legend > span", ".trm-spark-label", ".trm-conn", ".trm-chip",
        ".trm-button", ".trm-log-search", ".trm-chart-key", ".trm-chart-span", ".trm-detail-name",
        ".trm-field-label", ".trm-priority-help", ".trm-as-text", ".trm-section-title",
        ".trm-purgatory-head h3", ".trm-count", ".trm-severity", ".trm-prompt",
    ];
    const clipped = [];
    for (const node of root.querySelectorAll(selectors.join(","))) {
        if (!node.getClientRects().length || node.closest("[hidden]")) continue;
        const box = node.getBoundingClientRect();
        const frames = ".trm-tile, .trm-detail, .trm-console, .trm-card, .trm-purgatory, .trm";
        const frame = node.closest(frames);
        const outer = frame.getBoundingClientRect();
        const cut = node.clientWidth > 0 && node.scrollWidth > node.clientWidth + 1;
        const out = box.left < outer.left - 1 || box.right > outer.right + 1;
        if (cut || out) {
            const label = node.textContent.trim().slice(0, 30);
            const what = `${node.className || node.tagName} "${label}"`;
            const why = cut
                ? `text ${node.scrollWidth} px in ${node.clientWidth} px`
                : "outside its frame";
            clipped.push(`${what}: ${why}`);
        }
    }
    return clipped;
}"""

# The mean luminance of what the chart drew at its left edge (the flow axis' numbers and
# label, nothing else is there): dark ink on a light theme, light ink on a dark one.
AXIS_INK = """(figure) => {
    const canvas = figure.querySelector("canvas");
    const ctx = canvas.getContext("2d");
    const width = Math.round(canvas.width * 0.06);
    const { data } = ctx.getImageData(0, 0, width, canvas.height);
    let sum = 0, n = 0;
    for (let i = 0; i < data.length; i += 4) {
        const alpha = data[i + 3] / 255;
        if (alpha < 0.15) continue;
        sum += (alpha * (0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2])) / 255;
        n += alpha;
    }
    return n ? sum / n : null;
}"""

LOG_LINES = """(log) => [...log.querySelectorAll(".trm-log-line")]
    .filter((line) => !line.hidden)
    .map((line) => ({ type: line.dataset.type, text: line.textContent }))"""


async def readability(locator: Any) -> dict[str, Any]:
    result: dict[str, Any] = await locator.evaluate(READABILITY)
    return result


async def assert_readable(root: Any, what: str) -> dict[str, dict[str, Any]]:
    """The main text reads well (WCAG AA, 4.5:1); labels, log lines, chips stay readable (3:1)."""
    seen = {"text": await readability(root)}
    assert seen["text"]["contrast"] >= 4.5, (what, seen)
    for name, selector in {
        "label": ".trm-vital-label",
        "value": ".trm-vital-value",
        "log": ".trm-log-line[data-type='result']",
        "chip": ".trm-chip",
    }.items():
        node = root.locator(selector).first
        if await node.count():
            seen[name] = await readability(node)
            assert seen[name]["contrast"] >= 3, (what, name, seen[name])
    return seen


async def assert_nothing_clipped(root: Any, what: str) -> None:
    clipped = await root.evaluate(CLIPPED)
    assert clipped == [], (what, clipped)


async def hover_the_chart(page: Any, figure: Any) -> Any:
    """Move the mouse over the chart, right to left, until its tooltip shows a sample."""
    over = figure.locator(".u-over")
    await over.scroll_into_view_if_needed()
    box = await over.bounding_box()
    assert box is not None and box["width"] > 100
    tip = figure.locator(".trm-chart-tip")
    for fraction in (0.97, 0.9, 0.75, 0.5, 0.25):
        await page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
        if await tip.is_visible():
            break
    await expect(tip).to_be_visible()
    return tip


async def check_the_chart(page: Any, figure: Any) -> None:
    """Axes (time, ev/s, %, queue), drawn; a tooltip with every series follows the mouse."""
    await expect(figure).to_have_attribute("data-ready", "", timeout=WAIT)
    await expect(figure).to_have_attribute("data-axes", "4")
    await expect(figure.locator(".u-axis")).to_have_count(4)
    await expect(figure.locator(".trm-chart-key")).to_have_text(
        [
            re.compile(r"^flow\s*ev/s$"),
            re.compile(r"^pressure\s*%$"),
            re.compile(r"^queue\s*waiting$"),
        ]
    )
    assert await figure.evaluate(AXIS_INK) is not None, "nothing drawn at the axis"
    tip = await hover_the_chart(page, figure)
    await expect(tip.locator(".trm-chart-tip-time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    await expect(tip.locator(".trm-chart-tip-row")).to_have_text(
        [
            re.compile(r"^flow\s*[\d.]+ ev/s$"),
            re.compile(r"^pressure\s*\d+ %$"),
            re.compile(r"^queue\s*\d+ waiting$"),
        ]
    )
    await page.mouse.move(0, 0)
    await expect(tip).to_be_hidden()


async def set_lab_theme(page: Any, theme: str) -> None:
    await page.evaluate(
        "async (theme) => {"
        " await window.jupyterapp.commands.execute('apputils:change-theme', {theme}); }",
        theme,
    )
    light = "true" if theme == "JupyterLab Light" else "false"
    await page.wait_for_function(
        f"""() => document.body.dataset.jpThemeLight === "{light}"
            && document.getElementById("jupyterlab-splash") === null""",
        timeout=WAIT,
    )


async def test_in_jupyterlab_the_widgets_follow_light_and_dark_and_fit_a_narrow_cell(
    lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    """The tour's widgets in JupyterLab Light, then Dark: JupyterLab's colours, readable
    text, nothing cut in a notebook cell about 700 px wide; the chart of a live agent
    with its tooltip; the log paused on a live stream; the Beam console's refusal and
    latency."""
    async with browser_page(chromium, {"width": 1100, "height": 1000}) as (page, errors):
        await run_the_tour(page, lab)
        view = page.locator(".trm-agent-view")
        await expect(view).to_have_attribute("data-status", "live", timeout=WAIT)
        grid = page.locator(".trm-terrarium")
        served = await served_agents(lab)
        await expect(grid).to_have_attribute("data-agents", str(len(served)), timeout=WAIT)
        width = await grid.evaluate("(node) => node.getBoundingClientRect().width")
        assert 600 <= width <= 800, f"the output area is {width} px wide"
        # A few metabolism samples in the chart (one a second while observed).
        await expect(view.locator(".trm-chart")).to_have_attribute(
            "data-samples", re.compile(r"^([3-9]|\d\d+)$"), timeout=WAIT
        )

        seen = {}
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            await set_lab_theme(page, theme)
            light = theme == "JupyterLab Light"
            await page.wait_for_function(
                f"(node) => ({READABILITY})(node).luminance {'>' if light else '<'} 0.5",
                arg=await view.element_handle(),
                timeout=WAIT,
            )
            seen[theme] = {
                "view": await assert_readable(view, f"AgentView, {theme}"),
                "grid": await assert_readable(grid, f"Terrarium(), {theme}"),
                "console": await assert_readable(page.locator(".trm-perturb-console"), theme),
                "purgatory": await assert_readable(page.locator(".trm-purgatory-panel"), theme),
            }
            for selector in (".trm-agent-view", ".trm-terrarium", ".trm-perturb-console"):
                await assert_nothing_clipped(page.locator(selector), f"{selector}, {theme}")
            # The chart's canvas follows too: dark ink on Light, light ink on Dark.
            figure = view.locator(".trm-chart")
            await page.wait_for_function(
                f"(figure) => {{ const ink = ({AXIS_INK})(figure); "
                f"return ink !== null && ink {'<' if light else '>'} 0.5; }}",
                arg=await figure.element_handle(),
                timeout=WAIT,
            )
            await view.scroll_into_view_if_needed()
            await expect(view).to_be_in_viewport()
            await screenshots.take(page, "widgets_light" if light else "widgets_dark")
        light, dark = seen["JupyterLab Light"], seen["JupyterLab Dark"]
        for part in ("view", "grid", "console"):
            assert light[part]["text"]["background"] != dark[part]["text"]["background"], part
            assert light[part]["text"]["text"] != dark[part]["text"]["text"], part
            assert light[part]["text"]["luminance"] > 0.8 > 0.1 > dark[part]["text"]["luminance"]

        # The chart of a live agent: axes, and a tooltip under the mouse.
        figure = view.locator(".trm-chart")
        await figure.scroll_into_view_if_needed()
        await check_the_chart(page, figure)

        # Paused, the live log stops and counts; resumed, the lines come.
        events = view.locator(".trm-events")
        log = events.locator(".trm-log")
        newest = "(log) => Number(log.querySelector('.trm-log-line:last-child').dataset.n)"
        await events.get_by_role("button", name="Pause").click()
        await expect(events).to_have_attribute("data-paused", "")
        before = await log.evaluate(newest)
        badge = events.locator(".trm-log-new")
        await expect(badge).to_have_text(re.compile(r"^[1-9]\d* new$"), timeout=WAIT)
        assert await log.evaluate(newest) == before
        await events.get_by_role("button", name="Resume").click()
        await expect(badge).to_be_hidden()
        await expect(events).not_to_have_attribute("data-paused", "")
        await page.wait_for_function(
            f"([log, before]) => ({newest})(log) > before", arg=[await log.element_handle(), before]
        )

        # The Beam console: broken JSON is refused until "send as text" is ticked.
        console = page.locator(".trm-perturb-console")
        await console.scroll_into_view_if_needed()
        await check_the_beam_console(page, console, screenshots)

        await set_lab_theme(page, "JupyterLab Light")
        assert errors == []


async def check_the_beam_console(page: Any, console: Any, screenshots: Screenshots) -> None:
    """``{"broken`` is refused with a message, nothing is sent; ticked "send as text", it
    goes as a string and the answer shows how long it took. The priority scale is
    explained beside its input."""
    sent = int(await console.get_attribute("data-sent") or 0)
    replies = int(await console.get_attribute("data-replies") or 0)
    priority = console.get_by_label("priority", exact=True)
    help_text = console.locator(".trm-priority-help")
    await expect(help_text).to_contain_text("1\N{EN DASH}199, default 100; higher is served first")
    await expect(help_text).to_contain_text("200 is reserved for resumed decisions")
    assert await priority.get_attribute("aria-describedby") == await help_text.get_attribute("id")
    field, explained = await priority.bounding_box(), await help_text.bounding_box()
    assert field is not None and explained is not None
    assert abs(explained["y"] - field["y"]) < field["height"] * 2, (
        "the scale is not beside the input"
    )

    textarea = console.locator("textarea")
    await textarea.fill("")
    await textarea.press_sequentially('{"broken')
    await console.get_by_role("button", name="Send").click()
    message = console.get_by_role("alert")
    await expect(message).to_be_visible()
    await expect(message).to_contain_text("looks like JSON but is not valid")
    await expect(message).to_contain_text("send as text")
    await expect(console).to_have_attribute("data-sent", str(sent))
    await screenshots.take(console, "beam_console_refused")

    await console.get_by_label("send as text").check()
    await expect(message).to_be_hidden()
    await console.get_by_role("button", name="Send").click()
    await expect(console).to_have_attribute("data-sent", str(sent + 1), timeout=WAIT)
    await expect(console).to_have_attribute("data-replies", str(replies + 1), timeout=WAIT)
    reply = console.locator(".trm-reply").first
    await expect(reply).to_have_attribute("data-kind", "result")
    await expect(reply.locator(".trm-reply-body")).to_have_text('result "{\\"broken"')
    await expect(reply.locator(".trm-reply-head")).to_contain_text("text")
    await expect(reply.locator(".trm-reply-latency")).to_have_text(re.compile(r"^\d+ ms$"))
    assert int(await reply.get_attribute("data-latency") or -1) >= 0
    await console.get_by_label("send as text").uncheck()
    await screenshots.take(console, "beam_console")


# -- the widgets on a page of their own: a stand-in kernel feeds exactly the frames a test needs

# heartbeat: five minutes and a second of metabolism (one sample a second), results, a
# perturbation, an error, a semaphore; then its stream starts over (a new epoch) and
# goes on. echo: a hello and one state change.
FEED = """async () => {
    const h = window.harness;
    await h.mount("agent_view", { agent_id: "heartbeat" });
    await h.mount("terrarium_grid", {});
    h.push({ type: "agents", agents: [
        { id: "heartbeat", genus: "heartbeat", state: "flowing" },
        { id: "echo", genus: "echo", state: "dormant" },
    ] });
    for (const agent of ["heartbeat", "echo"]) {
        h.frame({ type: "hello", protocol: 1, agent_id: agent, seq: 0, epoch: "e1",
                  snapshot: { state: "flowing", pressure: 12, flow: 2, observers: 1 } });
    }
    h.event("echo", "state", { state: "flowing", previous: "dormant" });
    const now = Date.now() / 1000;
    for (let i = 300; i >= 0; i -= 1) {
        const data = {
            state: "flowing", pressure: 40 + 30 * Math.sin(i / 20),
            flow: 2 + 1.5 * Math.cos(i / 15), temperature: 0.3, turbulence: 0,
            queue_depth: Math.round(3 + 3 * Math.sin(i / 9)), observers: 2,
        };
        const seq = h.seq("heartbeat");
        h.frame({ seq, ts: now - i, agent_id: "heartbeat", type: "metabolism", data });
    }
    for (let i = 0; i < 6; i += 1) h.event("heartbeat", "result", { output: { beat: i } });
    h.event("heartbeat", "perturbation", { perturbation_id: "p-1", priority: 150, by: "ann" });
    const error = { error: "boom", error_type: "ValueError", perturbation_id: "p-1" };
    h.event("heartbeat", "error", error);
    const token = { id: "tok-1", prompt: "Delete 47 records?", options: ["Approve"] };
    h.event("heartbeat", "semaphore_ejected", { token });
    h.frame({ type: "hello", protocol: 1, agent_id: "heartbeat", seq: 2, epoch: "e2", reset: true,
              snapshot: { state: "flowing" } });
    h.seq("heartbeat", true);
    h.frame({ seq: 1, ts: now, agent_id: "heartbeat", type: "state",
              data: { state: "flowing", previous: "dormant" } });
    for (let i = 0; i < 3; i += 1) h.event("heartbeat", "result", { output: { beat: 100 + i } });
}"""


async def open_the_harness(page: Any) -> None:
    await open_harness(page)
    await page.evaluate(FEED)
    await expect(page.locator(".trm-agent-view")).to_have_attribute("data-status", "live")
    await expect(page.locator(".trm-terrarium")).to_have_attribute("data-agents", "2")


async def test_the_event_log_filters_searches_pauses_and_marks_a_restarted_stream(
    chromium: Path, screenshots: Screenshots
) -> None:
    async with browser_page(chromium) as (page, errors):
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=HARNESS)
        await open_the_harness(page)
        events = page.locator(".trm-agent-view .trm-events")
        log = events.locator(".trm-log")
        await expect(log.locator(".trm-log-line")).to_have_count(14)
        shown = await log.evaluate(LOG_LINES)
        assert [line["type"] for line in shown] == [
            *["result"] * 6, "perturbation", "error", "semaphore_ejected",
            "reset", "state", "result", "result", "result",
        ]  # fmt: skip

        # Where the stream started over: a separator across the log, new numbering below.
        separator = log.get_by_role("separator")
        await expect(separator).to_have_count(1)
        await expect(separator).to_have_text(re.compile("started over"))
        await expect(log.locator(".trm-log-line").nth(10)).to_contain_text("#1 state")

        # A perturbation is not drawn as an error; an error is.
        perturbation = await readability(log.locator(".trm-log-line[data-type='perturbation']"))
        error = await readability(log.locator(".trm-log-line[data-type='error']"))
        result = await readability(log.locator(".trm-log-line[data-type='result']").first)
        assert perturbation["text"] != error["text"]
        red, green, blue = (int(c) for c in error["text"].split(","))
        assert red > green + 40 and red > blue + 40, error
        red, green, blue = (int(c) for c in perturbation["text"].split(","))
        assert not (red > green + 40 and red > blue + 40), perturbation
        assert perturbation["contrast"] >= 3 and result["contrast"] >= 4.5

        # The type filter: hide results, then errors; the separator stays.
        chips = events.get_by_role("group", name="show event types")
        await expect(chips.locator(".trm-chip[data-group='result']")).to_have_text(
            re.compile(r"result\s*9")
        )
        await chips.get_by_role("button", name=re.compile("^result")).click()
        await expect(chips.locator(".trm-chip[data-group='result']")).to_have_attribute(
            "aria-pressed", "false"
        )
        assert [line["type"] for line in await log.evaluate(LOG_LINES)] == [
            "perturbation", "error", "semaphore_ejected", "reset", "state",
        ]  # fmt: skip
        await chips.get_by_role("button", name=re.compile("^error")).click()
        assert "error" not in [line["type"] for line in await log.evaluate(LOG_LINES)]
        for group in ("result", "error"):
            await chips.get_by_role("button", name=re.compile(f"^{group}")).click()
        await expect(log.locator(".trm-log-line:visible")).to_have_count(14)

        # The search: the line and its whole frame, every word.
        search = events.get_by_role("searchbox", name="search the log")
        await search.fill("valueerror p-1")
        assert [line["type"] for line in await log.evaluate(LOG_LINES)] == ["error", "reset"]
        await search.fill("beat 101")
        assert [
            line["text"] for line in await log.evaluate(LOG_LINES) if line["type"] != "reset"
        ] == ['#3 result {"beat":101}']
        await search.fill("nothing like this")
        await expect(events.locator(".trm-log-empty")).to_be_visible()
        await search.fill("")
        await expect(events.locator(".trm-log-empty")).to_be_hidden()

        # Pause: new events are counted, not shown; resume shows them.
        await events.get_by_role("button", name="Pause").click()
        await page.evaluate(
            "() => { for (let i = 0; i < 5; i += 1)"
            " harness.event('heartbeat', 'result', { output: { late: i } }); }"
        )
        badge = events.locator(".trm-log-new")
        await expect(badge).to_have_text("5 new")
        await expect(log.locator(".trm-log-line")).to_have_count(14)
        await expect(log).not_to_contain_text("late")
        await badge.click()
        await expect(badge).to_be_hidden()
        await expect(log.locator(".trm-log-line")).to_have_count(19)
        await expect(log.locator(".trm-log-line").last).to_contain_text('{"late":4}')

        # A line opens to its whole event as indented JSON, and Copy copies it.
        line = log.locator(".trm-log-line[data-type='error']")
        await line.locator(".trm-log-head").click()
        await expect(line.locator(".trm-log-head")).to_have_attribute("aria-expanded", "true")
        pretty = line.locator(".trm-log-json")
        await expect(pretty).to_be_visible()
        text = await pretty.text_content() or ""
        frame = json.loads(text)
        assert frame["type"] == "error" and frame["data"]["error_type"] == "ValueError"
        assert '\n  "data": {\n    "error": "boom",' in text
        await line.get_by_role("button", name="Copy").click()
        await expect(line.locator(".trm-log-copied")).to_have_text("copied")
        assert await page.evaluate("() => navigator.clipboard.readText()") == text
        await screenshots.take(page.locator(".trm-agent-view"), "event_log")
        await line.locator(".trm-log-head").click()
        await expect(pretty).to_have_count(0)
        assert errors == []


async def test_the_chart_holds_five_minutes_with_axes_a_tooltip_and_the_theme(
    chromium: Path, screenshots: Screenshots
) -> None:
    async with browser_page(chromium) as (page, errors):
        await open_the_harness(page)
        figure = page.locator(".trm-agent-view .trm-chart")
        await expect(figure).to_have_attribute("data-samples", "301")
        await expect(figure.locator(".trm-chart-span")).to_have_text("the last 5 min")
        await check_the_chart(page, figure)
        await hover_the_chart(page, figure)
        await screenshots.take(page.locator(".trm-agent-view .trm-tile"), "chart")
        await page.mouse.move(0, 0)

        # The canvas follows the theme: JupyterLab Light's dark ink, Dark's light ink, and
        # the dark look outside Lab.
        inks = {}
        for theme in ("light", "dark", None):
            await apply_lab_theme(page, theme)
            await page.wait_for_function(
                f"([figure, light]) => {{ const ink = ({AXIS_INK})(figure); return light === null"
                " ? ink > 0.3 && ink < 0.8 : light ? ink < 0.3 : ink > 0.8; }",
                arg=[await figure.element_handle(), None if theme is None else theme == "light"],
            )
            inks[theme] = await figure.evaluate(AXIS_INK)
        assert inks["light"] < inks[None] < inks["dark"]

        # The grid: a click selects a tile; its detail shows that agent's chart and log.
        grid = page.locator(".trm-terrarium")
        detail = grid.locator(".trm-detail")
        await expect(detail).to_have_attribute("data-agent", "echo")
        await grid.locator('.trm-tile[data-agent="heartbeat"]').click()
        await expect(detail).to_have_attribute("data-agent", "heartbeat")
        await expect(grid.locator('.trm-tile[data-agent="heartbeat"]')).to_have_attribute(
            "aria-current", "true"
        )
        await expect(detail.locator(".trm-chart")).to_have_attribute("data-samples", "301")
        await check_the_chart(page, detail.locator(".trm-chart"))
        await expect(detail.get_by_role("separator")).to_have_count(1)

        # In a cell 700 px wide, nothing is cut, in any theme.
        for theme in (None, "light", "dark"):
            await apply_lab_theme(page, theme)
            for selector in (".trm-agent-view", ".trm-terrarium"):
                await assert_nothing_clipped(page.locator(selector), f"{selector}, {theme}")
        assert errors == []


# Is `node` on screen and on top at its middle (not under another element), at this scroll?
REACHABLE = """(node) => {
    const box = node.getBoundingClientRect();
    const x = box.left + Math.min(box.width / 2, 40), y = box.top + Math.min(box.height / 2, 12);
    const inside = box.width > 0 && box.top >= 0 && box.bottom <= innerHeight + 1
        && box.left >= 0 && box.right <= innerWidth + 1;
    const top = document.elementFromPoint(x, y);
    return inside && top !== null && (top === node || node.contains(top));
}"""


async def test_the_dashboard_in_lab_themes_fills_a_wide_window_and_keeps_the_beam_at_hand(
    lab: LabProcess, chromium: Path, screenshots: Screenshots
) -> None:
    """The dashboard page is outside JupyterLab: with JupyterLab's own Light and Dark
    variables put in (as Lab would), it takes their colours, readable; without, its dark
    look. 1920 px wide, the selected agent's log reaches down the window; 700 px wide,
    Purgatory and the Beam stay on screen while the tiles scroll."""
    async with browser_page(chromium, {"width": 1920, "height": 1080}) as (page, errors):
        await page.goto(f"{lab.url}/terrarium/?token={TOKEN}")
        await expect(page.locator('.trm-tile[data-agent="heartbeat"]')).to_be_visible(timeout=WAIT)
        shell = page.locator(".trm-shell")
        seen = {}
        for theme in (None, "light", "dark"):
            await apply_lab_theme(page, theme)
            seen[theme] = {
                "page": await assert_readable(shell, f"dashboard, {theme}"),
                "tile": await assert_readable(page.locator(".trm-tile").first, f"tile, {theme}"),
                "beam": await assert_readable(page.locator(".trm-beam"), f"Beam, {theme}"),
                "purgatory": await assert_readable(page.locator(".trm-side .trm").first, theme),
            }
            if theme is not None:
                await screenshots.take(page, f"dashboard_{theme}")
        assert seen["light"]["page"]["text"]["luminance"] > 0.8
        assert seen["dark"]["page"]["text"]["luminance"] < 0.1
        assert seen[None]["page"]["text"]["luminance"] < 0.1
        for part in ("page", "tile", "beam"):
            assert (
                seen["light"][part]["text"]["background"]
                != seen["dark"][part]["text"]["background"]
            )
            assert seen["light"][part]["text"]["text"] != seen["dark"][part]["text"]["text"]
            # Lab Dark is Lab's colours, not the page's own dark look.
            assert (
                seen["dark"][part]["text"]["background"] != seen[None][part]["text"]["background"]
            )

        # 1920 px: the detail of the selected agent sits beside the tiles, and once scrolled
        # to, it runs down the window, its log taking the height the chart leaves.
        await apply_lab_theme(page, None)
        detail = page.locator(".trm-grid-view .trm-detail")
        await expect(detail).to_have_attribute("data-agent", re.compile(r".+"), timeout=WAIT)
        await page.locator('.trm-tile[data-agent="heartbeat"]').click()
        await expect(detail).to_have_attribute("data-agent", "heartbeat")
        await page.evaluate("window.scrollTo(0, 0)")
        tiles, beside = await page.locator(".trm-grid").bounding_box(), await detail.bounding_box()
        assert tiles is not None and beside is not None
        assert beside["x"] >= tiles["x"] + tiles["width"] and abs(beside["y"] - tiles["y"]) < 40
        await page.evaluate(
            "(node) => window.scrollTo(0, node.getBoundingClientRect().top + scrollY - 12)",
            await detail.element_handle(),
        )
        log = detail.locator(".trm-log")
        box = await log.bounding_box()
        height = await page.evaluate("innerHeight")
        assert box is not None and box["height"] > 0.4 * height, box
        assert height - 60 <= box["y"] + box["height"] <= height, (box, height)
        await screenshots.take(page, "dashboard_1920")

        # 700 px: one column; Purgatory and the Beam stay in view at the top, the middle
        # and the bottom of the page.
        await page.set_viewport_size({"width": 700, "height": 900})
        beam = page.locator(".trm-beam textarea")
        purgatory = page.locator(".trm-side .trm-purgatory-head h3")
        scroll = await page.evaluate("document.documentElement.scrollHeight - innerHeight")
        assert scroll > 900, "the page is not taller than the window: nothing to test"
        for at in (0, scroll // 2, scroll):
            await page.evaluate("(y) => window.scrollTo(0, y)", at)
            for node in (beam, purgatory):
                assert await node.evaluate(REACHABLE), f"not reachable at scroll {at}"
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshots.take(page, "dashboard_narrow")
        # Either folds away, and comes back.
        side = page.locator(".trm-side")
        for name, body in (
            ("fold Purgatory", ".trm-purgatory-body"),
            ("fold the Beam", ".trm-console-body"),
        ):
            fold = side.get_by_role("button", name=name)
            await fold.click()
            await expect(fold).to_have_attribute("aria-expanded", "false")
            await expect(side.locator(body)).to_be_hidden()
            await fold.click()
            await expect(side.locator(body)).to_be_visible()
        assert errors == []
