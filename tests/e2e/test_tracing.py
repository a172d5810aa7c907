"""One workflow is one trace across every running service and agent (issues 5 and 16).

The services run in this process (same code as ``baton serve``) so that one in-memory span
exporter sees all of them; they still talk only through Kafka and PostgreSQL. In the second
test real :class:`~baton.client.AgentWorker` s do the work: one records spans, the others
have no tracing at all (an agent without the OpenTelemetry SDK) and must still carry the
workflow's trace context from their assignments into their reports.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from baton.bus import Bus, TracingMiddleware
from baton.client import AgentWorker, BatonClient, Task
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.protocol.headers import H
from baton.runtime import ServiceRunner
from baton.services import load_service
from tests.behaviour.helpers import eventually
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


def _trace_id(event: Event) -> str | None:
    """The trace id of the ``traceparent`` an observed record carried (None: none)."""
    raw = dict(event.extra_headers).get(H.TRACEPARENT)
    return raw.decode().split("-")[1] if raw else None


async def test_one_workflow_with_agent_workers_is_exactly_one_trace(
    e2e_env: dict[str, str],
) -> None:
    """Five services and three agent workers run a three-phase workflow whose first task
    overruns its execution timeout (the hub's timeouts loop retries it) and whose second
    task's agent falls silent (recovery's watchdog times it out and has it reassigned):
    every span about the workflow and every record about it (events and state topics)
    belong to one trace."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    env = {
        **e2e_env,
        "BATON_RESOURCE_POOLS": '{"agents": 3}',
        "BATON_HUB_TIMEOUT_INTERVAL": "0.25",
        "BATON_RECOVERY_AGENT_INTERVAL": "1",
        "BATON_RECOVERY_AGENT_MISSES": "3",
        "BATON_RECOVERY_CHECK_INTERVAL": "0.25",
    }
    settings = BatonSettings.from_env(env).model_copy(update={"http_port": 0})
    client = Bus(
        settings=settings.model_copy(update={"component": "client"}),
        middleware=[TracingMiddleware(tracer=provider.get_tracer("client"))],
    )
    # The observer records what the records carry; it has no tracing of its own.
    observer = BatonClient(component="observer", settings=settings)
    seen: list[Event] = []

    async def record(event: Event) -> None:
        if event.workflow_id == "traced_agents":
            seen.append(event)

    await observer.subscribe("#", record, group=f"{settings.topic_prefix}.client.observe")
    observer.bus.subscribe(
        "#", record, group=f"{settings.topic_prefix}.client.state", topic=settings.topics.state
    )
    workers: dict[str, AgentWorker] = {}

    async def work(task: Task) -> dict[str, str]:
        if task.attempt == 1 and task.task_id == "research":
            await asyncio.sleep(120)  # past its execution timeout: taken away, retried
        if task.attempt == 1 and task.task_id == "planning":
            presence = workers[task.agent_id].presence
            await presence.stop()  # as if this agent's host hung
            try:
                await asyncio.sleep(120)
            finally:
                await presence.start()  # taken away: the agent is back for later tasks
        await task.progress(50, message=f"{task.task_id}: half way")
        return {"by": task.agent_id}

    for number in (1, 2, 3):
        agent = f"agent_{number:03d}"
        # agent_001 has the SDK: its spans join the workflow's trace.
        agent_client = BatonClient(
            component=f"agent-{agent}",
            settings=settings,
            tracer_provider=provider if number == 1 else None,
        )
        workers[agent] = AgentWorker(
            client=agent_client, agent_id=agent, handler=work, heartbeat_interval=0.5
        )
    definition = {
        "workflow_id": "traced_agents",
        "name": "traced with agents",
        "phases": ["research", "planning", "implementation"],
        "resource_requirements": {"agents": 3, "duration": "1h"},
        "tasks": [
            {"task_id": "research", "phase": "research", "execution_timeout": "2s"},
            {"task_id": "planning", "phase": "planning"},
            {"task_id": "implementation", "phase": "implementation"},
        ],
        "rules": [
            {
                "rule_id": "retry_timeouts",
                "name": "Retry a task that overran",
                "condition_key": "failure_type",
                "condition_operator": "==",
                "condition_value": "execution_timeout",
                "decision": "retry",
                "priority": 100,
            }
        ],
    }
    async with AsyncExitStack() as stack:
        for name in ("resource", "hub", "status", "monitor", "recovery"):
            runner = ServiceRunner(
                load_service(name), settings=settings, env=env, tracer_provider=provider
            )
            await runner.start()
            stack.push_async_callback(runner.stop)
        await stack.enter_async_context(client)
        await stack.enter_async_context(observer)
        for worker in workers.values():
            await worker.start()
            stack.push_async_callback(worker.stop)
        await client.request(
            Event(
                event_type="CREATE_WORKFLOW",
                workflow_id="traced_agents",
                phase="cli",
                data={"definition": definition},
            ),
            service="hub",
            timeout=30,
        )

        def kinds() -> list[str]:
            return [e.event_type for e in seen]

        await eventually(
            lambda: {"WORKFLOW_COMPLETED", "RESOURCE_DEALLOCATED"} <= set(kinds()),
            timeout=120,
            what="the workflow completed and its agents released",
        )
        await eventually(
            lambda: kinds().count("CHECKPOINT_CREATED") >= 3, what="a checkpoint per phase"
        )
        await asyncio.sleep(1.0)  # status and the monitor handle the last events

    timeouts = [(e.source, e.data["task_id"]) for e in seen if e.event_type == "TASK_TIMEOUT"]
    assert ("baton-hub", "research") in timeouts, timeouts  # from the hub's timeouts loop
    assert ("baton-recovery", "planning") in timeouts, timeouts  # from recovery's watchdog
    reports = [e for e in seen if e.source.startswith("agent-")]
    assert {e.event_type for e in reports} >= {"TASK_STARTED", "PHASE_PROGRESS", "TASK_COMPLETED"}
    untraced = sorted({f"{e.event_type} from {e.source}" for e in seen if _trace_id(e) is None})
    assert not untraced, f"records without trace context: {untraced}"
    spans = [
        s
        for s in exporter.get_finished_spans()
        if s.attributes and s.attributes.get("baton.workflow_id") == "traced_agents"
    ]
    traces = {f"{s.context.trace_id:032x}" for s in spans} | {_trace_id(e) for e in seen}
    assert len(traces) == 1, f"{len(traces)} traces for one workflow"
    prefix = settings.topic_prefix + "."
    groups = {
        str(s.attributes["messaging.consumer.group.name"]).removeprefix(prefix)
        for s in spans
        if s.attributes and "messaging.consumer.group.name" in s.attributes
    }
    services = {g.split(".")[0] for g in groups}
    assert {"hub", "resource", "status", "monitor", "recovery"} <= services, services
    assert "agent.agent-agent_001" in groups, groups  # the traced agent process's spans
    everything = {s.context.span_id for s in exporter.get_finished_spans()}
    orphans = [s.name for s in spans if s.parent is not None and s.parent.span_id not in everything]
    assert not orphans, orphans
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == [f"send {settings.topics.commands('hub')}"]
