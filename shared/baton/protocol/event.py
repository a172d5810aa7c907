"""The event envelope: one line plus the metadata carried in Kafka headers.

``Event`` is a slotted dataclass rather than a pydantic model: it is built once per record
on the bus's hot path, and its fields are already checked by the codec. It is a value:
derive changed copies with :meth:`Event.replace`, never assign to an event's fields. (It is
not ``frozen`` only because frozen dataclasses cost twice as much to build.) The pydantic models
of the protocol's messages (``baton.protocol.messages``) describe what goes *inside* ``data``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from baton.errors import ProtocolError
from baton.protocol.codec import format_line, parse_line
from baton.protocol.headers import (
    DELIVERY_HEADERS,
    PROTOCOL_VERSION,
    H,
    Headers,
    new_event_id,
    version_compatible,
)
from baton.protocol.routing import routing_key

__all__ = ["Event", "decode_record", "encode_record"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, kw_only=True)
class Event:
    """One Baton event.

    Attributes:
        event_type: ``[A-Z][A-Z0-9_]*``, e.g. ``PHASE_COMPLETED``.
        workflow_id: Workflow the event belongs to, or ``global``.
        phase: Phase of the workflow, or ``global``.
        data: The JSON object of the line.
        event_id: Unique, time-ordered id (UUIDv7); the idempotency key of consumers.
        timestamp: When the event was created (UTC).
        source: Component that published it.
        version: Protocol version of the publisher.
        correlation_id: Ties related events and a request to its reply.
        request_id: Set on requests and their replies.
        reply_to: Topic a request wants its reply on.
        findings: What the registry noticed in default mode (e.g. missing fields).
        extra_headers: Other headers, passed through untouched (e.g. trace context).
        partition_key: Kafka key when it is not the workflow id: a system-wide (``global``)
            event of one agent, such as its heartbeat, is keyed by the agent id, so such
            events spread over partitions and keep their order per agent. Not carried by a
            decoded event (the line does not hold it).
    """

    event_type: str
    workflow_id: str
    phase: str
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=new_event_id)
    timestamp: datetime = field(default_factory=_now)
    source: str = ""
    version: str = PROTOCOL_VERSION
    correlation_id: str | None = None
    request_id: str | None = None
    reply_to: str | None = None
    findings: tuple[str, ...] = ()
    extra_headers: tuple[tuple[str, bytes], ...] = ()
    partition_key: str | None = None

    @property
    def routing_key(self) -> str:
        """``<category>.<workflow_id>.<action>``, e.g. ``resource.wf_001.allocated``."""
        return routing_key(self.event_type, self.workflow_id)

    @property
    def line(self) -> str:
        """The wire line ``EVENT_TYPE:workflow_id:phase:data`` with JSON data."""
        return format_line(self.event_type, self.workflow_id, self.phase, self.data)

    def replace(self, **changes: Any) -> Event:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def parse(cls, line: str | bytes, *, max_bytes: int = 1_048_576, **meta: Any) -> Event:
        """Parse a wire line into a new event (fresh id and timestamp unless given)."""
        parsed = parse_line(line, max_bytes=max_bytes)
        return cls(
            event_type=parsed.event_type,
            workflow_id=parsed.workflow_id,
            phase=parsed.phase,
            data=parsed.data,
            **meta,
        )


def encode_record(event: Event) -> tuple[bytes, bytes, Headers]:
    """Kafka key, value and headers of an event (key = workflow_id, unless the
    event names its :attr:`~Event.partition_key`)."""
    headers: Headers = [
        (H.EVENT_ID, event.event_id.encode()),
        (H.TIMESTAMP, event.timestamp.isoformat(timespec="milliseconds").encode()),
        (H.SOURCE, event.source.encode()),
        (H.VERSION, event.version.encode()),
        (H.ROUTING_KEY, event.routing_key.encode()),
    ]
    if event.correlation_id:
        headers.append((H.CORRELATION_ID, event.correlation_id.encode()))
    if event.request_id:
        headers.append((H.REQUEST_ID, event.request_id.encode()))
    if event.reply_to:
        headers.append((H.REPLY_TO, event.reply_to.encode()))
    if event.findings:
        headers.append((H.FINDINGS, ",".join(event.findings).encode()))
    headers.extend(event.extra_headers)
    key = event.workflow_id if event.partition_key is None else event.partition_key
    return key.encode(), event.line.encode(), headers


_OWN = frozenset(
    {
        H.EVENT_ID,
        H.TIMESTAMP,
        H.SOURCE,
        H.VERSION,
        H.ROUTING_KEY,
        H.CORRELATION_ID,
        H.REQUEST_ID,
        H.REPLY_TO,
        H.FINDINGS,
    }
)
# Failure bookkeeping belongs to the record, not the event: an event a handler re-publishes
# must not carry its predecessor's retry or dead-letter provenance.
_NOT_CARRIED = _OWN | DELIVERY_HEADERS


def decode_record(
    value: bytes | None,
    headers: Headers | None,
    *,
    max_bytes: int = 1_048_576,
    timestamp_ms: int | None = None,
) -> Event:
    """Rebuild an event from a Kafka record.

    Records from plain Kafka clients may carry no headers: the event then gets a fresh id
    and the record's timestamp.

    Raises:
        ProtocolError: the value is not a valid line, or a header is malformed.
    """
    if value is None:
        raise ProtocolError("record has no value (tombstone)", part="line")
    parsed = parse_line(value, max_bytes=max_bytes)
    h = dict(headers) if headers else {}
    raw = h.get(H.VERSION)
    version = raw.decode("utf-8", "replace") if raw else PROTOCOL_VERSION
    if version != PROTOCOL_VERSION and not version_compatible(version):
        raise ProtocolError(
            f"protocol version {version} is not compatible with {PROTOCOL_VERSION}",
            part=f"header.{H.VERSION}",
        )
    raw = h.get(H.TIMESTAMP)
    if raw is not None:
        try:
            timestamp = datetime.fromisoformat(raw.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError(
                f"{raw!r} is not an ISO-8601 time", part=f"header.{H.TIMESTAMP}"
            ) from None
    elif timestamp_ms is not None:
        timestamp = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    else:
        timestamp = _now()
    raw = h.get(H.EVENT_ID)
    event_id = raw.decode("utf-8", "replace") if raw else new_event_id()
    raw = h.get(H.SOURCE)
    source = raw.decode("utf-8", "replace") if raw else ""
    raw = h.get(H.FINDINGS)
    findings = tuple(raw.decode("utf-8", "replace").split(",")) if raw else ()
    extra = tuple((k, v) for k, v in headers if k not in _NOT_CARRIED) if headers else ()
    correlation_id = _text(h.get(H.CORRELATION_ID))
    request_id = _text(h.get(H.REQUEST_ID))
    reply_to = _text(h.get(H.REPLY_TO))
    return Event(
        event_type=parsed.event_type,
        workflow_id=parsed.workflow_id,
        phase=parsed.phase,
        data=parsed.data,
        event_id=event_id,
        timestamp=timestamp,
        source=source,
        version=version,
        correlation_id=correlation_id,
        request_id=request_id,
        reply_to=reply_to,
        findings=findings,
        extra_headers=extra,
    )


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")
