"""The read model's writes in PostgreSQL: workflow rows, the system view, the duration
history, pruning.

``status_workflows`` has one row per workflow: its projected view (``view``), the list
line (``summary``) and the summary columns lists, counts and pages are queried by
(:mod:`baton_status.queries`). Every write takes a new ``version`` from one sequence and
notifies the deployment's channel (``workflow_id version``), delivered to every replica's
listener once the transaction commits (:mod:`baton_status.changes`).
``status_history`` has one row per workflow type; ``status_singletons`` the system view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from baton.runtime import first_times
from baton_status.history import History
from baton_status.queries import UNKNOWN_RANK, Singleton, StatusQueries
from baton_status.render import PRIORITY_ORDER
from baton_status.views import TERMINAL, WorkflowView

__all__ = ["Locked", "StatusStore"]

_TERMINAL = sorted(TERMINAL)


class Locked(NamedTuple):
    """What a writer found when it locked a batch's workflows.

    Attributes:
        versions: The version of each workflow's row (none for a workflow without one).
        views: The stored views read: where the writer's copy is not the row's version.
    """

    versions: dict[str, int]
    views: dict[str, WorkflowView]


def _columns(view: WorkflowView, summary: dict[str, Any]) -> tuple[Any, ...]:
    began = view.started_at or view.created_at
    duration = (
        (view.finished_at - began).total_seconds()
        if view.finished_at is not None and began is not None
        else None
    )
    return (
        view.workflow_id,
        view.status,
        view.priority,
        PRIORITY_ORDER.get(view.priority, UNKNOWN_RANK),
        view.workflow_type,
        view.name,
        summary["progress"],
        summary["phases_done"],
        summary["phases_total"],
        view.created_at or view.updated_at,
        view.started_at,
        view.finished_at,
        view.updated_at,
        duration,
        summary,
    )


_COUNT_ENDED = """
insert into status_ended as e (status, shard, n)
select status, abs(hashtext(id)) % 16, sum(delta)
from unnest($1::text[], $2::text[], $3::bigint[]) as d (status, id, delta)
group by 1, 2 order by 1, 2
on conflict (status, shard) do update set n = e.n + excluded.n
"""

_LOCK = """
select w.workflow_id, w.version,
    case when w.version = h.held then null else w.view end
from status_workflows w join unnest($1::text[], $2::bigint[]) as h (workflow_id, held)
    using (workflow_id)
