"""The dashboard page in headless Chromium, against the fake status API.

These test the page itself (rendering, live updates over the event stream, the detail panel,
reconnection); the real service's endpoints are tested with the service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from playwright.async_api import ConsoleMessage, Page, Request, expect

from tests.browser.chromium import launch_chromium, screenshot
from tests.browser.fake_api import FEATURE_PLAN, REFACTOR_PLAN, FakeStatusApi, serve

pytestmark = pytest.mark.integration

LIVE = "feature_dev_001"
"""The workflow whose progress the fake moves 0 → 100 during the test."""

# Records every change of the row's progress bar, on that very element: proof that the
# row is updated in place and that no step is skipped.
WATCH_PROGRESS = """
(id) => {
  const bar = document.querySelector(`[data-workflow-id="${id}"] .progress-bar`);
  window.progressSeen = [];
  new MutationObserver(() => {
    const value = bar.dataset.progress;
    if (window.progressSeen.at(-1) !== value) window.progressSeen.push(value);
  }).observe(bar, { attributes: true, attributeFilter: ["data-progress"] });
}
"""


@dataclass
class Watch:
    """What the page did wrong: script errors, console errors, requests off the fake API."""

    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)


@asynccontextmanager
async def dashboard(fake: FakeStatusApi, *, path: str = "/") -> AsyncIterator[tuple[Page, Watch]]:
    """The dashboard at ``path`` in Chromium, served by ``fake``; the browser closes first."""
    async with serve(fake.app) as base, launch_chromium() as context:
        page = await context.new_page()
        watch = Watch()
        page.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                watch.console_errors.append(msg.text)

        def on_request(request: Request) -> None:
            if not request.url.startswith((base, "data:")):
                watch.foreign_requests.append(request.url)

        page.on("console", on_console)
        page.on("request", on_request)
        await page.goto(f"{base}{path}")
        yield page, watch
        await page.close()


def row(workflow_id: str) -> str:
    """The selector of one workflow's row."""
    return f'[data-workflow-id="{workflow_id}"]'


async def test_rows_follow_live_progress_and_detail_shows_critical_path() -> None:
    fake = FakeStatusApi()
    async with dashboard(fake) as (page, watch):
        live = page.locator(row(LIVE))
        await expect(live).to_be_visible()
        bar = live.locator(".progress-bar")
        await expect(bar).to_have_attribute("data-progress", "0")
        await expect(live.locator("[data-status]")).to_have_attribute("data-status", "STARTED")
        await expect(page.locator("#connection")).to_have_attribute("data-connection", "live")
        # Every workflow of the list is shown, and the side panels are filled.
        await expect(page.locator("#workflow-rows tr[data-workflow-id]")).to_have_count(
            len(fake.workflows)
        )
        await expect(page.locator("#queue li")).to_have_count(2)
        await expect(page.locator("#resources [data-pool]")).to_have_count(5)
        await expect(page.locator("#alerts li")).to_have_count(4)
        await expect(page.locator("#bottlenecks li")).to_have_count(2)
        await expect(page.locator('[data-status-count="STARTED"] .n')).to_have_text("2")
        await screenshot(page, "dashboard-start")

        # The detail of the live workflow, fetched with the detail flags.
        await live.click()
        detail = page.locator("#detail")
        await expect(detail).to_be_visible()
        critical = detail.locator(".critical")
        await expect(critical).to_have_count(len(FEATURE_PLAN.critical))
        ids = [await item.get_attribute("data-task-id") for item in await critical.all()]
        assert ids == list(FEATURE_PLAN.critical)
        await expect(detail.locator("tr.on-critical-path")).to_have_count(len(ids))
        assert fake.detail_queries[-1] == {"detailed": "true", "include_dependencies": "true"}

        await page.evaluate(WATCH_PROGRESS, LIVE)
        await fake.run_progress(LIVE, steps=(25, 50, 75, 100), interval=0.75)
        await page.wait_for_function(
            """(id) => document.querySelector(`[data-workflow-id="${id}"] .progress-bar`)
                 ?.dataset.progress === "100" """,
            arg=LIVE,
            timeout=10_000,
        )
        assert await page.evaluate("window.progressSeen") == ["25", "50", "75", "100"]
        await expect(live.locator(".progress-text")).to_have_text("100 %")
        await expect(live.locator("[data-status]")).to_have_attribute("data-status", "COMPLETED")
        await expect(page.locator('[data-status-count="COMPLETED"] .n')).to_have_text("2")
        # The open detail follows the stream too: done, nothing left on the critical path.
        await expect(detail).to_have_attribute("data-status", "COMPLETED")
        await expect(critical).to_have_count(0)

        # Another running workflow shows its own critical path, highlighted in its tasks.
        await page.locator(row("refactor_auth_004")).click()
        await expect(detail).to_have_attribute("data-shown", "refactor_auth_004")
        expected = REFACTOR_PLAN.critical_path(40)
        await expect(critical).to_have_count(len(expected))
        await expect(critical.first).to_have_attribute("data-task-id", expected[0])
        await screenshot(page, "dashboard-done")

        assert watch.page_errors == []
        assert watch.console_errors == []
        assert watch.foreign_requests == []


