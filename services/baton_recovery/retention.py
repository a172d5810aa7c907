"""workflow-recovery's retention: checkpoints, error reports and done actions.

Recovery does not follow workflows to their end, so a workflow's checkpoints go together
once its newest one is older than ``BATON_RETENTION_CHECKPOINTS`` — the workflow has
finished, or made no checkpoint for that long (a window longer than any workflow runs
without one keeps every running workflow's chain whole). A chain never loses a link: all
of a workflow's checkpoints go in one statement. Error reports go the same way per
workflow (``BATON_RETENTION_REPORTS``); recovery actions once done, one by one
(``BATON_RETENTION_ACTIONS``); actions not done yet never.
"""

from __future__ import annotations

from datetime import timedelta

from baton.runtime import PruneRule, RetentionConfig

__all__ = ["recovery_rules"]


def recovery_rules(retention: RetentionConfig) -> list[PruneRule]:
    """workflow-recovery's prune rules."""
    return [
        PruneRule(
            name="recovery_checkpoints",
            table="recovery_checkpoints",
            time_column="created_at",
            window=timedelta(seconds=retention.checkpoints),
            together_by="workflow_id",
        ),
        PruneRule(
            name="recovery_reports",
            table="recovery_reports",
            time_column="created_at",
            window=timedelta(seconds=retention.reports),
            together_by="workflow_id",
        ),
        PruneRule(
            name="recovery_actions",
            table="recovery_actions",
            time_column="done_at",
            window=timedelta(seconds=retention.actions),
        ),
    ]
