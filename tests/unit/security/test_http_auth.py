"""Bearer tokens on the services' HTTP side: every route of every service, as the app
itself lists them, refuses a request without a token, with an unknown one or with one of
the wrong role; the probes stay open; the tokens file is hashed and read again when it
changes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from baton.bus import MemoryTransport
from baton.config import BatonSettings
from baton.errors import ConfigError
from baton.runtime import Service, ServiceRunner
from baton.runtime.health import build_app
from baton.security.http_auth import (
    METRICS_PATH,
    OPEN_PATHS,
    STREAM_PATH,
    HttpAuth,
    HttpTokens,
    new_token,
    token_line,
)
from baton_hub.runner import HubService
from baton_monitor.runner import MonitorService
from baton_recovery.runner import RecoveryService
from baton_resource.runner import ResourceService
from baton_status.runner import StatusService

SERVICES: tuple[type[Service], ...] = (
    HubService,
    ResourceService,
    StatusService,
    MonitorService,
    RecoveryService,
)
READ = new_token()
METRICS = new_token()
UNKNOWN = new_token()


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(
        "# Baton's HTTP tokens\n"
        f"{token_line(token=READ, role='read')}  # dashboard\n"
        "\n"
        f"{token_line(token=METRICS, role='metrics')}\n"
    )
    return path


def test_the_file_holds_hashes_not_tokens(tokens_file: Path) -> None:
    text = tokens_file.read_text()
    assert READ not in text
    assert METRICS not in text
    assert hashlib.sha256(READ.encode()).hexdigest() in text
    tokens = HttpTokens.load(path=tokens_file)
    assert tokens.roles(READ) == {"read"}
    assert tokens.roles(METRICS) == {"metrics"}
    assert tokens.roles(UNKNOWN) == frozenset()
    assert tokens.roles("") == frozenset()


@pytest.mark.parametrize(
    "line",
    [
        "read:abc",  # not a SHA-256
        "admin:" + "0" * 64,  # no such role
        READ,  # a token itself, not its hash
        "read " + "0" * 64,
    ],
)
def test_a_malformed_line_stops_the_start_naming_it(tmp_path: Path, line: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"metrics:{'1' * 64}\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        HttpTokens.load(path=path)
    assert caught.value.fields == {"variable": "BATON_HTTP_TOKENS_FILE", "line": 2}
    assert READ not in str(caught.value)  # a token pasted by mistake is not echoed


def test_a_missing_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the HTTP tokens file"):
        HttpTokens.load(path=tmp_path / "absent")


def test_a_changed_file_is_read_again_and_a_broken_one_admits_no_one(tokens_file: Path) -> None:
    now = [0.0]
    tokens = HttpTokens(path=tokens_file, clock=lambda: now[0])
    assert tokens.roles(READ) == {"read"}
    rotated = new_token()
    tokens_file.write_text(f"{token_line(token=rotated, role='read')}\n")
    assert tokens.roles(READ) == {"read"}  # checked at most once a second
    now[0] += 1.5
    assert tokens.roles(READ) == frozenset()
    assert tokens.roles(rotated) == {"read"}
    tokens_file.write_text("read:not-a-hash\n")
    now[0] += 1.5
    assert tokens.roles(rotated) == frozenset()  # fails closed
    tokens_file.write_text(
        f"{token_line(token=rotated, role='read')}\n{token_line(token=rotated, role='metrics')}\n"
    )
    now[0] += 1.5
    assert tokens.roles(rotated) == {"read", "metrics"}


@dataclass
class Matrix:
    """Requests tried and refused, per attack."""

    tried: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    def count(self, attack: str, *, route: str, status: int, expected: int) -> None:
        self.tried[attack] = self.tried.get(attack, 0) + 1
        if status == expected:
            self.refused[attack] = self.refused.get(attack, 0) + 1
        else:
            self.wrong.append(f"{attack} {route}: {status}, expected {expected}")


async def _app(service: type[Service], *, tokens: HttpTokens | None) -> FastAPI:
    settings = BatonSettings(topic_prefix="auth_test", component=f"baton-{service.name}")
    runner = ServiceRunner(service, settings=settings, transport=MemoryTransport(partitions=1))
    await runner.service.setup()
    return build_app(
        service=runner.service, health=runner.health, metrics=runner.metrics, tokens=tokens
    )


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, concrete path) the app answers; path parameters filled in."""
    found = []
    for route in iter_route_contexts(app.routes):  # included routers' routes too
        path = re.sub(r"\{[^}]+\}", "wf_x", route.path or "")
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, path))
    return found


