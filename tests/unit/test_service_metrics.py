"""A service's /metrics: process and GC figures, handler time per event type, consumer lag."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

import httpx
import pytest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from baton.bus import MemoryTransport
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.runtime import Service, ServiceContext, ServiceRunner
from baton.runtime.health import build_app
from tests.behaviour.helpers import eventually, eventually_async


class Gate(Service):
    """Handles every event; phases only once let through."""

    name: ClassVar[str] = "hub"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        self.seen: list[str] = []
        self.open = asyncio.Event()

    async def setup(self) -> None:
        async def handle(event: Event) -> None:
            self.seen.append(event.event_type)
            if event.event_type == "PHASE_STARTED":
                await self.open.wait()

        self.subscribe_each({"#": handle})


@pytest.fixture
async def runner() -> AsyncIterator[ServiceRunner]:
    settings = BatonSettings(topic_prefix="metrics_test", component="baton-hub")
    runner = ServiceRunner(Gate, settings=settings, transport=MemoryTransport(partitions=2))
    await runner.service.setup()
    await runner.bus.start()
    yield runner
    gate = runner.service
    assert isinstance(gate, Gate)
    gate.open.set()
    await runner.bus.stop()


async def scrape(runner: ServiceRunner) -> dict[str, Metric]:
    app = build_app(service=runner.service, health=runner.health, metrics=runner.metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def lag_of(families: dict[str, Metric], topic: str) -> dict[int, float]:
    samples: list[Sample] = families["baton_consumer_lag"].samples
    assert {s.labels["service"] for s in samples} == {"hub"}
    assert {s.labels["group"] for s in samples} == {"metrics_test.hub"}
    return {int(s.labels["partition"]): s.value for s in samples if s.labels["topic"] == topic}


async def test_metrics_hold_process_gc_handler_time_and_consumer_lag(
    runner: ServiceRunner,
) -> None:
    gate = runner.service
    assert isinstance(gate, Gate)
    events = runner.bus.topics.events
    partition = await runner.bus.partition_for("wf_1")
    others = {p: 0.0 for p in range(2) if p != partition}

    async def lag_is(expected: int) -> bool:
        return lag_of(await scrape(runner), events) == {partition: expected, **others}

    await runner.bus.publish(Event.parse("WORKFLOW_STARTED:wf_1:setup:{}"))
    await eventually_async(lambda: lag_is(0), what="the first event handled and committed")
    for _ in range(3):
        await runner.bus.publish(Event.parse("PHASE_STARTED:wf_1:setup:{}"))
    await eventually(lambda: "PHASE_STARTED" in gate.seen, what="a phase held")

    held = await scrape(runner)
    assert held["baton_consumer_lag"].type == "gauge"
    # Fetched or not, a record counts until it is handled and committed.
    assert lag_of(held, events) == {partition: 3, **others}
    assert set(lag_of(held, f"{events}.retry.1").values()) == {0}
    assert held["process_cpu_seconds"].type == "counter"
    assert "process_resident_memory_bytes" in held
    assert held["python_gc_collections"].type == "counter"
    assert "python_info" in held

    gate.open.set()
    await eventually_async(lambda: lag_is(0), what="every event handled and committed")
    handler = (await scrape(runner))["baton_handler_seconds"]
    assert handler.type == "histogram"
    counts = {
        s.labels["event_type"]: s.value
        for s in handler.samples
        if s.name == "baton_handler_seconds_count"
    }
    assert counts == {"WORKFLOW_STARTED": 1, "PHASE_STARTED": 3}
    assert {(s.labels["service"], s.labels["group"]) for s in handler.samples} == {
        ("hub", "metrics_test.hub")
    }


async def test_a_failing_source_is_left_out_and_the_rest_served(
    runner: ServiceRunner, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> list[Metric]:
        raise ConnectionError("database gone")

    runner.metrics.add_source(broken)
    with caplog.at_level(logging.WARNING, logger="baton.metrics"):
        families = await scrape(runner)
    assert "baton_consumer_lag" in families
    assert "process_cpu_seconds" in families
    assert any("database gone" in r.getMessage() for r in caplog.records)
