"""The read model in PostgreSQL: workflow views, the system view, the duration history."""

from __future__ import annotations

from typing import Any, NamedTuple

from baton.runtime import first_time_and_read
from baton_status.views import WorkflowView

__all__ = ["Singleton", "StatusStore"]


class Singleton(NamedTuple):
    """A singleton row as :meth:`StatusStore.singleton` found it.

    Attributes:
        version: Its version; None when there is no row yet.
        value: Its value; None when absent or still at the version the caller knows.
    """

    version: int | None
    value: Any


class StatusStore:
    """``status_workflows`` (one row per workflow) and ``status_singletons``."""

    async def first_and_view(
        self, conn: Any, *, event_id: str, workflow_id: str
    ) -> tuple[bool, WorkflowView | None]:
        """Record ``event_id`` in the ledger and read the workflow's view, locked, in one
        round trip: whether the event is new, and the view (None if there is none yet)."""
        first, value = await first_time_and_read(
            conn,
            consumer="status",
            event_id=event_id,
            read="select view from status_workflows where workflow_id = $3 for update",
            args=(workflow_id,),
        )
        return first, None if value is None else WorkflowView.model_validate(value)

    async def save_view(self, conn: Any, view: WorkflowView) -> None:
        await conn.execute(
            "insert into status_workflows (workflow_id, status, priority, workflow_type, view) "
            "values ($1, $2, $3, $4, $5) on conflict (workflow_id) do update set "
            "status = excluded.status, view = excluded.view, updated_at = now()",
            view.workflow_id,
            view.status,
            view.priority,
            view.workflow_type,
            view.model_dump(mode="json"),
        )

    async def all_views(self, conn: Any) -> list[WorkflowView]:
        rows = await conn.fetch("select view from status_workflows order by workflow_id")
        return [WorkflowView.model_validate(r["view"]) for r in rows]

    async def singleton(
        self, conn: Any, name: str, *, known: int | None = None, lock: bool = False
    ) -> Singleton:
        """A singleton (``lock``: locked until the transaction ends); its value only when
        its version is not ``known`` (the caller holds that version's value already)."""
        row = await conn.fetchrow(
            "select version, case when version = $2 then null else value end as value "
            "from status_singletons where name = $1" + (" for update" if lock else ""),
            name,
            -1 if known is None else known,
        )
        return Singleton(None, None) if row is None else Singleton(row["version"], row["value"])

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
