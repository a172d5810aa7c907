"""The hub's retention: finished workflows go after ``BATON_RETENTION_WORKFLOWS``.

Counted from a workflow's last change (``updated_at``), so a workflow restored or changed
late keeps its full window. Active workflows are never pruned. Once gone, a late event
about it is ignored (as for any workflow this hub does not run), and it can no longer be
inspected or restored through the hub.
"""

from __future__ import annotations

from datetime import timedelta

from baton.runtime import PruneRule, RetentionConfig
from baton.runtime.retention import sql_literal
from baton_hub.state import TERMINAL

__all__ = ["FINISHED", "hub_rules"]

FINISHED = f"status in ({', '.join(sql_literal(s) for s in sorted(TERMINAL))})"
"""The condition of finished workflows; also the predicate of their index (migration 0002)."""


def hub_rules(retention: RetentionConfig) -> list[PruneRule]:
    """The hub's prune rules."""
    return [
        PruneRule(
            name="hub_workflows",
            table="hub_workflows",
            time_column="updated_at",
            window=timedelta(seconds=retention.workflows),
            condition=FINISHED,
        )
    ]
