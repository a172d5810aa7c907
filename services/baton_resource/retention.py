"""The resource manager's retention: answers to settled requests go after
``BATON_RETENTION_ANSWERS`` (a day by default).

An answer is what a repeated request id gets back instead of a second allocation. While its
request holds an allocation or waits in the queue it stays, whatever its age; once the
request is settled (released, expired, cancelled, denied) it goes a window after its last
change, and the allocator remembers answers for the same window, so a repeat of the request
after that is a new request in both.
"""

from __future__ import annotations

from datetime import timedelta

from baton.runtime import PruneRule, RetentionConfig

__all__ = ["SETTLED", "resource_rules"]

SETTLED = (
    "not exists (select 1 from resource_allocations r "
    "where r.request_id = resource_answers.request_id) "
    "and not exists (select 1 from resource_queue q "
    "where q.request_id = resource_answers.request_id)"
)
"""The condition of answers whose request neither holds an allocation nor is queued."""


def resource_rules(retention: RetentionConfig) -> list[PruneRule]:
    """The resource manager's prune rules."""
    return [
        PruneRule(
            name="resource_answers",
            table="resource_answers",
            time_column="updated_at",
            window=timedelta(seconds=retention.answers),
            condition=SETTLED,
        )
    ]
