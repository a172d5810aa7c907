"""Services as processes: a taken HTTP port, and SIGTERM within the grace period (issue 16)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.bus import Bus
from tests.behaviour.helpers import eventually_async
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import ServiceProcess
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

GRACE = 8.0
"""BATON_STOP_GRACE of these tests: well under the 30 s the chart and compose give."""
SLACK = 7.0
"""Seconds past the grace period a process may take to be gone (a loaded test machine)."""
BIND_EXIT = 20.0
"""Seconds a service that cannot listen has to exit: its start-up imports, then the bind."""

SERVICES = ["resource", "hub", "status", "recovery", "monitor"]


def definition(workflow_id: str) -> dict[str, Any]:
    return {
        "definition": {
            "workflow_id": workflow_id,
            "name": workflow_id,
            "phases": ["a", "b"],
            "resource_requirements": {"agents": 1, "duration": "1h"},
        }
    }


async def live_stream(port: int, opened: asyncio.Event) -> None:
    """Read the status service's live stream until the server ends it."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as http:
        with contextlib.suppress(httpx.HTTPError):
            async with http.stream("GET", f"http://127.0.0.1:{port}/api/stream") as response:
                async for _ in response.aiter_lines():
                    opened.set()


@pytest.mark.parametrize("name", ["monitor", "hub"])
async def test_a_service_whose_http_port_is_taken_exits_non_zero_at_once(
    name: str, e2e_env: dict[str, str], log_dir: Path
) -> None:
    """It says which port is taken and gives up before joining Kafka, instead of logging
    the error and consuming on (the monitor then also ignored SIGTERM)."""
    service = ServiceProcess(name, env=e2e_env, log_dir=log_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", service.port))
        taken.listen()
        await service.launch()
        assert service.proc is not None
        try:
            code = await asyncio.wait_for(service.proc.wait(), BIND_EXIT)
        except TimeoutError:
            await service.kill9()
            raise AssertionError(
                f"{name} still runs {BIND_EXIT:.0f}s after failing to listen:\n{service.tail()}"
            ) from None
    log = service.log_path.read_text(errors="replace")
    assert code == 2, f"{name} exited {code}:\n{service.tail()}"  # a configuration error
    assert f"127.0.0.1:{service.port}" in log, log
    assert "address already in use" in log, log
    assert "Subscribed to topic" not in log, log  # nothing started before the port was held


async def test_every_service_stops_within_its_grace_period(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    """All five, after some work (the monitor's faust windows running, a dashboard's live
    stream open on the status service): SIGTERM, and each exits 0 in time."""
    bus, agents, _ = client
    agents.policy = lambda e: Decision(delay=0.1)
    agents.attach()
    env = {**e2e_env, "BATON_STOP_GRACE": str(GRACE)}
    services = {name: ServiceProcess(name, env=env, log_dir=log_dir) for name in SERVICES}
    try:
        async with bus:
            await asyncio.gather(*(s.start() for s in services.values()))
            await hub(bus, "CREATE_WORKFLOW", "stop_001", definition("stop_001"))
            await until_status(bus, "stop_001", "COMPLETED")

            async def windows_recovered() -> bool:
                url = f"http://127.0.0.1:{services['monitor'].port}/api/windows"
                async with httpx.AsyncClient(timeout=5) as http:
                    return bool((await http.get(url)).json()["recovered"])

            # The faust windows start a few seconds after the monitor consumes.
            await eventually_async(windows_recovered, timeout=90, what="the monitor's windows")
            # A dashboard left open: its live stream never ends by itself.
            opened = asyncio.Event()
            watching = asyncio.create_task(live_stream(services["status"].port, opened))
            await asyncio.wait_for(opened.wait(), 30)
            codes = await asyncio.gather(
                *(s.stop(timeout=GRACE + SLACK) for s in services.values())
            )
            watching.cancel()
    finally:
        await asyncio.gather(*(s.kill9() for s in services.values()))
    for (name, service), code in zip(services.items(), codes, strict=True):
        assert code == 0, f"{name} exited {code} on SIGTERM:\n{service.tail()}"
