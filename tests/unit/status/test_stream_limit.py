"""The live stream's limit of clients, over a real HTTP server: one client more is answered
503 with a JSON error, and a place is given back when its client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from baton.runtime.http import HttpServer
from baton.security.http_auth import STREAM_PATH, HttpAuth, HttpTokens, new_token, token_line
from baton_status.api import build_router
from baton_status.api_models import Overview
from baton_status.stream import Broadcaster
from tests.behaviour.helpers import eventually

TOKEN = new_token()


class OverviewOnly:
    """The one reader call the stream makes."""

    async def overview(self) -> Overview:
        return Overview(at="2026-01-01T00:00:00Z")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Broadcaster]]:
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(token_line(token=TOKEN, role="read") + "\n")
    stream = Broadcaster(max_clients=2)
    app = FastAPI()
    app.include_router(build_router(reader=OverviewOnly(), stream=stream, list_limit=10))  # type: ignore[arg-type]
    app.add_middleware(HttpAuth, tokens=HttpTokens.load(path=tokens_file))
    server = HttpServer(host="127.0.0.1", port=0)
    task = await server.start(app, stop_timeout=1)
    yield f"http://127.0.0.1:{server.port}", stream
    stream.close()
    server.request_stop()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


async def _first_event(lines: AsyncIterator[str]) -> str:
    # Not `async for ... break`: the iterator, once collected, would close the response.
    while not (line := await anext(lines)).startswith("event: "):
        pass
    return line


async def test_one_client_too_many_is_answered_503_until_a_place_frees(
    served: tuple[str, Broadcaster],
) -> None:
    base, stream = served
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=10))
        auth: list[dict[str, Any]] = [
            {"headers": {"Authorization": f"Bearer {TOKEN}"}},
            {"params": {"access_token": TOKEN}},  # as the dashboard's EventSource sends it
        ]
        opened = []
        for how in auth:
            response = await stack.enter_async_context(http.stream("GET", STREAM_PATH, **how))
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert await _first_event(lines) == "event: overview"
            opened.append((response, lines))
        assert stream.clients == 2
        full = await http.get(STREAM_PATH, headers={"Authorization": f"Bearer {TOKEN}"})
        assert full.status_code == 503
        assert full.headers["content-type"] == "application/json"
        assert full.json() == {
            "error": "StreamFullError",
            "message": "the live stream has its 2 clients; try again later",
            "max_clients": 2,
            "retriable": True,
        }
        # Refused before it takes a place: an unauthenticated client cannot fill the stream.
        assert (await http.get(STREAM_PATH)).status_code == 401
        await opened[0][0].aclose()
        await eventually(lambda: stream.clients == 1, timeout=10, what="the place given back")
        async with http.stream("GET", STREAM_PATH, **auth[0]) as again:
            assert again.status_code == 200
            assert await _first_event(again.aiter_lines()) == "event: overview"