order by w.workflow_id
for update of w
"""

_SAVE = """
with saved as (
    insert into status_workflows as w (
        workflow_id, status, priority, priority_rank, workflow_type, name, progress,
        phases_done, phases_total, created_at, started_at, finished_at, updated_at,
        duration_s, summary, view)
    select workflow_id, status, priority, priority_rank, workflow_type, name, progress,
        phases_done, phases_total, coalesce(created_at, now()), started_at, finished_at,
        coalesce(updated_at, now()), duration_s, summary, view
    from unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::text[],
        $7::real[], $8::int[], $9::int[], $10::timestamptz[], $11::timestamptz[],
        $12::timestamptz[], $13::timestamptz[], $14::float8[], $15::jsonb[], $16::jsonb[])
        as v (workflow_id, status, priority, priority_rank, workflow_type, name, progress,
            phases_done, phases_total, created_at, started_at, finished_at, updated_at,
            duration_s, summary, view)
    order by workflow_id
    on conflict (workflow_id) do update set
        status = excluded.status, priority = excluded.priority,
        priority_rank = excluded.priority_rank, workflow_type = excluded.workflow_type,
        name = excluded.name, progress = excluded.progress,
        phases_done = excluded.phases_done, phases_total = excluded.phases_total,
        created_at = excluded.created_at, started_at = excluded.started_at,
        finished_at = excluded.finished_at, updated_at = excluded.updated_at,
        duration_s = excluded.duration_s, summary = excluded.summary, view = excluded.view,
        version = nextval('status_versions')
    returning w.workflow_id, w.version
)
select workflow_id, version, pg_notify($17, workflow_id || ' ' || version) from saved
"""


class StatusStore(StatusQueries):
    """The status service's tables: its queries, and the writes (see the module doc).

    Args:
        channel: The deployment's notification channel (:func:`baton_status.changes.channel`).
    """

    def __init__(self, *, channel: str) -> None:
        self.channel = channel

    async def record(self, conn: Any, *, event_ids: Sequence[str]) -> frozenset[str]:
        """Record ``event_ids`` in the idempotency ledger, in id order, in one statement:
        those not recorded before (the others were applied already)."""
        return await first_times(conn, consumer="status", event_ids=event_ids)

    async def lock(self, conn: Any, *, held: Mapping[str, int | None]) -> Locked:
        """Lock the rows of the workflows in ``held``, in id order, in one statement.

        ``held`` maps each to the version of the copy the writer holds (None: none); a
        stored view is read only where that copy is not the row's version.
        """
        rows = await conn.fetch(_LOCK, list(held), list(held.values()))
        views = {r[0]: WorkflowView.model_validate(r[2]) for r in rows if r[2] is not None}
        return Locked({r[0]: r[1] for r in rows}, views)

    async def views(self, conn: Any, workflow_ids: Sequence[str]) -> dict[str, WorkflowView]:
        """The stored views of ``workflow_ids`` (those that have one)."""
        rows = await conn.fetch(
            "select workflow_id, view from status_workflows where workflow_id = any($1::text[])",
            list(workflow_ids),
        )
        return {r["workflow_id"]: WorkflowView.model_validate(r["view"]) for r in rows}

    async def save_views(
        self, conn: Any, views: Sequence[tuple[WorkflowView, dict[str, Any]]]
    ) -> dict[str, int]:
        """Write ``(view, summary)`` pairs (their list lines JSON-ready; one per workflow) in
        one statement, in id order; returns each workflow's new version.

        The channel hears ``workflow_id version`` of each when the transaction commits.
        """
        if not views:
            return {}
        columns = zip(
            *((*_columns(view, summary), view.model_dump(mode="json")) for view, summary in views),
            strict=True,
        )
        rows = await conn.fetch(_SAVE, *(list(c) for c in columns), self.channel)
        return {r["workflow_id"]: r["version"] for r in rows}

    async def count_ended(self, conn: Any, changes: Sequence[tuple[str, str, int]]) -> None:
        """Add ``(status, workflow_id, ±1)`` changes to the ended counts, one statement in
        (status, shard) order: every writer takes the shards' locks in that order, so none
        waits for another in a cycle. Only ended statuses count."""
        counted = [c for c in changes if c[0] in TERMINAL]
        if counted:
            statuses, ids, deltas = zip(*counted, strict=True)
            await conn.execute(_COUNT_ENDED, list(statuses), list(ids), list(deltas))

    async def unsummarised(self, conn: Any, *, batch: int) -> list[WorkflowView]:
        """Up to ``batch`` views whose row has no list line yet (written before the summary
        columns existed), locked; others' locked rows are skipped."""
        rows = await conn.fetch(
            "select view from status_workflows where summary is null "
            "limit $1 for update skip locked",
            batch,
        )
        return [WorkflowView.model_validate(r["view"]) for r in rows]

    async def prune(self, conn: Any, *, older_than: datetime, batch: int) -> int:
        """Delete up to ``batch`` workflows that ended before ``older_than``; how many.

        Rows another transaction holds (a replica writing or pruning them) are skipped,
        so replicas pruning at once neither wait for nor deadlock with anyone.
        """
        deleted: int = await conn.fetchval(
            "with doomed as (select workflow_id from status_workflows "
            "where finished_at < $1 and status = any($2::text[]) "
            "order by finished_at limit $3 for update skip locked), "
            "gone as (delete from status_workflows w using doomed d "
            "where w.workflow_id = d.workflow_id returning 1) "
            "select count(*) from gone",
            older_than,
            _TERMINAL,
            batch,
        )
        return deleted

    async def prune_history(self, conn: Any, *, older_than: datetime) -> int:
        """Forget the durations of workflow types that learned nothing since ``older_than``."""
        deleted: int = await conn.fetchval(
            "with gone as (delete from status_history where updated_at < $1 returning 1) "
            "select count(*) from gone",
            older_than,
        )
        return deleted

    # -- the duration history, one row per workflow type -----------------------------------

    async def history(self, conn: Any, workflow_type: str, *, known: int | None) -> Singleton:
        """The history row of ``workflow_type``, locked until the transaction ends (made
        empty when missing); its value only when its version is not ``known``."""
        for _ in range(2):
            row = await conn.fetchrow(
                "select version, case when version = $2 then null else value end as value "
                "from status_history where workflow_type = $1 for update",
                workflow_type,
                -1 if known is None else known,
            )
            if row is not None:
                return Singleton(row["version"], row["value"])
            # A first sample of the type: make the row, then lock it (another replica may
            # make it at the same moment; either way both then wait on one row).
            await conn.execute(
                "insert into status_history (workflow_type, value) values ($1, $2) "
                "on conflict do nothing",
                workflow_type,
                History().model_dump(mode="json"),
            )
        raise AssertionError("unreachable: the history row was just made")

    async def save_history(self, conn: Any, workflow_type: str, history: History) -> int:
        """Write ``workflow_type``'s history (its row exists and is locked); its new version."""
        version: int = await conn.fetchval(
            "update status_history set value = $2, version = nextval('status_versions'), "
            "updated_at = now() where workflow_type = $1 returning version",
            workflow_type,
            history.model_dump(mode="json"),
        )
        return version

    # -- singletons (the system view) ------------------------------------------------------

    async def save_singleton(self, conn: Any, name: str, value: Any) -> int:
        """Write a singleton; returns its new version."""
        version: int = await conn.fetchval(
            "insert into status_singletons (name, value) values ($1, $2) on conflict (name) "
            "do update set value = excluded.value, version = status_singletons.version + 1, "
            "updated_at = now() returning version",
            name,
            value,
        )
        return version
