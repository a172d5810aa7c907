"""The dashboard of a status service that wants a token (BATON_HTTP_TOKENS_FILE): it asks
for one on the API's 401, says when one is refused, then shows the data and goes live
(the stream takes the token as ``?access_token=``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from baton.security.http_auth import HttpAuth, HttpTokens, new_token, token_line
from tests.browser.fake_api import FakeStatusApi
from tests.browser.test_dashboard_page import LIVE, dashboard, row

pytestmark = pytest.mark.integration


async def test_the_page_asks_for_a_token_and_keeps_it_for_the_tab(tmp_path: Path) -> None:
    read, metrics = new_token(), new_token()
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(
        f"{token_line(token=read, role='read')}\n{token_line(token=metrics, role='metrics')}\n"
    )
    fake = FakeStatusApi()
    fake.app.add_middleware(HttpAuth, tokens=HttpTokens.load(path=tokens_file))
    async with dashboard(fake) as (page, watch):
        form = page.locator("#auth")
        await expect(form).to_be_visible()
        await expect(page.locator("#auth-error")).to_be_hidden()
        await expect(page.locator(row(LIVE))).to_have_count(0)
        for refused in (new_token(), metrics):  # unknown, then of the wrong role
            await page.fill("#auth-token", refused)
            await page.press("#auth-token", "Enter")
            await expect(page.locator("#auth-error")).to_be_visible()
            await expect(form).to_be_visible()
        await page.fill("#auth-token", read)
        await page.click("#auth button[type=submit]")
        await expect(form).to_be_hidden()
        await expect(page.locator(row(LIVE))).to_be_visible()
        await expect(page.locator("#connection")).to_have_attribute("data-connection", "live")
        assert fake.stream_clients == 1
        assert await page.evaluate("sessionStorage.getItem('baton-token')") == read
        # Reloaded, the tab still has it: no question asked.
        await page.reload()
        await expect(page.locator(row(LIVE))).to_be_visible()
        await expect(form).to_be_hidden()
        assert watch.page_errors == []
