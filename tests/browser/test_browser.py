"""What a person sees: the tour notebook in JupyterLab, and the ``{base}terrarium/`` dashboard.

A real ``jupyter lab`` (the extension as installed, the demo agents) runs in
a child process; headless Chromium opens the tour notebook, runs every cell
from JupyterLab's Run menu, and uses the widgets the way a person does:
watches a tile breathe, types a perturbation into the console, clicks
Approve on a Purgatory card. Every wait is an explicit condition with a
generous timeout; nothing is timed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from terrarium.client import TerrariumClient, connect
from tests.browser.pages import Screenshots, browser_page
from tests.launcher import TOKEN, LabProcess

# JupyterLab, a kernel and a whole notebook per test: more than the suite's 120 s default.
pytestmark = pytest.mark.timeout(300)

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
    async with browser_page(chromium) as (page, errors):
        outputs = await run_the_tour(page, lab)
        assert outputs[1] == str(DEMO_AGENTS)

        view = await check_the_agent_view(page, screenshots, "tour-agent-view")
        await check_the_grid(page, DEMO_AGENTS, screenshots, "tour-terrarium")

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
    async with browser_page(chromium) as (page, errors):
        await page.goto(f"{lab.url}/terrarium/?token={TOKEN}")
        for agent in DEMO_AGENTS:
            await expect(page.locator(f'.trm-tile[data-agent="{agent}"]')).to_be_visible(
                timeout=WAIT
            )
        await expect(page.locator(".trm-header .trm-conn")).to_have_text(
            f"{len(DEMO_AGENTS)} agents live", timeout=WAIT
        )
        await expect(page.locator(".trm-grid-view")).to_have_attribute(
            "data-agents", str(len(DEMO_AGENTS))
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
