"""Faults and bookkeeping for the fault suite: what to break, and how to count the damage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from baton.bus import Bus
from baton.bus.kafka import SESSION_TIMEOUT_MS
from baton.config import BatonSettings
from baton.errors import RequestTimeoutError
from baton.protocol.commands import HubCommand
from baton.protocol.event import Event
from baton.stack import Stack
from baton.stack.kafka import KafkaStack
from tests.e2e.harness import Cluster, ServiceProcess

TRANSITIONS = ("WORKFLOW_", "PHASE_STARTED", "PHASE_COMPLETED", "TASK_ASSIGNED")
SESSION_TIMEOUT_S = SESSION_TIMEOUT_MS / 1000  # the services' consumer session timeout
PHASES = ("research", "implementation", "testing")
ENDED = ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED")


@dataclass
class Row:
    """One line of the suite's table."""

    scenario: str
    runs: int = 0
    events: int = 0
    lost: int = 0
    duplicates: int = 0
    resume_s: float = 0.0


def definition(name: str, *, phases: Sequence[str] = PHASES) -> dict[str, object]:
    return {
        "definition": {
            "workflow_id": name,
            "name": name,
            "phases": list(phases),
            "resource_requirements": {"agents": 1, "duration": "1h"},
        }
    }


def acknowledged(bus: Bus) -> list[str]:
    """Record the ids of the events ``bus`` publishes on the events topic once the broker
    has acknowledged them (publish returns after the ack); the list fills as it goes."""
    published: list[str] = []
    original = bus.publish

    async def recorded(event: Event | str, *, topic: str | None = None) -> Any:
        ack = await original(event, topic=topic)
        if isinstance(event, Event) and topic in (None, bus.topics.events):
            published.append(event.event_id)
        return ack

    bus.publish = recorded  # type: ignore[method-assign]
    return published


def ended_in(events: list[Event]) -> Callable[[], set[str]]:
    """A ``finished`` for :func:`run_workflows`: the workflows ``events`` (a growing
    history) has seen complete or fail, read incrementally."""
    ended: set[str] = set()
    read = 0

    def finished() -> set[str]:
        nonlocal read
        ended.update(e.workflow_id for e in events[read:] if e.event_type in ENDED)
        read = len(events)
        return ended

    return finished


def duplicates(events: list[Event]) -> int:
    """State transitions that happened twice among distinct events (module doc of the suite)."""
    unique = {e.event_id: e for e in events}.values()
    seen = Counter(
        (
            e.workflow_id,
            e.event_type,
            e.phase,
            str(e.data.get("task_id")),
            str(e.data.get("attempt", "")),
        )
        for e in unique
        if e.event_type.startswith(TRANSITIONS) and e.source != "fault-suite"
    )
    return sum(n - 1 for n in seen.values() if n > 1)


async def patiently(
    bus: Bus,
    command: str,
    workflow_id: str,
    data: dict[str, Any],
    *,
    limit: float = 180,
    service: str = "hub",
) -> dict[str, Any]:
    """A request (to the hub unless ``service`` says) as a careful client makes it: one
    request id, asked again while the broker or database is away (a restarted broker can
    take half a minute to come back), or while a killed replica's partitions move."""
    request = Event(event_type=command, workflow_id=workflow_id, phase="cli", data=data)
    request = request.replace(request_id=f"req_{request.event_id}")  # repeats are deduplicated
    deadline = time.monotonic() + limit
    while True:
        try:
            return (await bus.request(request, service=service, timeout=30)).data
        except RequestTimeoutError:
            if time.monotonic() > deadline:
                raise


async def status_of(bus: Bus, workflow_id: str) -> str:
    reply = await patiently(bus, HubCommand.GET, workflow_id, {})
    return str(reply["workflow"]["status"])


async def run_workflows(
    bus: Bus,
    names: list[str],
    *,
    finished: Callable[[], set[str]],
    timeout: float = 300,
    phases: Sequence[str] = PHASES,
) -> set[str]:
    """Create ``names`` (a few at a time) and wait; the names not COMPLETED in time.

    Progress is read from the recorded history (``finished``: workflows seen completing or
    failing), not by asking the hub about each one every half second — that polling was a
    good part of the suite's load, and slowed the very restarts it measures. The hub is
    asked once per workflow at the end: its answer, not the history, decides.
    """
    gate = asyncio.Semaphore(20)

    async def create(name: str) -> None:
        async with gate:
            await patiently(bus, "CREATE_WORKFLOW", name, definition(name, phases=phases))

    await asyncio.gather(*(create(n) for n in names))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(names) <= finished():
            break
        await asyncio.sleep(0.2)

    async def unfinished(name: str) -> bool:
        async with gate:
            return await status_of(bus, name) != "COMPLETED"

    # Asked together (a few at a time): one after another, 48 round trips took seconds.
    answers = await asyncio.gather(*(unfinished(n) for n in names))
    return {n for n, bad in zip(names, answers, strict=True) if bad}


