"""OpenTelemetry as bus middleware (messaging semantic conventions).

Publishing opens a PRODUCER span ``send <topic>`` and writes W3C ``traceparent`` /
``tracestate`` into the record headers; handling opens a CONSUMER span ``process <topic>``
whose parent is the context read from those headers. Anything a handler publishes is thus
a child of the record it handles, so one workflow is one trace across services.

An event that already carries a trace context (it names its workflow's trace, see
:mod:`baton.bus.tracecontext`) is sent as a child of that context instead of the running
code's. Without an SDK tracer the middleware makes no spans, but still passes the handled
record's trace context on to what its handler publishes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from baton.bus.tracecontext import (
    HEADER_GETTER,
    HEADER_SETTER,
    carries_trace,
    handled_trace,
    handling,
)
from baton.bus.transport import Record
from baton.protocol.event import Event
from baton.protocol.headers import Headers

__all__ = ["HEADER_GETTER", "HEADER_SETTER", "TracingMiddleware"]


_NULL = nullcontext()


class TracingMiddleware:
    """Producer and consumer spans with context propagation through Kafka headers.

    With no SDK ``TracerProvider`` installed (and no tracer given) spans would be no-ops,
    so the middleware skips them and only passes trace context on unchanged: an event keeps
    the ``traceparent`` it carries, else gets the handled record's. That keeps the bus's hot
    path lean when tracing is off, and one workflow one trace through such a process.

    Args:
        tracer: Tracer to use; defaults to the global provider's ``baton.bus`` tracer.
    """

    def __init__(self, *, tracer: Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("baton.bus")
        self._on = tracer is not None
        self._next_look = 0.0

    def _enabled(self) -> bool:
        # The global provider can be set once only, so "on" is final; "off" is looked at
        # again each second (asking costs an environment lookup, too much per record).
        if self._on:
            return True
        now = time.monotonic()
        if now >= self._next_look:
            self._next_look = now + 1.0
            provider = trace.get_tracer_provider()
            self._on = not isinstance(
                provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
            )
        return self._on

    def publish_scope(
        self, *, topic: str, event: Event, headers: Headers
    ) -> AbstractContextManager[None]:
        if self._enabled():
            return self._publish(topic, event, headers)
        carried = handled_trace()
        if carried and not carries_trace(headers):
            headers.extend(carried)
        return _NULL

    def consume_scope(
        self, *, record: Record, event: Event | None, group: str
    ) -> AbstractContextManager[None]:
        if self._enabled():
            return self._consume(record, event, group)
        return handling(record.headers)

    @contextmanager
    def _publish(self, topic: str, event: Event, headers: Headers) -> Iterator[None]:
        # The event's own trace context first; else the active span; else the context of
        # the record handled by a consumer without spans (a bus built without this tracer).
        parent = None
        if carries_trace(headers):
            parent = propagate.extract(headers, getter=HEADER_GETTER)
        elif not trace.get_current_span().get_span_context().is_valid:
            carried = handled_trace()
            if carried:
                parent = propagate.extract(list(carried), getter=HEADER_GETTER)
        with self._tracer.start_as_current_span(
            f"send {topic}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.operation.name": "send",
                "messaging.destination.name": topic,
                "messaging.message.id": event.event_id,
                "messaging.kafka.message.key": event.workflow_id,
                "baton.event_type": event.event_type,
                "baton.workflow_id": event.workflow_id,
                "baton.routing_key": event.routing_key,
            },
        ):
            propagate.inject(headers, setter=HEADER_SETTER)
            yield

    @contextmanager
    def _consume(self, record: Record, event: Event | None, group: str) -> Iterator[None]:
        parent = propagate.extract(record.headers, getter=HEADER_GETTER)
        token = otel_context.attach(parent)
        try:
            attributes: dict[str, str | int] = {
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": group,
            }
            if event is not None:
                attributes["messaging.message.id"] = event.event_id
                attributes["baton.event_type"] = event.event_type
                attributes["baton.workflow_id"] = event.workflow_id
            with self._tracer.start_as_current_span(
                f"process {record.topic}", kind=SpanKind.CONSUMER, attributes=attributes
            ) as span:
                try:
                    yield
                except Exception as exc:
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    raise
        finally:
            otel_context.detach(token)
