"""Debian's Chromium driven by Playwright, for the tests that use a UI as a person does.

Playwright's own browser builds are never downloaded (``playwright install`` is not used): it drives the
``chromium`` package (``make test`` installs it when missing). The flags keep a headless root browser
off the network: no sandbox (we are root), and none of Chromium's background traffic (updates, sync,
field trials) that would only knock on a closed network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# How long a page may take to show what is awaited: generous, for a loaded 2-core machine (at load 17,
# a task's log page took over a minute to show its first lines).
UI_TIMEOUT_MS = 180_000
VIEWPORT = {"width": 1600, "height": 1000}

expect.set_options(timeout=UI_TIMEOUT_MS)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (no cookies or local storage from another test)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows as ``test-artifacts/browser/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path)
    return path
