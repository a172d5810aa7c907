"""OpenTelemetry as bus middleware (messaging semantic conventions).

Publishing opens a PRODUCER span ``send <topic>`` and writes W3C ``traceparent`` /
``tracestate`` into the record headers; handling opens a CONSUMER span ``process <topic>``
whose parent is the context read from those headers. Anything a handler publishes is thus
a child of the record it handles, so one workflow is one trace across services.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from baton.bus.transport import Record
from baton.protocol.event import Event
from baton.protocol.headers import Headers

__all__ = ["TracingMiddleware"]


class _HeaderSetter:
    def set(self, carrier: Headers, key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k != key]
        carrier.append((key, value.encode()))


class _HeaderGetter:
    def get(self, carrier: Headers, key: str) -> list[str] | None:
        values = [v.decode("utf-8", "replace") for k, v in carrier if k == key]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _ in carrier]


_SETTER = _HeaderSetter()
_GETTER = _HeaderGetter()


class TracingMiddleware:
    """Producer and consumer spans with context propagation through Kafka headers.

    Args:
        tracer: Tracer to use; defaults to the global provider's ``baton.bus`` tracer (a
            no-op until an SDK ``TracerProvider`` is installed).
    """

    def __init__(self, *, tracer: Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("baton.bus")

    @contextmanager
    def publish_scope(self, *, topic: str, event: Event, headers: Headers) -> Iterator[None]:
        with self._tracer.start_as_current_span(
            f"send {topic}",
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
            propagate.inject(headers, setter=_SETTER)
            yield

    @contextmanager
    def consume_scope(self, *, record: Record, event: Event | None, group: str) -> Iterator[None]:
        parent = propagate.extract(record.headers, getter=_GETTER)
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
