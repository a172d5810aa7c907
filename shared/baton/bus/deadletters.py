"""Reading and replaying dead letters.

One dead letter per bad source record: every group that fails a record writes its own copy
to the dead-letter topic (so none depends on another group), each with the same
``baton-dead-letter-id`` — the source record's ``topic:partition:offset``. Reading merges
the copies: a :class:`DeadLetter` is that one record, naming every group that failed it.

A replay sends the dead letter once — its first copy's original key and value, byte for
byte — back to its original topic with its original headers (the event id included, so
idempotent consumers see a redelivery, not a new event), minus the failure bookkeeping,
plus ``baton-replayed-from: <dlq>:<partition>:<offset>``. It is produced with its key by
Baton's partitioner, so it lands on the partition where the workflow's other events go —
which may not be the partition it failed on, when another client placed it there with its
own partitioner (kcat's default, for one).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baton.bus.failures import dead_letter_id
from baton.bus.transport import Ack, Record, Transport
from baton.protocol.headers import DELIVERY_HEADERS, H
from baton.security.signing import QuarantineError

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = ["DeadLetter", "merge_copies", "read_dead_letters", "replay_dead_letters"]


def _decoded(record: Record) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in record.headers}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One source record that could not be handled, with every group's failure of it.

    Attributes:
        record: Its first copy in the dead-letter topic (the one a replay sends).
        headers: That copy's headers, decoded.
        copies: Every copy, oldest first: one per group that failed the record (more when
            a group failed it again after a redelivery).
    """

    record: Record
    headers: dict[str, str] = field(default_factory=dict)
    copies: tuple[Record, ...] = ()

    @classmethod
    def of(cls, record: Record) -> DeadLetter:
        return cls(record, _decoded(record), (record,))

    def with_copy(self, record: Record) -> DeadLetter:
        """This dead letter with one more group's copy of it."""
        return dataclasses.replace(self, copies=(*self.copies, record))

    @property
    def id(self) -> str:
        """The source record's ``topic:partition:offset`` (a copy not written by Baton is
        its own dead letter, named by its place in the dead-letter topic)."""
        h = self.headers
        if H.DEAD_LETTER_ID in h:
            return h[H.DEAD_LETTER_ID]
        if H.ORIGINAL_TOPIC in h:  # written before the id header existed
            return dead_letter_id(
                h[H.ORIGINAL_TOPIC], h.get(H.ORIGINAL_PARTITION, ""), h.get(H.ORIGINAL_OFFSET, "")
            )
        return dead_letter_id(self.record.topic, self.record.partition, self.record.offset)

    @property
    def original_topic(self) -> str:
        return self.headers.get(H.ORIGINAL_TOPIC, "")

    @property
    def error_class(self) -> str:
        return self.headers.get(H.ERROR_CLASS, "")

    @property
    def quarantined(self) -> bool:
        """Whether any group refused the record's signature (it is never signed afresh)."""
        return any(f["error"]["class"] == QuarantineError.__name__ for f in self.failures())

    @property
    def groups(self) -> tuple[str, ...]:
        """Every consumer group that failed the record, sorted."""
        return tuple(sorted({f["group"] for f in self.failures() if f["group"]}))

    def failures(self) -> list[dict[str, Any]]:
        """Each copy's failure: where the copy is, which group and component, why."""
        found = []
        for copy in self.copies:
            h = _decoded(copy)
            found.append(
                {
                    "dlq": f"{copy.partition}:{copy.offset}",
                    "group": h.get(H.CONSUMER_GROUP),
                    "component": h.get(H.COMPONENT),
                    "error": {
                        "class": h.get(H.ERROR_CLASS),
                        "message": h.get(H.ERROR_MESSAGE),
                        "part": h.get(H.ERROR_PART),
                    },
                    "attempts": _int(h.get(H.ATTEMPTS)),
                    "first_failure": h.get(H.FIRST_FAILURE),
                }
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for ``baton dlq list --json`` (top-level error, group and
        attempts are the first copy's; ``failures`` has every group's)."""
        h = self.headers
        return {
            "id": self.id,
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
                "rerouted_from": h.get(H.REROUTED_FROM),
            },
            "error": {
                "class": h.get(H.ERROR_CLASS),
                "message": h.get(H.ERROR_MESSAGE),
                "part": h.get(H.ERROR_PART),
            },
            "consumer_group": h.get(H.CONSUMER_GROUP),
            "groups": list(self.groups),
            "failures": self.failures(),
            "component": h.get(H.COMPONENT),
            "attempts": _int(h.get(H.ATTEMPTS)),
            "first_failure": h.get(H.FIRST_FAILURE),
            "event_id": h.get(H.EVENT_ID),
        }


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def merge_copies(records: Sequence[Record]) -> list[DeadLetter]:
    """Dead-letter records as dead letters: the copies of one source record become one,
    ordered by their first copy (oldest first)."""
    ordered = sorted(records, key=lambda r: (r.timestamp_ms, r.partition, r.offset))
    merged: dict[str, DeadLetter] = {}
    for record in ordered:
        letter = DeadLetter.of(record)
        first = merged.get(letter.id)
        merged[letter.id] = letter if first is None else first.with_copy(record)
    return list(merged.values())


async def read_dead_letters(
    *,
    transport: Transport,
    topic: str,
    where: Callable[[DeadLetter], bool] | None = None,
    limit: int | None = None,
    timeout: float = 10.0,
) -> list[DeadLetter]:
    """Every dead letter of ``topic`` present now (up to its current end), oldest first,
    each group's copies of one source record merged into one."""
    ends = {tp: end for tp, end in (await transport.end_offsets(topic)).items() if end > 0}
    records: list[Record] = []
    if not ends:
        return []
    consumer = transport.consumer(
        group=None, topics=[topic], from_beginning=True, client_id="baton.dlq-reader"
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        remaining = dict(ends)
        while remaining and time.monotonic() < deadline:
            batch = await consumer.fetch(timeout_ms=200, max_records=1000)
            for tp, got in batch.items():
                records += [r for r in got if r.offset < ends.get(tp, 0)]
                if got and got[-1].offset + 1 >= ends.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    found = [d for d in merge_copies(records) if where is None or where(d)]
    return found[:limit] if limit is not None else found


async def replay_dead_letters(*, bus: Bus, letters: Sequence[DeadLetter]) -> list[Ack]:
    """Send each dead letter back to its original topic, once; returns the acknowledgements.

    The key is kept and the partition is the one Baton's partitioner gives it (module doc).

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
        deliveries.append(
            await bus.send_raw(
                target,
                key=record.key,
                value=record.value,
                headers=headers,
                sign=not letter.quarantined,
            )
        )
    return [await d for d in deliveries]
