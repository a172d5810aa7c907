"""Two performance-monitor replicas in one consumer group (issue 17.3): each answers for the
whole system, a threshold crossing raises one alert, and a replica's kill -9 loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from baton.bus import Bus
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually, eventually_async
from tests.e2e.agents import EventLog, SimAgents
from tests.e2e.groups import readers
from tests.e2e.harness import ServiceProcess
from tests.e2e.test_monitor import alerts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROBES = ("probe-comp-a", "probe-comp-b")
"""Components the test keeps alive with heartbeats."""


def spread(stem: str, count: int, *, partitions: int) -> list[str]:
    """``count`` workflow ids, as many in each partition of the events topic (Kafka's
    default partitioner on the key, which is the workflow id)."""
    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    buckets: dict[int, list[str]] = {p: [] for p in every}
    n = 0
    while any(len(ids) < count // partitions for ids in buckets.values()):
        workflow_id = f"{stem}_{n:04d}"
        chosen = buckets[partitioner(workflow_id.encode(), every, every)]
        if len(chosen) < count // partitions:
            chosen.append(workflow_id)
        n += 1
    return [w for p in every for w in buckets[p]]


async def get(port: int, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"http://127.0.0.1:{port}{path}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def created(report: dict[str, Any]) -> int:
    """WORKFLOW_CREATED events in the fullest hopping window of a /api/report."""
    return max(
        (
            w["throughput"]["by_type"].get("WORKFLOW_CREATED", 0)
            for w in report["hopping"]["windows"]
        ),
        default=0,
    )


def healthy(snapshot: dict[str, Any]) -> set[str]:
    return {c["component_id"] for c in snapshot["components"] if c["health"] == "healthy"}


async def workflows(bus: Bus, ids: Iterable[str]) -> None:
    for workflow_id in ids:
        for event_type in ("WORKFLOW_CREATED", "WORKFLOW_COMPLETED"):
            await bus.publish(Event(event_type=event_type, workflow_id=workflow_id, phase="run"))


@contextlib.asynccontextmanager
async def heartbeats(
    bus: Bus, components: Iterable[str], *, interval: float
) -> AsyncIterator[None]:
    """A heartbeat of each of ``components`` every ``interval`` seconds."""
    names = list(components)

    async def beat() -> None:
        while True:
            for name in names:
                status = {"component_id": name, "status": "healthy", "uptime": "1s"}
                await bus.publish(
                    Event(
                        event_type="COMPONENT_HEARTBEAT",
                        workflow_id="global",
                        phase=name,
                        data={"health_status": status},
                    )
                )
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def consuming(env: dict[str, str], group: str, *, members: int, partitions: int) -> bool:
    """Whether consumer group ``group`` is stable with ``members`` replicas reading the
    events topic and has committed a position in every partition (a new group starts at the
    end of the topic: before it has one, a partition's owner may still skip what is
    published)."""
    topic = f"{env['BATON_TOPIC_PREFIX']}.events"
    bootstrap = env["BATON_KAFKA_BOOTSTRAP"]
    state, found = await readers(bootstrap=bootstrap, group=group, topic=topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    committed = {
        tp.partition for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0
    }
    return bool(state == "Stable" and len(found) == members and len(committed) == partitions)


async def late_probes(bus: Bus, ids: list[str], *, seconds: float, age: float) -> None:
    """Events of every workflow of ``ids`` (so of every partition) for ``seconds``, each
    stamped ``age`` seconds ago: the latency the monitor sees."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        for workflow_id in ids:
            stamp = datetime.now(UTC) - timedelta(seconds=age)
            await bus.publish(
                Event(
                    event_type="PROBE_TICK",
                    workflow_id=workflow_id,
                    phase="load",
                    data={},
                    timestamp=stamp,
                )
            )
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def replicas(
    bus: Bus, env: dict[str, str], log_dir: Path
) -> AsyncIterator[list[ServiceProcess]]:
    """Two monitor processes in one consumer group, both consuming before this yields."""
    pair = [
        ServiceProcess("monitor", env=env, log_dir=log_dir, instance=f"monitor-{n}")
        for n in ("a", "b")
    ]
    partitions = int(env["BATON_PARTITIONS"])
    warm = spread("warmup", partitions, partitions=partitions)

    async def ready() -> bool:
        for workflow_id in warm:
            await bus.publish(Event(event_type="PROBE_WARMUP", workflow_id=workflow_id, phase="w"))
        group = f"{env['BATON_TOPIC_PREFIX']}.monitor"
        return await consuming(env, group, members=len(pair), partitions=partitions)

    try:
        await asyncio.gather(*(replica.start() for replica in pair))
        await eventually_async(ready, timeout=60, what="both replicas consuming")
        yield pair
    finally:
        await asyncio.gather(*(replica.stop() for replica in pair))


