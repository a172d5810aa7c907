"""Live progress of the demo's workflows, folded from the events topic.

The tracker is a subscriber like any other: it sees the hub's lifecycle events and the
agents' reports and keeps, per workflow, its status, current phase, phases done, tasks
done, retries and timings — what the live table and the final summary show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.table import Table

from baton.protocol.event import Event
from baton.protocol.fields import TERMINAL_STATUSES

__all__ = ["Progress", "Tracker"]

_STATUS_OF = {
    "WORKFLOW_CREATED": "CREATED",
    "WORKFLOW_SCHEDULED": "SCHEDULED",
    "WORKFLOW_QUEUED": "QUEUED",
    "WORKFLOW_STARTED": "STARTED",
    "WORKFLOW_PAUSED": "PAUSED",
    "WORKFLOW_RESUMED": "STARTED",
    "WORKFLOW_RESTORED": "RESTORED",
    "WORKFLOW_COMPLETED": "COMPLETED",
    "WORKFLOW_FAILED": "FAILED",
    "WORKFLOW_CANCELLED": "CANCELLED",
}
TERMINAL = TERMINAL_STATUSES
_COLOUR = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "red", "QUEUED": "yellow"}


@dataclass
class Progress:
    """What the demo knows about one workflow."""

    workflow_id: str
    scenario: str
    phases: list[str]
    status: str = "SUBMITTED"
    phase: str = ""
    phases_done: set[str] = field(default_factory=set)
    tasks_done: int = 0
    retries: int = 0
    failures: int = 0
    was_queued: bool = False
    restored: bool = False
    created_at: float | None = None
    ended_at: float | None = None
    note: str = ""

    @property
    def allocated_or_queued(self) -> bool:
        """The resource manager has answered for this workflow (or it has moved on)."""
        return self.status not in ("SUBMITTED", "CREATED")

    @property
    def duration(self) -> float | None:
        if self.created_at is None:
            return None
        return (self.ended_at or time.monotonic()) - self.created_at


@dataclass
class Tracker:
    """Folds events of the tracked workflows into :class:`Progress` rows."""

    rows: dict[str, Progress] = field(default_factory=dict)
    events_seen: int = 0

    def track(self, *, workflow_id: str, scenario: str, phases: list[str]) -> None:
        self.rows[workflow_id] = Progress(workflow_id=workflow_id, scenario=scenario, phases=phases)

    async def on_event(self, event: Event) -> None:
        """Bus handler: update the row of the event's workflow, if it is tracked."""
        row = self.rows.get(event.workflow_id)
        if row is None:
            return
        self.events_seen += 1
        kind, data = event.event_type, event.data
        if kind in _STATUS_OF:
            row.status = _STATUS_OF[kind]
            if kind == "WORKFLOW_CREATED" and row.created_at is None:
                row.created_at = time.monotonic()
            if kind == "WORKFLOW_QUEUED":
                row.was_queued = True
                position = data.get("queue_position")
                row.note = f"queued at position {position}" if position else "queued"
            if kind == "WORKFLOW_RESTORED":
                row.restored = True
                row.note = f"restored {data.get('checkpoint_id', '')}"
            if row.status in TERMINAL:
                row.ended_at = time.monotonic()
                if kind == "WORKFLOW_FAILED":
                    row.note = str(data.get("reason") or data.get("error") or "failed")[:60]
        elif kind == "PHASE_STARTED":
            row.phase = event.phase
        elif kind == "PHASE_COMPLETED":
            row.phases_done.add(event.phase)
        elif kind == "TASK_COMPLETED":
            row.tasks_done += 1
        elif kind == "TASK_FAILED":
            row.failures += 1
            row.note = str(data.get("failure_reason", ""))[:60]
        elif kind in ("TASK_RETRY", "TASK_REASSIGNED"):
            row.retries += 1
        elif kind == "ERROR_REPORTED" and not row.restored:
            # Recovery reports a failure a moment after it happened (it reads in batches):
            # a report that comes after the restore is old news and leaves its note.
            row.note = "error report: " + str(data.get("classification", {}).get("category", ""))

    def finished(self, workflow_ids: list[str]) -> bool:
        return all(self.rows[w].status in TERMINAL for w in workflow_ids)

    def table(self, *, title: str = "Workflows", note_width: int | None = 48) -> Table:
        """The live view: one line per workflow; notes past ``note_width`` characters fold
        (None: never)."""
        table = Table(title=title, expand=False)
        for column in ("workflow", "scenario", "status", "phase", "phases", "tasks", "retries"):
            table.add_column(column)
        table.add_column("duration", justify="right")
        table.add_column("note", overflow="fold", max_width=note_width)
        for row in self.rows.values():
            colour = _COLOUR.get(row.status, "cyan")
            duration = "" if row.duration is None else f"{row.duration:.1f}s"
            table.add_row(
                row.workflow_id,
                row.scenario,
                f"[{colour}]{row.status}[/]",
                row.phase,
                f"{len(row.phases_done)}/{len(row.phases)}",
                str(row.tasks_done),
                str(row.retries),
                duration,
                row.note,
            )
        return table
