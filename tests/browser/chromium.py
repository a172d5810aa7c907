"""Headless Chromium for browser tests: Debian's system Chromium, driven by Playwright.

Playwright's own browser downloads are not used (the network may be closed); the tests need
``/usr/bin/chromium``, which ``scripts/browser.sh`` installs.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

__all__ = ["ARTIFACTS", "CHROMIUM", "FLAGS", "launch_chromium", "require_chromium", "screenshot"]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start (updates, sync, field trials) and hangs
    # or logs errors where the network is closed.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> Path:
    """The Chromium binary; fails the test (never skips it) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/browser.sh (as root) to install Debian's chromium",
            pytrace=False,
        )
    return CHROMIUM


@contextlib.asynccontextmanager
async def launch_chromium(
    *, width: int = 1280, height: int = 800, color_scheme: Literal["light", "dark"] = "light"
) -> AsyncIterator[BrowserContext]:
    """Start headless Chromium with a fresh profile; yields its browser context.

    The context is a persistent one because that is how Playwright takes a profile
    directory; the directory is temporary, so nothing carries over between runs.
    """
    require_chromium()
    with tempfile.TemporaryDirectory(
        prefix="baton-chromium-", ignore_cleanup_errors=True
    ) as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=list(FLAGS),
                viewport={"width": width, "height": height},
                color_scheme=color_scheme,
            )
            try:
                yield context
            finally:
                await context.close()


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` as ``test-artifacts/browser/<name>.png``; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (name if name.endswith(".png") else f"{name}.png")
    await page.screenshot(path=str(path), full_page=full_page)
    return path