async def test_every_replica_answers_for_the_whole_system_and_a_kill_loses_nothing(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    """Windows, faust windows and component health of two replicas agree and cover every
    partition; after kill -9 of one, the other counts what it had counted and what comes
    next, and still knows every component."""
    bus, _, _ = client
    partitions = int(e2e_env["BATON_PARTITIONS"])
    first, second = (
        spread("rep", 12, partitions=partitions),
        spread("rep2", 12, partitions=partitions),
    )
    async with (
        bus,
        replicas(bus, e2e_env, log_dir) as (a, b),
        heartbeats(bus, PROBES, interval=1.0),
    ):
        await workflows(bus, first)

        windows: dict[int, Any] = {}

        async def agree(count: int, ports: list[int]) -> bool:
            for port in ports:
                report = await get(port, "/api/report")
                faust = await get(port, "/api/windows")
                health = await get(port, "/api/components")
                windows[port] = (created(report), faust["hopping"]["counts"], healthy(health))
                if created(report) != count:
                    return False
                if faust["hopping"]["counts"].get("WORKFLOW_CREATED", 0) != count:
                    return False
                if not set(PROBES) <= healthy(health):
                    return False
            return True

        try:
            await eventually_async(
                lambda: agree(12, [a.port, b.port]), timeout=90, what="both replicas see all 12"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {windows}") from None
        await b.kill9()
        await workflows(bus, second)
        try:
            await eventually_async(
                lambda: agree(24, [a.port]), timeout=90, what="the survivor sees all 24"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {windows}") from None


async def test_one_crossing_raises_one_alert_with_two_replicas_and_after_a_kill(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    """Late events on every partition drive latency p95 over its threshold: one alert and
    one clearing, not one per replica; with one replica killed, the next crossing raises
    exactly one more."""
    bus, _, events = client
    events.attach()
    rule = {"metric": "latency_p95", "threshold": 3, "clear_at": 1, "cooldown": 0}
    env = {
        **e2e_env,
        "BATON_MONITOR_TUMBLING": "2",
        "BATON_MONITOR_HOPPING_SIZE": "3",
        "BATON_MONITOR_HOPPING_HOP": "1",
        "BATON_MONITOR_EVALUATE_INTERVAL": "0.5",
        "BATON_MONITOR_THRESHOLDS": json.dumps([rule]),
    }
    ids = spread("lat", 4, partitions=int(env["BATON_PARTITIONS"]))
    async with bus, replicas(bus, env, log_dir) as (_, b):
        await late_probes(bus, ids, seconds=6, age=10)
        await eventually(lambda: len(alerts(events, cleared=False)) >= 1, what="an alert")
        await late_probes(bus, ids, seconds=2, age=10)  # still over: nothing new
        await late_probes(bus, ids, seconds=6, age=0)
        await eventually(lambda: len(alerts(events, cleared=True)) >= 1, what="cleared")
        await asyncio.sleep(2)
        assert len(alerts(events, cleared=False)) == 1, alerts(events, cleared=False)
        assert len(alerts(events, cleared=True)) == 1, alerts(events, cleared=True)
        await b.kill9()
        await late_probes(bus, ids, seconds=10, age=10)
        await eventually(lambda: len(alerts(events, cleared=False)) >= 2, what="second alert")
        await asyncio.sleep(2)
        assert len(alerts(events, cleared=False)) == 2, alerts(events, cleared=False)
