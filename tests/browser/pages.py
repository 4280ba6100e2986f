"""Headless Chromium for the browser tests, and the screenshots they leave for people.

The browser is Debian's ``/usr/bin/chromium``, never a downloaded one.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

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
async def browser_page(chromium: Path) -> AsyncIterator[tuple[Any, list[str]]]:
    """A fresh headless Chromium, one page, and the page's uncaught errors as they come."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport=VIEWPORT)
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
