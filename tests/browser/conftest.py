"""Headless Debian Chromium driven by Playwright, against easel's real app on loopback."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the main states are saved for people to look at (never compared by pixel)."""
    path = tmp_path_factory.getbasetemp() / "screenshots"
    path.mkdir(exist_ok=True)
    return path


@dataclass
class Tab:
    page: object  # playwright.async_api.Page
    errors: list[str] = field(default_factory=list)  # console errors, failed or blocked loads


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; "
                    "`make test` installs it when run as root): browser tests skipped")
    playwright_api = pytest.importorskip("playwright.async_api",
                                         reason="playwright is not installed (make test)")
    async with playwright_api.async_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture
def open_tab(browser):
    """A new tab (its own cookies) with every console error and every non-loopback
    request recorded: the page must load nothing from outside."""

    async def make(url: str, **context: object) -> Tab:
        ctx = await browser.new_context(**context)
        page = await ctx.new_page()
        tab = Tab(page)
        page.on("console", lambda m: tab.errors.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: tab.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: tab.errors.append(f"failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: tab.errors.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 else None)

        async def only_loopback(route) -> None:
            host = urlparse(route.request.url).hostname
            if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                await route.continue_()
            else:
                tab.errors.append(f"external request blocked: {route.request.url}")
                await route.abort()

        await page.route("**/*", only_loopback)
        await page.goto(url)
        return tab

    return make