async def test_stream_reconnects_and_catches_up() -> None:
    fake = FakeStatusApi()
    async with dashboard(fake) as (page, watch):
        status = page.locator(row("bug_fix_002")).locator("[data-status]")
        connection = page.locator("#connection")
        await expect(status).to_have_attribute("data-status", "QUEUED")
        await expect(connection).to_have_attribute("data-connection", "live")

        # A change the stream never carries: the page must reload the list on reconnecting.
        await fake.update("bug_fix_002", publish=False, status="STARTED", progress=10.0)
        # The browser's own retry gets a 503 and gives up; the page must retry by itself.
        fake.fail_streams = 1
        attempts = fake.stream_attempts
        fake.drop_streams()
        await expect(connection).to_have_attribute("data-connection", "offline")
        await expect(status).to_have_attribute("data-status", "STARTED", timeout=10_000)
        await expect(connection).to_have_attribute("data-connection", "live")
        assert fake.stream_attempts >= attempts + 2

        # And the new stream delivers events again.
        await fake.update("bug_fix_002", status="STARTED", progress=33.0)
        bar = page.locator(row("bug_fix_002")).locator(".progress-bar")
        await expect(bar).to_have_attribute("data-progress", "33")
        assert watch.page_errors == []
        assert watch.foreign_requests == []


async def test_keyboard_links_and_filters() -> None:
    fake = FakeStatusApi()
    async with dashboard(fake, path="/#wf=refactor_auth_004") as (page, watch):
        detail = page.locator("#detail")
        rows = page.locator("#workflow-rows tr[data-workflow-id]:visible")
        # A link to a workflow opens its detail; Escape closes it and returns to its row.
        await expect(detail).to_have_attribute("data-shown", "refactor_auth_004")
        await page.keyboard.press("Escape")
        await expect(detail).to_be_hidden()
        await expect(page.locator(row("refactor_auth_004"))).to_be_focused()

        # Rows open from the keyboard, and workflow links in the side panels open them too.
        await page.locator(row("docs_003")).focus()
        await page.keyboard.press("Enter")
        await expect(detail).to_have_attribute("data-shown", "docs_003")
        await page.locator('#queue [data-open-workflow="bug_fix_002"]').click()
        await expect(detail).to_have_attribute("data-shown", "bug_fix_002")

        # Text and status filters.
        await page.locator("#filter-text").fill("auth")
        await expect(rows).to_have_count(1)
        await page.locator("#filter-text").fill("")
        await page.locator('[data-status-count="QUEUED"]').click()
        await expect(rows).to_have_count(2)
        await expect(page.locator("#filter-status")).to_have_value("QUEUED")
        await page.locator('[data-status-count="QUEUED"]').click()
        await expect(rows).to_have_count(len(fake.workflows))

        # An unknown workflow gets a message, not a broken panel.
        await page.evaluate("location.hash = '#wf=no_such_workflow'")
        await expect(detail.locator(".callout")).to_contain_text("not known")
        assert watch.page_errors == []
