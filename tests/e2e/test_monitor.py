"""The performance monitor as a process: component health, /metrics, report (issue 5)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from baton.bus import Bus
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually, eventually_async
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton
from tests.e2e.test_hub_resource import hub, status, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

INTERVAL = 2.0  # heartbeat interval for this test (seconds); 1 s flapped on a loaded CI box


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
    env = {**e2e_env, "BATON_HEARTBEAT_INTERVAL": str(INTERVAL), "BATON_LOG_FORMAT": "json"}
    async with Cluster(["monitor", "resource", "hub"], env=env, log_dir=log_dir) as cluster, bus:
        port = cluster["monitor"].port

        seen: dict[str, Any] = {}

        async def resource_is(state: str) -> bool:
            snapshot = await components(port)
            seen["last"] = [
                c
                for c in snapshot.get("components", [])
                if c.get("component_id") == "baton-resource"
            ]
            return health_of(snapshot, "baton-resource") == state

        try:
            await eventually_async(
                lambda: resource_is("healthy"), timeout=60, what="resource healthy"
            )
        except AssertionError as exc:  # say what the monitor thought, not just "timed out"
            raise AssertionError(f"{exc}; last record: {seen.get('last')}") from None
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
            assert families["baton_consumer_lag"].samples, name
            assert families["process_cpu_seconds"].type == "counter", name
            assert "python_gc_collections" in families, name
            if name == "hub":  # batches applied with their states held, or read
                cache = families["baton_hub_state_cache_batches"]
                assert cache.type == "counter"
                assert sum(s.value for s in cache.samples if s.name.endswith("_total")) > 0
                assert families["baton_hub_state_cache_entries"].type == "gauge"

        async def percentiles() -> bool:
            async with httpx.AsyncClient(timeout=5) as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            latency = families.get("baton_monitor_latency_seconds")
            return latency is not None and {s.labels["quantile"] for s in latency.samples} == {
                "0.5",
                "0.95",
                "0.99",
            }

        await eventually_async(percentiles, what="the monitor's latency percentiles as gauges")
        code, report, err = await baton(env, "performance-monitor", "report", "--json")
        assert code == 0, err
        assert report
        windows: dict[str, Any] = {}

        async def counted() -> bool:
            # The faust windows start a few seconds after the monitor consumes (so a
            # restarted monitor resumes first), then catch up from the topic.
            nonlocal windows
            async with httpx.AsyncClient(timeout=5) as http:
                windows = (await http.get(f"http://127.0.0.1:{port}/api/windows")).json()
            # The hopping window (5 min, the last 4 at least): the 1-minute tumbling one
            # may already have rolled over by the time the windows catch up.
            return bool(windows["hopping"]["counts"].get("WORKFLOW_COMPLETED", 0) >= 1)

        await eventually_async(counted, timeout=60, what="WORKFLOW_COMPLETED in the windows")
        code, health, err = await baton(env, "performance-monitor", "health")
        assert code == 0, err
        assert health_of(health, "baton-hub") == "healthy"
    for name, service in cluster.services.items():  # every line is one JSON object
        for line in service.log_path.read_text().splitlines():
            entry = json.loads(line)
            assert entry["service"] == name, line
            assert {"ts", "level", "logger", "message"} <= set(entry), line


def alerts(events: EventLog, *, cleared: bool) -> list[Event]:
    return [
        e
        for e in events.events
        if e.event_type == "SYSTEM_THRESHOLD"
        and e.data.get("metric_name") == "latency_p95"
        and e.data.get("cleared") is cleared
    ]


def saturation(events: EventLog) -> list[bool]:
    return [bool(e.data["saturated"]) for e in events.events if e.event_type == "SYSTEM_SATURATION"]


async def probe(bus: Bus, *, seconds: float, age: float, rate: float = 40) -> None:
    """Publish events at ``rate``/s for ``seconds``, each stamped ``age`` seconds ago."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stamp = datetime.now(UTC) - timedelta(seconds=age)
        await bus.publish(
            Event(
                event_type="PROBE_TICK", workflow_id="probe", phase="load", data={}, timestamp=stamp
            )
        )
        await asyncio.sleep(1 / rate)


async def test_one_alert_per_crossing_and_saturation_holds_back_low_priority(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    """Latency driven across a threshold twice: two alerts, no more while it stays across;
    while saturated a low-priority workflow queues with the reason, a high one starts, and
    the low one starts once saturation clears."""
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.1)
    agents.attach()
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

    def definition(workflow_id: str, priority: str) -> dict[str, Any]:
        return {
            "definition": {
                "workflow_id": workflow_id,
                "name": workflow_id,
                "priority": priority,
                "phases": ["a"],
                "resource_requirements": {"agents": 1, "duration": "1h"},
            }
        }

    async with Cluster(["monitor", "resource", "hub"], env=env, log_dir=log_dir), bus:
        await eventually(lambda: saturation(events) == [False], what="the first verdict")
        # First crossing: events arrive 10 s late for 6 s.
        await probe(bus, seconds=6, age=10)
        await eventually(lambda: saturation(events)[-1], what="saturation")
        await eventually(lambda: len(alerts(events, cleared=False)) == 1, what="one alert")
        await hub(bus, "CREATE_WORKFLOW", "sat_low_001", definition("sat_low_001", "low"))
        await hub(bus, "CREATE_WORKFLOW", "sat_high_001", definition("sat_high_001", "high"))
        await until_status(bus, "sat_high_001", "COMPLETED")
        assert await status(bus, "sat_low_001") == "QUEUED"
        queued = events.last("sat_low_001", "WORKFLOW_QUEUED")
        assert queued is not None
        assert "saturated" in str(queued.data.get("reason")), queued.data
        # Still across the threshold: no second alert.
        await probe(bus, seconds=3, age=10)
        assert len(alerts(events, cleared=False)) == 1
        # Back under: cleared, saturation lifted, the held workflow runs.
        await probe(bus, seconds=6, age=0)
        await until_status(bus, "sat_low_001", "COMPLETED")
        await eventually(lambda: len(alerts(events, cleared=True)) == 1, what="cleared")
        assert saturation(events)[-1] is False
        # Second crossing: exactly one more alert.
        await probe(bus, seconds=6, age=10)
        await eventually(lambda: len(alerts(events, cleared=False)) == 2, what="second alert")
        await asyncio.sleep(2)
        assert len(alerts(events, cleared=False)) == 2
    flips = saturation(events)
    assert flips[:3] == [False, True, False], flips
