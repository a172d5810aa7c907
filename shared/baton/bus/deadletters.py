"""Reading and replaying dead letters.

A replay sends the dead letter's original key and value, byte for byte, back to its
original topic with its original headers (the event id included, so idempotent consumers
see a redelivery, not a new event), minus the failure bookkeeping, plus
``baton-replayed-from: <dlq>:<partition>:<offset>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baton.bus.transport import Ack, Record, Transport
from baton.protocol.headers import DELIVERY_HEADERS, H
from baton.security.signing import QuarantineError

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = ["DeadLetter", "read_dead_letters", "replay_dead_letters"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic with its provenance decoded."""

    record: Record
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Record) -> DeadLetter:
        return cls(record, {k: v.decode("utf-8", "replace") for k, v in record.headers})

    @property
    def original_topic(self) -> str:
        return self.headers.get(H.ORIGINAL_TOPIC, "")

    @property
    def error_class(self) -> str:
        return self.headers.get(H.ERROR_CLASS, "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for ``baton dlq list --json``."""
        h = self.headers
        return {
            "dlq": f"{self.record.topic}:{self.record.partition}:{self.record.offset}",
            "partition": self.record.partition,
            "offset": self.record.offset,
            "key": (self.record.key or b"").decode("utf-8", "replace"),
            "value": (self.record.value or b"").decode("utf-8", "replace"),
            "original": {
                "topic": h.get(H.ORIGINAL_TOPIC),
                "partition": _int(h.get(H.ORIGINAL_PARTITION)),
                "offset": _int(h.get(H.ORIGINAL_OFFSET)),
                "timestamp_ms": _int(h.get(H.ORIGINAL_TIMESTAMP)),
            },
            "error": {
                "class": h.get(H.ERROR_CLASS),
                "message": h.get(H.ERROR_MESSAGE),
                "part": h.get(H.ERROR_PART),
            },
            "consumer_group": h.get(H.CONSUMER_GROUP),
            "component": h.get(H.COMPONENT),
            "attempts": _int(h.get(H.ATTEMPTS)),
            "first_failure": h.get(H.FIRST_FAILURE),
            "event_id": h.get(H.EVENT_ID),
        }


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


async def read_dead_letters(
    *,
    transport: Transport,
    topic: str,
    where: Callable[[DeadLetter], bool] | None = None,
    limit: int | None = None,
    timeout: float = 10.0,
) -> list[DeadLetter]:
    """Every dead letter of ``topic`` present now (up to its current end), oldest first."""
    ends = {tp: end for tp, end in (await transport.end_offsets(topic)).items() if end > 0}
    found: list[DeadLetter] = []
    if not ends:
        return found
    consumer = transport.consumer(
        group=None, topics=[topic], from_beginning=True, client_id="baton.dlq-reader"
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        remaining = dict(ends)
        while remaining and time.monotonic() < deadline:
            batch = await consumer.fetch(timeout_ms=200, max_records=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends.get(tp, 0):
                        continue
                    letter = DeadLetter.of(record)
                    if where is None or where(letter):
                        found.append(letter)
                if records and records[-1].offset + 1 >= ends.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    found.sort(key=lambda d: (d.record.timestamp_ms, d.record.partition, d.record.offset))
    return found[:limit] if limit is not None else found


async def replay_dead_letters(*, bus: Bus, letters: Sequence[DeadLetter]) -> list[Ack]:
    """Send each dead letter back to its original topic; returns the acknowledgements.

    With message signing on, a replay is a new publication by whoever runs it: it is signed
    afresh with ``bus``'s key (the original signature would be quarantined as ``replayed``),
    so that key must be allowed to publish the types replayed where publisher rules list
    them. A quarantined letter keeps its original headers instead — a replay never vouches
    for a record that failed verification — and is quarantined again.
    """
    deliveries = []
    for letter in letters:
        record = letter.record
        headers = [(k, v) for k, v in record.headers if k not in DELIVERY_HEADERS]
        headers.append(
            (H.REPLAYED_FROM, f"{record.topic}:{record.partition}:{record.offset}".encode())
        )
        target = letter.original_topic or bus.topics.events
        resign = letter.error_class != QuarantineError.__name__
        deliveries.append(
            await bus.send_raw(
                target, key=record.key, value=record.value, headers=headers, sign=resign
            )
        )
    return [await d for d in deliveries]
