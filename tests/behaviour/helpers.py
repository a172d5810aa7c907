"""Small async helpers for behaviour tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
    """Wait until ``check()`` is true, failing the test with ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.05)


async def settle(seconds: float = 0.5) -> None:
    """Give stragglers a chance to arrive (used before asserting 'nothing more came')."""
    await asyncio.sleep(seconds)


async def eventually_async(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, what: str = ""
) -> None:
    """Like :func:`eventually` for a check that must itself be awaited (an HTTP call...)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.2)
