"""A restarted performance monitor: its replayed backlog, and figures that outlive it (issue 16)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.bus import Bus
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually, eventually_async
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster, ServiceProcess
from tests.e2e.test_helpers_cli import baton
from tests.e2e.test_hub_resource import hub, until_status
from tests.e2e.test_monitor import alerts, probe, saturation

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BACKLOG = 40


async def counted(port: int, workflow_id: str) -> int:
    """PROBE_TICK events of ``workflow_id`` the monitor has counted (0 before any)."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"http://127.0.0.1:{port}/api/report?workflow={workflow_id}")
    if response.status_code == 404:
        return 0
    return int(response.json()["events"].get("PROBE_TICK", 0))


async def ticks(bus: Bus, workflow_id: str, count: int) -> None:
    """``count`` PROBE_TICK events of ``workflow_id``, stamped as they are published."""
    for _ in range(count):
        await bus.publish(
            Event(
                event_type="PROBE_TICK",
                workflow_id=workflow_id,
                phase="load",
                data={},
                timestamp=datetime.now(UTC),
            )
        )


async def test_a_restarted_monitor_raises_no_alarm_about_the_backlog_it_replays(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    """Events published while the monitor is down are read seconds later, older than the
    latency limit: counted, but neither saturation nor a latency alert. Live events that
    arrive late still raise both."""
    bus, _, events = client
    events.attach()
    rule = {"metric": "latency_p95", "threshold": 3, "clear_at": 1, "cooldown": 0}
    env = {
        **e2e_env,
        "BATON_MONITOR_TUMBLING": "2",
        "BATON_MONITOR_HOPPING_SIZE": "3",
        "BATON_MONITOR_HOPPING_HOP": "1",
        "BATON_MONITOR_EVALUATE_INTERVAL": "0.5",
        "BATON_MONITOR_SATURATION_LATENCY_P95": "3",
        "BATON_MONITOR_THRESHOLDS": json.dumps([rule]),
    }
    monitor = ServiceProcess("monitor", env=env, log_dir=log_dir)
    async with bus:
        try:
            await monitor.start()
            await eventually(lambda: saturation(events) == [False], what="the first verdict")
            await ticks(bus, "probe_live", 10)
            await eventually_async(
                lambda: _is(counted(monitor.port, "probe_live"), 10), what="live ticks counted"
            )
            assert await monitor.stop() == 0
            # The backlog: on time when published, seconds old when the monitor reads it.
            await ticks(bus, "probe_backlog", BACKLOG)
            await asyncio.sleep(4)
            since = len(events.events)
            await monitor.start()
            await eventually_async(
                lambda: _is(counted(monitor.port, "probe_backlog"), BACKLOG),
                what="the backlog counted",
            )
            await asyncio.sleep(3)  # evaluations every 0.5 s over windows of 3 s holding it
            after = events.events[since:]
            assert saturation(EventLog(bus=bus, events=after)) == [False], after
            assert alerts(EventLog(bus=bus, events=after), cleared=False) == []
            # Not blind: live events that arrive 10 s late are latency.
            await probe(bus, seconds=4, age=10)
            await eventually(lambda: saturation(events)[-1], what="saturation from live events")
            await eventually(
                lambda: len(alerts(events, cleared=False)) == 1, what="a latency alert"
            )
        finally:
            await monitor.stop()


async def _is(value: Any, wanted: int) -> bool:
    return bool(await value == wanted)


async def test_a_workflows_figures_survive_monitor_restarts(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    """allocation-efficiency (busy agent time measured by the monitor) is the same after a
    restart, and after a kill -9 (records delivered again are not counted twice)."""
    bus, agents, _ = client
    agents.policy = lambda e: Decision(delay=0.2)
    agents.attach()
    env = e2e_env
    wf = "restart_001"
    definition = {
        "workflow_id": wf,
        "name": wf,
        "phases": ["a", "b", "c", "d"],
        "resource_requirements": {"agents": 1, "duration": "1h"},
    }

    async def efficiency() -> dict[str, Any]:
        code, out, err = await baton(env, "performance-monitor", "allocation-efficiency", wf)
        assert code == 0, err
        assert isinstance(out, dict)
        return out

    services = ["monitor", "resource", "hub", "status"]
    async with Cluster(services, env=env, log_dir=log_dir) as cluster, bus:
        await hub(bus, "CREATE_WORKFLOW", wf, {"definition": definition})
        await until_status(bus, wf, "COMPLETED")
        before: dict[str, Any] = {}

        async def all_tasks_measured() -> bool:
            nonlocal before
            before = await efficiency()
            return bool(sum(before["tasks_per_agent"].values()) == 4)

        await eventually_async(all_tasks_measured, timeout=60, what="4 tasks measured")
        assert before["agents_used"] == 1
        assert before["busy_agent_seconds"] > 0
        monitor = cluster["monitor"]
        assert await monitor.stop() == 0
        await monitor.start()
        assert await efficiency() == before
        await monitor.kill9()
        await monitor.start()
        assert await efficiency() == before
