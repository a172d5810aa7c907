"""Kafka header names and protocol constants shared by every producer and consumer.

Header values are UTF-8 bytes. Names are lower-case and ``baton-`` prefixed except the
W3C trace context ones, so any Kafka client can read or write them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Final

__all__ = [
    "DELIVERY_HEADERS",
    "PROTOCOL_VERSION",
    "H",
    "Headers",
    "get_header",
    "new_event_id",
    "version_compatible",
]

PROTOCOL_VERSION: Final = "1.0.0"
"""Version of the wire protocol this library speaks (``MAJOR.MINOR.PATCH``)."""

Headers = list[tuple[str, bytes]]
"""Kafka record headers as aiokafka hands them over."""


class H:
    """Header names (a namespace of constants, not an enum, to keep them plain ``str``)."""

    EVENT_ID: Final = "baton-event-id"
    TIMESTAMP: Final = "baton-timestamp"
    SOURCE: Final = "baton-source"
    VERSION: Final = "baton-version"
    ROUTING_KEY: Final = "baton-routing-key"
    CORRELATION_ID: Final = "baton-correlation-id"
    REQUEST_ID: Final = "baton-request-id"
    REPLY_TO: Final = "baton-reply-to"
    STATUS: Final = "baton-status"
    FINDINGS: Final = "baton-findings"
    TRACEPARENT: Final = "traceparent"
    TRACESTATE: Final = "tracestate"
    # Retry bookkeeping, set by the bus when it moves a record to a retry topic.
    RETRY_GROUP: Final = "baton-retry-group"
    RETRY_DUE: Final = "baton-retry-due"
    # Provenance of a dead letter (and of a retried record).
    ORIGINAL_TOPIC: Final = "baton-original-topic"
    ORIGINAL_PARTITION: Final = "baton-original-partition"
    ORIGINAL_OFFSET: Final = "baton-original-offset"
    ORIGINAL_TIMESTAMP: Final = "baton-original-timestamp"
    CONSUMER_GROUP: Final = "baton-consumer-group"
    COMPONENT: Final = "baton-failing-component"
    ERROR_CLASS: Final = "baton-error-class"
    ERROR_MESSAGE: Final = "baton-error-message"
    ERROR_PART: Final = "baton-error-part"
    ATTEMPTS: Final = "baton-attempts"
    FIRST_FAILURE: Final = "baton-first-failure"
    REPLAYED_FROM: Final = "baton-replayed-from"
    RETRY_HANDLERS: Final = "baton-retry-handlers"
    # The source record a dead letter is a copy of: every group's copy carries the same id.
    DEAD_LETTER_ID: Final = "baton-dead-letter-id"
    # Where another client's partitioner had put a record the bus moved to its partition.
    REROUTED_FROM: Final = "baton-rerouted-from"


DELIVERY_HEADERS: Final = frozenset(
    {
        H.RETRY_GROUP,
        H.RETRY_DUE,
        H.ORIGINAL_TOPIC,
        H.ORIGINAL_PARTITION,
        H.ORIGINAL_OFFSET,
        H.ORIGINAL_TIMESTAMP,
        H.CONSUMER_GROUP,
        H.COMPONENT,
        H.ERROR_CLASS,
        H.ERROR_MESSAGE,
        H.ERROR_PART,
        H.ATTEMPTS,
        H.FIRST_FAILURE,
        H.REPLAYED_FROM,
        H.RETRY_HANDLERS,
        H.DEAD_LETTER_ID,
        H.REROUTED_FROM,
        H.STATUS,
    }
)
"""Headers about one delivery of a record (retries, dead letters, replies), not the event."""


def get_header(headers: Headers | None, name: str) -> str | None:
    """The last value of header ``name`` decoded as UTF-8, or None."""
    if not headers:
        return None
    found: bytes | None = None
    for key, value in headers:
        if key == name:
            found = value
    if found is None:
        return None
    return found.decode("utf-8", errors="replace")


def version_compatible(version: str) -> bool:
    """True when ``version`` has this library's major version."""
    major, _, _ = version.partition(".")
    return major == PROTOCOL_VERSION.partition(".")[0]


_lock = threading.Lock()
_last_ms = 0
_seq = 0


def new_event_id() -> str:
    """A unique, time-ordered id: a UUIDv7 (RFC 9562), monotonic within the process."""
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same or earlier millisecond: keep order with a 12-bit counter in rand_a.
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:
                ms += 1
                _seq = 0
        else:
            _seq = 0
        _last_ms = ms
        seq = _seq
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))
