"""What happens to a record whose handling failed: retry topic or dead-letter topic.

The record's key and value are kept byte for byte; provenance travels in headers
(:class:`~baton.protocol.headers.H`). Whether to retry is decided by the exception's
``retriable`` flag (:class:`~baton.errors.BatonError`); any other exception is treated as
transient and retried (a bug then ends in the dead-letter topic after the last retry, with
its class and message).

Every group that fails a record writes its own dead letter (no group waits on another, so
none is lost when a group is down or lagging); each copy carries the same
``baton-dead-letter-id``, the source record's ``topic:partition:offset``, and readers
(:mod:`baton.bus.deadletters`) merge the copies into one dead letter naming every group.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from baton.bus.transport import Record
from baton.config import TopicNames
from baton.errors import BatonError, ProtocolError
from baton.protocol.headers import DELIVERY_HEADERS, H, Headers, get_header

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = [
    "Failure",
    "dead_letter_headers",
    "dead_letter_id",
    "is_retriable",
    "next_topic",
    "retry_headers",
    "send_failed",
    "source_topic",
]

# Replaced at every failure; the original position and first-failure time are kept, and
# where another client had put a record the bus moved.
_BOOKKEEPING = DELIVERY_HEADERS - {
    H.ORIGINAL_TOPIC,
    H.ORIGINAL_PARTITION,
    H.ORIGINAL_OFFSET,
    H.ORIGINAL_TIMESTAMP,
    H.FIRST_FAILURE,
    H.REROUTED_FROM,
}

log = logging.getLogger("baton.bus")

_MAX_MESSAGE = 2000
_SOURCE = (H.ORIGINAL_TOPIC, H.ORIGINAL_PARTITION, H.ORIGINAL_OFFSET)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one record could not be handled."""

    error: BaseException
    attempts: int
    handlers: tuple[str, ...] = ()

    @property
    def error_class(self) -> str:
        return type(self.error).__name__

    @property
    def message(self) -> str:
        text = str(self.error) or repr(self.error)
        return text[:_MAX_MESSAGE]


def is_retriable(error: BaseException) -> bool:
    """Retry decision: a BatonError says so itself; anything else is assumed transient."""
    if isinstance(error, BatonError):
        return bool(error.retriable)
    return True


def source_topic(record: Record) -> str:
    """The topic a record was first published to (through any number of retries)."""
    return get_header(record.headers, H.ORIGINAL_TOPIC) or record.topic


def _provenance(record: Record, failure: Failure, *, group: str, component: str) -> Headers:
    kept = [(k, v) for k, v in record.headers if k not in _BOOKKEEPING]
    names = {k for k, _ in kept}
    headers: Headers = kept
    if H.ORIGINAL_TOPIC not in names:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        headers += [
            (H.ORIGINAL_TOPIC, record.topic.encode()),
            (H.ORIGINAL_PARTITION, str(record.partition).encode()),
            (H.ORIGINAL_OFFSET, str(record.offset).encode()),
            (H.ORIGINAL_TIMESTAMP, str(record.timestamp_ms).encode()),
            (H.FIRST_FAILURE, now.encode()),
        ]
    headers += [
        (H.CONSUMER_GROUP, group.encode()),
        (H.COMPONENT, component.encode()),
        (H.ERROR_CLASS, failure.error_class.encode()),
        (H.ERROR_MESSAGE, failure.message.encode("utf-8", "replace")),
        (H.ATTEMPTS, str(failure.attempts).encode()),
    ]
    if isinstance(failure.error, ProtocolError):
        headers.append((H.ERROR_PART, failure.error.part.encode()))
    return headers


def retry_headers(
    record: Record, failure: Failure, *, group: str, component: str, delay: float
) -> Headers:
    """Headers of the copy that goes to the next retry topic."""
    headers = _provenance(record, failure, group=group, component=component)
    headers.append((H.RETRY_GROUP, group.encode()))
    # Rounded up to the millisecond written, so a retry never runs before its delay.
    due = math.ceil((time.time() + delay) * 1000) / 1000
    headers.append((H.RETRY_DUE, f"{due:.3f}".encode()))
    if failure.handlers:
        headers.append((H.RETRY_HANDLERS, ",".join(failure.handlers).encode()))
    return headers


def dead_letter_id(topic: str, partition: int | str, offset: int | str) -> str:
    """The id of the dead letter of the source record at ``topic[partition]@offset``."""
    return f"{topic}:{partition}:{offset}"


def dead_letter_headers(record: Record, failure: Failure, *, group: str, component: str) -> Headers:
    """Headers of the dead letter: original headers plus provenance, the reason and the id
    shared by every group's copy of the same source record."""
    headers = _provenance(record, failure, group=group, component=component)
    topic, partition, offset = (get_header(headers, name) or "" for name in _SOURCE)
    headers.append((H.DEAD_LETTER_ID, dead_letter_id(topic, partition, offset).encode()))
    if failure.handlers:
        headers.append((H.RETRY_HANDLERS, ",".join(failure.handlers).encode()))
    return headers


def next_topic(
    record: Record, failure: Failure, *, topics: TopicNames, delays: tuple[float, ...]
) -> tuple[str, float | None]:
    """Where a failed record goes next: ``(retry topic, delay)`` or ``(dlq, None)``."""
    source = source_topic(record)
    if is_retriable(failure.error) and failure.attempts <= len(delays):
        return topics.retry(source, failure.attempts), delays[failure.attempts - 1]
    return topics.dlq(source), None


async def send_failed(
    bus: Bus, record: Record, failure: Failure, *, group: str, retry: bool
) -> None:
    """Send a record ``group`` failed to handle to its next retry topic (``retry`` and
    attempts left) or to the dead-letter topic, logged either way."""
    delays = bus.settings.retry_delays if retry else ()
    topic, delay = next_topic(record, failure, topics=bus.topics, delays=delays)
    component = bus.settings.component
    if delay is None:
        headers = dead_letter_headers(record, failure, group=group, component=component)
        bus.stats["dead_lettered"] += 1
        log.warning(
            "dead-lettered %s[%d]@%d to %s: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            topic,
            failure.error_class,
            failure.message,
        )
    else:
        headers = retry_headers(record, failure, group=group, component=component, delay=delay)
        bus.stats["retried"] += 1
        log.info(
            "retrying %s[%d]@%d via %s in %.1fs (attempt %d): %s",
            record.topic,
            record.partition,
            record.offset,
            topic,
            delay,
            failure.attempts,
            failure.message,
        )
    # A copy keeps the publisher's signature: it is that record, not a new one.
    await bus.send_raw(topic, key=record.key, value=record.value, headers=headers, sign=False)
