"""The monitor's workflow figures in PostgreSQL (``monitor_workflows``).

A workflow's whole-life figures (:class:`~baton_monitor.state.WorkflowStats`) are saved
after each batch of events that changed them, before the batch's offsets are committed, and
read back when one of its events or a report needs them: a restarted monitor keeps them
without reading the events again, and start-up does not grow with history. Rows are per
consumer group (deployments may share a database) and go after a retention period.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from baton.db import Database
from baton_monitor.state import WorkflowStats

__all__ = ["WorkflowStore"]


class WorkflowStore:
    """``monitor_workflows`` rows of one consumer group.

    Args:
        db: The database.
        owner: The monitor's consumer group (``<prefix>.monitor``).
    """

    def __init__(self, *, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner

    async def load(self, workflow_ids: Collection[str]) -> dict[str, WorkflowStats]:
        """The saved figures of those of ``workflow_ids`` that have any.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        if not workflow_ids:
            return {}
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "select workflow_id, stats::text as stats from monitor_workflows "
                "where owner = $1 and workflow_id = any($2::text[])",
                self.owner,
                list(workflow_ids),
            )
        return {r["workflow_id"]: WorkflowStats.model_validate_json(r["stats"]) for r in rows}

    async def save(self, figures: Mapping[str, WorkflowStats]) -> None:
        """Write the figures of every workflow in ``figures`` (one statement).

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer; nothing was written.
        """
        if not figures:
            return
        async with self.db.connection() as conn:
            await conn.execute(
                "insert into monitor_workflows (owner, workflow_id, stats) "
                "select $1, w, s::jsonb from unnest($2::text[], $3::text[]) as t(w, s) "
                "on conflict (owner, workflow_id) do update "
                "set stats = excluded.stats, updated_at = now()",
                self.owner,
                list(figures),
                [stats.model_dump_json() for stats in figures.values()],
            )

    async def forget_before(self, moment: datetime) -> int:
        """Delete the figures not updated since ``moment``; returns how many went.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        async with self.db.connection() as conn:
            status: str = await conn.execute(
                "delete from monitor_workflows where owner = $1 and updated_at < $2",
                self.owner,
                moment,
            )
        return int(status.rsplit(" ", 1)[-1])
