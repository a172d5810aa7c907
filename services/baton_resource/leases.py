"""Leases: every allocation is released automatically unless its holder renews it.

Rules:

- The lease of an allocation lasts ``duration_hours * auto_release_grace`` (at least
  :data:`MIN_LEASE_SECONDS`, so a zero-hour request is not reclaimed before its holder can
  start); the response tells it as ``restrictions.auto_release_timeout``.
- A renewal says "I still need it for ``hours`` more" (default: the allocation's duration):
  the expected end becomes ``now + hours`` and the deadline ``now + hours * grace``; a
  renewal never moves either one earlier.
- Durations above :data:`MAX_DURATION_HOURS` are refused at request time, so every time
  computed here stays within the calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from baton_resource.records import Allocation

__all__ = [
    "MAX_DURATION_HOURS",
    "MIN_LEASE_SECONDS",
    "lease_seconds",
    "release_estimate",
    "renewed",
    "span",
]

MAX_DURATION_HOURS: Final = 24.0 * 366
"""Longest duration a request may ask for (one year)."""

MIN_LEASE_SECONDS: Final = 60.0
"""Shortest lease."""


def span(hours: float) -> timedelta:
    """``hours`` as a timedelta (capped at ten times the longest duration)."""
    return timedelta(hours=min(hours, 10 * MAX_DURATION_HOURS))


def lease_seconds(*, duration_hours: float, grace: float) -> float:
    """Length of a lease for an allocation of ``duration_hours``."""
    return max(MIN_LEASE_SECONDS, min(duration_hours, MAX_DURATION_HOURS) * grace * 3600.0)


def release_estimate(allocation: Allocation, *, now: datetime) -> datetime:
    """When an allocation is expected to be given back, as seen at ``now``.

    Its expected end; once overrun, its lease deadline (the latest it can be held); now
    when both have passed (the next expiry sweep releases it).
    """
    if allocation.expected_end > now:
        return allocation.expected_end
    return max(allocation.lease_deadline, now)


def renewed(
    allocation: Allocation, *, now: datetime, grace: float, hours: float | None = None
) -> Allocation:
    """The allocation with its lease renewed at ``now`` for ``hours`` more.

    Raises:
        ValueError: ``hours`` is negative or above :data:`MAX_DURATION_HOURS`.
    """
    more = allocation.resources.duration_hours if hours is None else hours
    if not 0 <= more <= MAX_DURATION_HOURS:
        raise ValueError(f"hours must be within 0..{MAX_DURATION_HOURS:g}, got {more!r}")
    end = now + span(more)
    deadline = now + timedelta(seconds=lease_seconds(duration_hours=more, grace=grace))
    return allocation.model_copy(
        update={
            "expected_end": max(allocation.expected_end, end),
            "lease_deadline": max(allocation.lease_deadline, deadline),
        }
    )
