"""Follow a topic without joining a group (``baton events tail``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from baton.bus.transport import Record, Transport
from baton.errors import ProtocolError
from baton.protocol.event import Event, decode_record
from baton.protocol.headers import H, get_header
from baton.protocol.routing import Pattern, routing_key_from_line

__all__ = ["Tailed", "tail"]


@dataclass(frozen=True, slots=True)
class Tailed:
    """A record seen by :func:`tail`: its event, or why it could not be decoded."""

    record: Record
    event: Event | None
    error: ProtocolError | None


async def tail(
    *,
    transport: Transport,
    topic: str,
    pattern: Pattern,
    from_beginning: bool,
    max_bytes: int,
) -> AsyncIterator[Tailed]:
    """Yield records of ``topic`` whose routing key matches ``pattern``, as they arrive.

    Records that cannot be decoded are yielded too (with ``error`` set, ``event`` None) when
    their routing key matches or cannot be read, so that they can be reported; they are
    not events, and match no pattern — a caller counting matches must skip them.
    """
    consumer = transport.consumer(
        group=None, topics=[topic], from_beginning=from_beginning, client_id="baton.tail"
    )
    await consumer.start()
    try:
        while True:
            batch = await consumer.fetch(timeout_ms=200, max_records=500)
            for records in batch.values():
                for record in records:
                    key = get_header(record.headers, H.ROUTING_KEY) or routing_key_from_line(
                        record.value or b""
                    )
                    if key is not None and not pattern.matches(key):
                        continue
                    try:
                        event = decode_record(
                            record.value,
                            record.headers,
                            max_bytes=max_bytes,
                            timestamp_ms=record.timestamp_ms,
                        )
                    except ProtocolError as exc:
                        yield Tailed(record, None, exc)
                    else:
                        yield Tailed(record, event, None)
    finally:
        await consumer.stop()
