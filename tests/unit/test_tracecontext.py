"""A workflow's trace context travels through processes with and without tracing (issue 16.8)."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from baton.bus import Bus, MemoryTransport, TracingMiddleware
from baton.bus.tracecontext import (
    current_trace,
    handling,
    inject_trace,
    trace_for,
    trace_headers,
    trace_id,
    trace_of,
)
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.protocol.headers import H, Headers
from baton.runtime import Outbox
from tests.behaviour.helpers import eventually

WORKFLOW = {H.TRACEPARENT: f"00-{'a' * 32}-{'b' * 16}-01"}
OTHER = {H.TRACEPARENT: f"00-{'c' * 32}-{'d' * 16}-01"}


def event(**extra: Any) -> Event:
    return Event(event_type="WORKFLOW_STARTED", workflow_id="wf_1", phase="a", **extra)


def test_outside_any_trace_there_is_none_to_pass_on() -> None:
    assert current_trace() == {}
    assert trace_for(WORKFLOW) == trace_headers(WORKFLOW)
    assert trace_for({}) == ()


def test_a_handled_records_trace_is_the_current_one_without_tracing() -> None:
    with handling([(H.SOURCE, b"hub"), *trace_headers(WORKFLOW)]):
        assert current_trace() == WORKFLOW
        assert trace_for(WORKFLOW) == ()  # already in it: events become its children
        assert trace_for(OTHER) == trace_headers(OTHER)  # another workflow's event
        headers: Headers = []
        inject_trace(headers)
        assert headers == list(trace_headers(WORKFLOW))
        own: Headers = list(trace_headers(OTHER))
        inject_trace(own)  # an event that names its trace keeps it
        assert own == list(trace_headers(OTHER))
    assert current_trace() == {}
    assert trace_id(WORKFLOW) == "a" * 32
    assert trace_id({H.TRACEPARENT: "garbage"}) is None


async def test_without_tracing_a_handler_publishes_in_the_handled_records_trace() -> None:
    settings = BatonSettings(topic_prefix="unit", component="unit")
    bus = Bus(settings=settings, transport=MemoryTransport(partitions=2))
    seen: list[Event] = []

    async def forward(e: Event) -> None:
        await bus.publish(Event(event_type="PHASE_STARTED", workflow_id=e.workflow_id, phase="b"))
        await bus.publish(  # an event naming another trace keeps it
            Event(event_type="PHASE_STARTED", workflow_id="wf_2", phase="b",
                  extra_headers=trace_headers(OTHER))
        )  # fmt: skip

    async def record(e: Event) -> None:
        seen.append(e)

    bus.subscribe("workflow.*.started", forward, group="forward")
    bus.subscribe("phase.*.started", record, group="record")
    async with bus:
        await bus.publish(event(extra_headers=trace_headers(WORKFLOW)))
        await eventually(lambda: len(seen) == 2, what="two forwarded events")
    assert sorted(trace_of(e)[H.TRACEPARENT] for e in seen) == sorted(
        [WORKFLOW[H.TRACEPARENT], OTHER[H.TRACEPARENT]]
    )


async def test_with_tracing_an_event_naming_its_trace_is_sent_as_its_child() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = TracingMiddleware(tracer=provider.get_tracer("unit"))
    headers: Headers = list(trace_headers(WORKFLOW))
    with (
        provider.get_tracer("unit").start_as_current_span("another workflow's handler"),
        tracing.publish_scope(topic="t", event=event(), headers=headers),
    ):
        pass
    sent = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.PRODUCER)
    assert f"{sent.context.trace_id:032x}" == "a" * 32
    assert trace_id(dict((k, v.decode()) for k, v in headers)) == "a" * 32


class _Conn:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    async def execute(self, query: str, *columns: list[Any]) -> None:
        self.rows.extend(zip(*columns, strict=True))  # the outbox inserts arrays, a row each


async def test_the_outbox_keeps_an_events_own_trace_and_else_takes_the_current_one() -> None:
    settings = BatonSettings(topic_prefix="unit", component="unit")
    bus = Bus(settings=settings, transport=MemoryTransport(partitions=2))
    outbox = Outbox(db=None, bus=bus, owner="unit.hub")  # type: ignore[arg-type]
    conn = _Conn()
    with handling(list(trace_headers(WORKFLOW))):
        await outbox.add(conn, event())
        await outbox.add(conn, event(extra_headers=trace_headers(OTHER)))
    await outbox.add(conn, event())
    stored = [dict(orjson.loads(row[4])).get(H.TRACEPARENT) for row in conn.rows]
    assert stored == [WORKFLOW[H.TRACEPARENT], OTHER[H.TRACEPARENT], None]
