"""Subscriptions: a pattern, a handler, a consumer group."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from baton.bus.transport import Ack
from baton.protocol.event import Event
from baton.protocol.routing import Pattern

__all__ = ["BATCH_DELIVERIES", "BatchHandler", "Handler", "StartAt", "Subscription"]

Handler = Callable[[Event], Awaitable[None]]
"""An event handler. Raise to fail the event: see :mod:`baton.bus.failures`."""

BatchHandler = Callable[[list[Event]], Awaitable[None]]
"""A handler of several events at once, in their order (one transaction for all of them,
say). It must apply all of them or none: when it raises, each event is handed to it again
alone, so that a bad event fails (retry, dead letter) by itself."""

BATCH_DELIVERIES: contextvars.ContextVar[list[Awaitable[Ack]] | None] = contextvars.ContextVar(
    "baton_batch_deliveries", default=None
)
"""Acks the consumer loop must await before it commits the batch being handled."""


class StartAt(StrEnum):
    """Where a consumer group that has never committed an offset starts reading.

    A group that has committed offsets always continues from them (a restarted service or
    agent resumes where it stopped); this decides only a brand-new group's first read.
    """

    EARLIEST = "earliest"
    """From the oldest record the topic still holds (the default): nothing published
    before the group first joined is missed, so a service deployed later catches up."""
    LATEST = "latest"
    """Only what is published once the group holds its partitions: wait for
    :meth:`~baton.bus.Bus.wait_assigned` before publishing what it must see."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One handler subscribed to a routing-key pattern on a topic, in a consumer group.

    Attributes:
        pattern: Routing-key pattern (``resource.*.allocated``, ``workflow.#``).
        handler: Called once per matching event (at least once; dedupe by ``event_id``).
        group: Consumer group; each group gets every matching event once.
        topic: Source topic (its retry topics are consumed too).
        name: Identifies the subscription in retry headers; unique within its group.
        start_at: Where a brand-new group starts reading (:class:`StartAt`).
        batch: For a batch subscription, its handler; ``handler`` then hands it one event.
    """

    pattern: Pattern
    handler: Handler
    group: str
    topic: str
    name: str
    start_at: StartAt = StartAt.EARLIEST
    batch: BatchHandler | None = None
    stats: dict[str, int] = field(default_factory=dict, compare=False)
