"""Bearer tokens on the services' real HTTP side: the status and monitor services as
processes with a tokens file accept the right role on their real routes, refuse the rest,
read a rotated file without a restart and cap the live stream; without the file they
answer anyone and warn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from baton.security.http_auth import STREAM_PATH, new_token, token_line
from tests.behaviour.helpers import eventually_async
from tests.e2e.harness import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _first_event(lines: AsyncIterator[str]) -> str:
    # Not `async for ... break`: the iterator, once collected, would close the response.
    while not (line := await anext(lines)).startswith("event: "):
        pass
    return line


async def test_tokens_guard_the_real_routes_and_rotate_without_a_restart(
    e2e_env: dict[str, str], log_dir: Path, tmp_path: Path
) -> None:
    read, metrics = new_token(), new_token()
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(
        f"{token_line(token=read, role='read')}\n{token_line(token=metrics, role='metrics')}\n"
    )
    env = {
        **e2e_env,
        "BATON_HTTP_TOKENS_FILE": str(tokens_file),
        "BATON_STATUS_STREAM_CLIENTS": "2",
    }
    async with Cluster(["status", "monitor"], env=env, log_dir=log_dir) as cluster:
        status = f"http://127.0.0.1:{cluster['status'].port}"
        monitor = f"http://127.0.0.1:{cluster['monitor'].port}"
        async with httpx.AsyncClient(timeout=10) as http:
            for base in (status, monitor):
                assert (await http.get(f"{base}/health")).status_code == 200
                assert (await http.get(f"{base}/ready")).status_code == 200
                assert (await http.get(f"{base}/metrics")).status_code == 401
                assert (await http.get(f"{base}/metrics", headers=_bearer(read))).status_code == 403
                scraped = await http.get(f"{base}/metrics", headers=_bearer(metrics))
                assert scraped.status_code == 200
                assert "baton_" in scraped.text
                for path in ("/openapi.json", "/docs"):
                    assert (await http.get(f"{base}{path}")).status_code == 401
                    assert (
                        await http.get(f"{base}{path}", headers=_bearer(read))
                    ).status_code == 200
            page = await http.get(f"{status}/")  # the dashboard's page asks for the token
            assert page.status_code == 200
            assert 'id="auth"' in page.text
            for path in ("/api/overview", "/api/workflows"):
                assert (await http.get(f"{status}{path}")).status_code == 401
                wrong = await http.get(f"{status}{path}", headers=_bearer(metrics))
                assert wrong.status_code == 403
                assert wrong.json()["error"] == "insufficient_scope"
                right = await http.get(f"{status}{path}", headers=_bearer(read))
                assert right.status_code == 200, right.text
            overview = (await http.get(f"{status}/api/overview", headers=_bearer(read))).json()
            assert "counts" in overview
            components = await http.get(f"{monitor}/api/components", headers=_bearer(read))
            assert components.status_code == 200

            # The live stream: two places, by header and by query; a third is refused.
            async with (
                http.stream("GET", f"{status}{STREAM_PATH}", headers=_bearer(read)) as one,
                http.stream("GET", f"{status}{STREAM_PATH}", params={"access_token": read}) as two,
            ):
                for response in (one, two):
                    assert response.status_code == 200
                lines = [one.aiter_lines(), two.aiter_lines()]
                for each in lines:
                    assert await _first_event(each) == "event: overview"
                full = await http.get(f"{status}{STREAM_PATH}", headers=_bearer(read))
                assert full.status_code == 503
                assert full.json()["error"] == "StreamFullError"

            # Rotation: the old read token is replaced in the file, no restart.
            rotated = new_token()
            tokens_file.write_text(f"{token_line(token=rotated, role='read')}\n")

            async def rotated_in() -> bool:
                old = await http.get(f"{status}/api/overview", headers=_bearer(read))
                new = await http.get(f"{status}/api/overview", headers=_bearer(rotated))
                return old.status_code == 401 and new.status_code == 200

            await eventually_async(rotated_in, timeout=10, what="the rotated token")
            assert cluster["status"].starts == 1
    assert "HTTP authentication is off" not in cluster["status"].tail(200)


async def test_without_a_tokens_file_everything_answers_and_the_service_warns(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    async with Cluster(["status"], env=e2e_env, log_dir=log_dir) as cluster:
        base = f"http://127.0.0.1:{cluster['status'].port}"
        async with httpx.AsyncClient(timeout=10) as http:
            for path in ("/api/overview", "/metrics", "/openapi.json"):
                assert (await http.get(f"{base}{path}")).status_code == 200, path
        assert "HTTP authentication is off" in cluster["status"].tail(200)
