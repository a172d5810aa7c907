"""Order of the waiting requests: priority with aging.

Effective priority of a queued request at time ``now``::

    effective = PRIORITY_RANK[priority] + waited_minutes * aging_per_minute

with ranks critical 90, high 60, medium 30, low 0, and ``waited_minutes`` counted from when
the request joined the queue (the resource manager's clock, not the requester's timestamp,
which could be skewed or backdated). Higher goes first; ties go to the earlier arrival.

At the default aging of 1 per minute one priority level is worth 30 minutes of waiting. All
queued requests age at the same rate, so their order among themselves never changes; only a
new arrival can rank above an older request, and only while the older one has waited less
than ``(rank gap) / aging_per_minute`` minutes (:func:`overtake_window`): after that, no new
request of any priority ranks above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

from baton.protocol.messages import Priority
from baton_resource.records import QueuedRequest

__all__ = [
    "PRIORITY_RANK",
    "effective_priority",
    "ordered",
    "overtake_window",
    "sort_key",
    "waited_minutes",
]

PRIORITY_RANK: Final[Mapping[str, float]] = MappingProxyType(
    {"critical": 90.0, "high": 60.0, "medium": 30.0, "low": 0.0}
)
"""Base rank of each priority, in minutes of waiting at aging 1 per minute."""

_TOP_RANK: Final = max(PRIORITY_RANK.values())

_KEY_EPOCH: Final = datetime(2025, 1, 1, tzinfo=UTC)
"""Origin of :func:`sort_key`'s clock (recent, so that the key keeps its precision)."""


def waited_minutes(*, queued_at: datetime, now: datetime) -> float:
    """Minutes spent in the queue (never negative)."""
    return max(0.0, (now - queued_at).total_seconds() / 60.0)


def effective_priority(
    *, priority: Priority, queued_at: datetime, now: datetime, aging_per_minute: float
) -> float:
    """Base rank plus waited minutes times the aging rate (see the module docstring)."""
    waited = waited_minutes(queued_at=queued_at, now=now)
    # Rounded so that equal priorities on paper tie exactly and fall back to arrival order.
    return round(PRIORITY_RANK[priority] + waited * aging_per_minute, 9)


def ordered(
    queue: Iterable[QueuedRequest], *, now: datetime, aging_per_minute: float
) -> list[QueuedRequest]:
    """The queue in serving order: highest effective priority first, then arrival."""

    def key(entry: QueuedRequest) -> tuple[float, int]:
        rank = effective_priority(
            priority=entry.request.priority,
            queued_at=entry.queued_at,
            now=now,
            aging_per_minute=aging_per_minute,
        )
        return (-rank, entry.seq)

    return sorted(queue, key=key)


def sort_key(*, priority: Priority, queued_at: datetime, aging_per_minute: float) -> float:
    """A key that does not change with time and sorts like the effective priority.

    ``effective = rank + (now - queued_at) * aging``, and ``now * aging`` is the same for
    every entry, so ``rank - queued_at * aging`` orders the queue the same way at any
    time (higher first, then arrival). The service stores it to read the queue in order.
    """
    minutes = (queued_at - _KEY_EPOCH).total_seconds() / 60.0
    # Rounded as the effective priority is, so that what ties there ties here.
    return round(PRIORITY_RANK[priority] - minutes * aging_per_minute, 9)


def overtake_window(*, priority: Priority, aging_per_minute: float) -> float | None:
    """Minutes after which no newly arriving request can rank above one of ``priority``.

    None when aging is off and a higher priority exists (it can be overtaken forever).
    """
    gap = _TOP_RANK - PRIORITY_RANK[priority]
    if gap == 0:
        return 0.0
    if aging_per_minute <= 0:
        return None
    return gap / aging_per_minute
