"""What the demo reports at its end: one row per workflow, as data and as a table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from baton.demo.tracker import Tracker

__all__ = ["summary_rows", "summary_table"]


def summary_rows(tracker: Tracker) -> list[dict[str, Any]]:
    """Per workflow: status, duration, phases, tasks, retries, failures, queued, restored."""
    return [
        {
            "workflow_id": row.workflow_id,
            "scenario": row.scenario,
            "status": row.status,
            "duration_s": None if row.duration is None else round(row.duration, 2),
            "phases": f"{len(row.phases_done)}/{len(row.phases)}",
            "tasks_completed": row.tasks_done,
            "retries": row.retries,
            "task_failures": row.failures,
            "queued": row.was_queued,
            "restored": row.restored,
        }
        for row in tracker.rows.values()
    ]


def summary_table(rows: list[dict[str, Any]]) -> Table:
    """The rows as the table the demo prints last."""
    table = Table(title="Summary")
    for column in ("workflow", "scenario", "status", "duration", "phases", "retries", "notes"):
        table.add_column(column)
    for row in rows:
        notes = ", ".join(
            n
            for n, on in (
                ("was queued", row["queued"]),
                ("restored from checkpoint", row["restored"]),
            )
            if on
        )
        table.add_row(
            row["workflow_id"],
            row["scenario"],
            row["status"],
            "" if row["duration_s"] is None else f"{row['duration_s']:.1f}s",
            row["phases"],
            str(row["retries"]),
            notes,
        )
    return table
