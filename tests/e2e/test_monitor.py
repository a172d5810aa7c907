"""The performance monitor as a process: component health, /metrics, report (issue 5)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from baton.bus import Bus
from tests.behaviour.helpers import eventually_async
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

INTERVAL = 1.0  # heartbeat interval for this test (seconds)


async def components(port: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as http:
        body: dict[str, Any] = (await http.get(f"http://127.0.0.1:{port}/api/components")).json()
        return body


def health_of(snapshot: dict[str, Any], component: str) -> str | None:
    for entry in snapshot.get("components", []):
        if entry.get("component_id") == component:
            return str(entry.get("health"))
    return None


async def test_health_registry_metrics_and_report(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.1)
    agents.attach()
    events.attach()
    env = {**e2e_env, "BATON_HEARTBEAT_INTERVAL": str(INTERVAL)}
    async with Cluster(["monitor", "resource", "hub"], env=env, log_dir=log_dir) as cluster, bus:
        port = cluster["monitor"].port

        async def resource_is(state: str) -> bool:
            return health_of(await components(port), "baton-resource") == state

        await eventually_async(lambda: resource_is("healthy"), what="resource healthy")
        await cluster["resource"].stop()
        stopped = time.monotonic()
        await eventually_async(lambda: resource_is("unhealthy"), what="resource unhealthy")
        assert time.monotonic() - stopped <= 2 * INTERVAL + 1.0  # two intervals + a check
        await cluster["resource"].start()
        await eventually_async(lambda: resource_is("healthy"), what="resource healthy again")
        assert any(
            e.event_type == "COMPONENT_HEALTH_CHANGED" and e.phase == "baton-resource"
            for e in events.events
        )

        # Some work, so that the report and /metrics have something to say.
        await hub(
            bus,
            "CREATE_WORKFLOW",
            "mon_001",
            {
                "definition": {
                    "workflow_id": "mon_001",
                    "name": "m",
                    "phases": ["a", "b"],
                    "resource_requirements": {"agents": 1, "duration": "1h"},
                }
            },
        )
        await until_status(bus, "mon_001", "COMPLETED")
        for name, service in cluster.services.items():
            async with httpx.AsyncClient(timeout=5) as http:
                text = (await http.get(f"http://127.0.0.1:{service.port}/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            assert families["baton_events_handled"].type == "counter", name
            assert families["baton_handler_seconds"].type == "histogram", name
            handled = sum(
                s.value
                for s in families["baton_events_handled"].samples
                if s.name.endswith("_total")
            )
            assert handled > 0, name
        code, report, err = await baton(env, "performance-monitor", "report", "--json")
        assert code == 0, err
        assert report
        async with httpx.AsyncClient(timeout=5) as http:
            windows = (await http.get(f"http://127.0.0.1:{port}/api/windows")).json()
        assert windows["tumbling"]["counts"].get("WORKFLOW_COMPLETED", 0) >= 1, windows
        code, health, err = await baton(env, "performance-monitor", "health")
        assert code == 0, err
        assert health_of(health, "baton-hub") == "healthy"