Served = tuple[httpx.AsyncClient, list[tuple[str, str]]]


@pytest.fixture
async def clients(tokens_file: Path) -> AsyncIterator[dict[str, Served]]:
    tokens = HttpTokens.load(path=tokens_file)
    made: dict[str, Served] = {}
    for service in SERVICES:
        app = await _app(service, tokens=tokens)
        # Routes the auth lets through may fail further on (no database here): a 500.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        made[service.name] = (
            httpx.AsyncClient(transport=transport, base_url="http://baton"),
            _routes(app),
        )
    yield made
    for client, _ in made.values():
        await client.aclose()


async def test_every_route_but_the_probes_refuses_without_the_right_token(
    clients: dict[str, Served],
) -> None:
    matrix = Matrix()
    opened: set[str] = set()
    for name, (client, routes) in clients.items():
        for method, path in routes:
            where = f"{name} {method} {path}"
            if path in OPEN_PATHS:
                opened.add(path)
                response = await client.request(method, path)
                assert response.status_code not in (401, 403), where
                continue
            right, wrong = (METRICS, READ) if path == METRICS_PATH else (READ, METRICS)
            attacks = {
                "no token": ({}, 401),
                "unknown token": ({"Authorization": f"Bearer {UNKNOWN}"}, 401),
                "not bearer": ({"Authorization": f"Basic {READ}"}, 401),
                "wrong role": ({"Authorization": f"Bearer {wrong}"}, 403),
                "token in query": ({}, 401),
            }
            for attack, (headers, expected) in attacks.items():
                query = {"access_token": right} if attack == "token in query" else {}
                if attack == "token in query" and path == STREAM_PATH:
                    continue  # the one route that takes it (tested below)
                response = await client.request(method, path, headers=headers, params=query)
                matrix.count(attack, route=where, status=response.status_code, expected=expected)
                if response.status_code == 401:
                    assert response.headers["www-authenticate"].startswith("Bearer")
                    assert response.json()["error"] in ("unauthorized", "invalid_token")
            if path != STREAM_PATH:  # an accepted stream never ends (tests/e2e)
                response = await client.request(
                    method, path, headers={"Authorization": f"Bearer {right}"}
                )
                assert response.status_code not in (401, 403), where
    for attack, tried in matrix.tried.items():  # pytest -s shows them
        print(f"{attack}: {tried} tried, {matrix.refused.get(attack, 0)} refused")
    assert not matrix.wrong, matrix.wrong
    assert matrix.tried == matrix.refused
    guarded = [p for _, r in clients.values() for _, p in r if p not in OPEN_PATHS]
    assert matrix.tried["no token"] == len(guarded)
    assert opened == {"/health", "/ready", "/"}
    # The status service's API, its stream and docs, and every service's /metrics are in.
    status_paths = {p for _, p in clients["status"][1]}
    assert {STREAM_PATH, "/api/overview", "/docs", "/openapi.json", METRICS_PATH} <= status_paths
    assert "/api/report" in {p for _, p in clients["monitor"][1]}


async def test_the_stream_takes_a_query_token_the_others_do_not(
    clients: dict[str, Served],
) -> None:
    client, _ = clients["status"]
    for token, expected in ((UNKNOWN, 401), (METRICS, 403)):
        response = await client.get(STREAM_PATH, params={"access_token": token})
        assert response.status_code == expected
    response = await client.get("/api/overview", params={"access_token": READ})
    assert response.status_code == 401


async def test_without_a_tokens_file_everything_answers(
    tokens_file: Path,
) -> None:
    app = await _app(StatusService, tokens=None)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://baton") as client:
        for path in ("/metrics", "/openapi.json", "/docs"):
            assert (await client.get(path)).status_code == 200, path


async def test_a_websocket_without_a_token_is_closed_before_the_app_sees_it(
    tokens_file: Path,
) -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    guard = HttpAuth(app, tokens=HttpTokens.load(path=tokens_file))
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    for headers in ([], [(b"authorization", f"Bearer {METRICS}".encode())]):
        scope = {"type": "websocket", "path": "/api/live", "headers": headers}
        await guard(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}] * 2
    assert reached == []
    scope = {
        "type": "websocket",
        "path": "/api/live",
        "headers": [(b"authorization", f"Bearer {READ}".encode())],
    }
    await guard(scope, receive, send)
    assert reached == ["/api/live"]
