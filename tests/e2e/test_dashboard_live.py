"""Issue 4's browser acceptance: the real dashboard shows a real workflow go 0 % → 100 %."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from baton.bus import Bus
from tests.browser.chromium import launch_chromium, screenshot
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_hub_resource import hub

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WATCH = """
(id) => {
  window.progressSeen = [];
  const look = () => {
    const bar = document.querySelector(`[data-workflow-id="${id}"] .progress-bar`);
    if (!bar) { requestAnimationFrame(look); return; }
    const note = () => {
      const value = Number(bar.dataset.progress);
      if (window.progressSeen.at(-1) !== value) window.progressSeen.push(value);
    };
    note();
    new MutationObserver(note).observe(bar, { attributes: true });
  };
  look();
}
"""


async def test_dashboard_shows_a_workflow_progress_live(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, _ = client
    agents.policy = lambda e: Decision(delay=1.0)  # slow enough to watch
    agents.attach()
    definition = {
        "workflow_id": "feature_dev_001",
        "name": "User Authentication Feature",
        "priority": "high",
        "phases": ["research", "planning", "implementation", "testing"],
        "resource_requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
    }
    async with (
        Cluster(["resource", "hub", "status"], env=e2e_env, log_dir=log_dir) as cluster,
        bus,
        launch_chromium() as browser,
    ):
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"http://127.0.0.1:{cluster['status'].port}/")
        await page.evaluate(WATCH, "feature_dev_001")
        await hub(bus, "CREATE_WORKFLOW", "feature_dev_001", {"definition": definition})
        row = page.locator('[data-workflow-id="feature_dev_001"]')
        await expect(row).to_be_visible(timeout=30_000)
        await screenshot(page, "live-start")
        await expect(row.locator(".progress-bar")).to_have_attribute(
            "data-progress", "100", timeout=90_000
        )
        await expect(row.locator("[data-status]")).to_have_attribute(
            "data-status", "COMPLETED", timeout=30_000
        )
        await row.click()
        await expect(page.locator("#detail")).to_be_visible()
        await screenshot(page, "live-done")
        seen = await page.evaluate("window.progressSeen")
    assert seen[0] == 0
    assert seen[-1] == 100
    assert len(seen) >= 4, seen  # it moved in steps the user could see, not one jump
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert not errors
