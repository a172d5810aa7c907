"""One workflow is one trace across every running service (issue 5's tracing point).

The services run in this process (same code as ``baton serve``) so that one in-memory span
exporter sees all of them; they still talk only through Kafka and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from baton.bus import Bus, TracingMiddleware
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.runtime import ServiceRunner
from baton.services import load_service
from tests.e2e.agents import SimAgents

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_one_workflow_is_one_trace_across_every_running_service(
    e2e_env: dict[str, str],
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = BatonSettings.from_env(e2e_env).model_copy(update={"http_port": 0})
    client = Bus(
        settings=settings.model_copy(update={"component": "client"}),
        middleware=[TracingMiddleware(tracer=provider.get_tracer("client"))],
    )
    SimAgents(bus=client).attach()
    done = asyncio.Event()

    async def completed(event: Event) -> None:
        if event.workflow_id == "traced_001":
            done.set()

    client.subscribe("workflow.*.completed", completed, group=f"{settings.topic_prefix}.watch")
    async with AsyncExitStack() as stack:
        for name in ("resource", "hub", "status", "monitor"):
            runner = ServiceRunner(
                load_service(name), settings=settings, env=e2e_env, tracer_provider=provider
            )
            await runner.start()
            stack.push_async_callback(runner.stop)
        await stack.enter_async_context(client)
        definition = {
            "workflow_id": "traced_001",
            "name": "traced",
            "phases": ["a", "b"],
            "resource_requirements": {"agents": 1, "duration": "1h"},
        }
        await client.request(
            Event(
                event_type="CREATE_WORKFLOW",
                workflow_id="traced_001",
                phase="cli",
                data={"definition": definition},
            ),
            service="hub",
            timeout=30,
        )
        await asyncio.wait_for(done.wait(), 60)
        await asyncio.sleep(1.0)  # status and resource handle the last events

    spans = [
        s
        for s in exporter.get_finished_spans()
        if s.attributes and s.attributes.get("baton.workflow_id") == "traced_001"
    ]
    traces = {s.context.trace_id for s in spans}
    assert len(traces) == 1, f"{len(traces)} traces for one workflow"
    prefix = settings.topic_prefix + "."
    services = {
        str(s.attributes["messaging.consumer.group.name"]).removeprefix(prefix).split(".")[0]
        for s in spans
        if s.attributes and "messaging.consumer.group.name" in s.attributes
    }
    assert {"hub", "resource", "status", "monitor"} <= services, services
    everything = {s.context.span_id for s in exporter.get_finished_spans()}
    orphans = [s.name for s in spans if s.parent is not None and s.parent.span_id not in everything]
    assert not orphans, orphans
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1
    assert roots[0].name.startswith("send")  # the client's request started it all