async def all_healthy(processes: list[ServiceProcess], *, since: float, limit: float = 60) -> float:
    """Seconds from ``since`` until every process reports healthy with healthy dependencies."""
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            states = []
            for p in processes:
                try:
                    body = (await http.get(f"http://127.0.0.1:{p.port}/health")).json()
                    states.append(body.get("status"))
                except (httpx.HTTPError, ValueError):
                    states.append("no answer")
            if all(s == "healthy" for s in states):
                return time.monotonic() - since
            if time.monotonic() - since > limit:
                raise AssertionError(f"not healthy {limit}s after the fault: {states}")
            await asyncio.sleep(0.2)


async def kill_service(cluster: Cluster, victim: str, *, limit: float = 60) -> float:
    """kill -9 one service and start it again.

    Returns seconds from the restart until the new process has handled an event (under the
    suite's load every service has some): resumed, not merely ready.
    """
    process = cluster[victim]
    await process.kill9()
    await asyncio.sleep(0.3)
    began = time.monotonic()
    await process.start()
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() - began < limit:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                body = (await http.get(f"http://127.0.0.1:{process.port}/health")).json()
                if body.get("bus", {}).get("handled", 0) > 0:
                    return time.monotonic() - began
            await asyncio.sleep(0.1)
    raise AssertionError(f"{victim} handled nothing {limit}s after its restart")


async def restart_broker(cluster: Cluster, settings: BatonSettings) -> float:
    """kill -9 the local stack's Kafka broker and start it again (same data).

    Returns seconds from the broker answering again until every service is healthy.
    """
    stack = Stack(settings=settings).kafka
    report = await stack.status()
    if not report.managed or report.pid is None:
        raise AssertionError(
            "the broker-restart fault restarts the broker `baton stack up` runs; "
            f"this session uses {report.endpoint} ({report.source}), which it cannot restart"
        )
    os.kill(report.pid, signal.SIGKILL)
    for _ in range(100):  # the broker's ports close as the process dies
        if (await stack.status()).state == "stopped":
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # down for a moment, as a crashed broker is
    await stack.up()
    return await all_healthy(list(cluster.services.values()), since=time.monotonic())


async def restart_postgres(cluster: Cluster, settings: BatonSettings) -> float:
    """Restart the local stack's PostgreSQL (fast shutdown: sessions are cut).

    Returns seconds from the database answering again until every service is healthy.
    """
    stack = Stack(settings=settings).postgres
    report = await stack.status()
    if not report.managed:
        raise AssertionError(
            "the PostgreSQL-restart fault restarts the server `baton stack up` runs; "
            "this session uses a configured database, which it cannot restart"
        )
    await stack.down()
    await asyncio.sleep(1.0)
    await stack.up()
    return await all_healthy(list(cluster.services.values()), since=time.monotonic())


async def zombie(process: ServiceProcess) -> float:
    """SIGSTOP a service past its consumer session timeout, then SIGCONT it.

    Its partitions move to the other instance meanwhile; on waking it still holds a batch,
    stale offsets and outbox rows. Returns seconds from SIGCONT until it is healthy.
    """
    assert process.proc is not None
    os.kill(process.proc.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(SESSION_TIMEOUT_S + 5)
    finally:
        os.kill(process.proc.pid, signal.SIGCONT)
    return await all_healthy([process], since=time.monotonic())


async def partition_leaders(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """Partition → (leader node, in-sync replica count) of ``topic``, from fresh metadata."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {p["partition"]: (p["leader"], len(p["isr"])) for p in described[0]["partitions"]}


async def kill_broker(stack: KafkaStack, node: int) -> None:
    """kill -9 node ``node`` of the local cluster and wait until its port is closed."""
    report = await stack.status()
    pids = {b.node: b.pid for b in report.brokers}
    pid = pids.get(node)
    if pid is None:
        raise AssertionError(f"broker {node} is not one `baton stack up` runs: {report}")
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        states = {b.node: b.state for b in (await stack.status()).brokers}
        if states[node] == "stopped":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"broker {node} (pid {pid}) still answers after kill -9")
