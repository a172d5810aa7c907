"""The read model's answers (:mod:`baton_status.api_models`), queried from PostgreSQL.

Every replica answers for every workflow: all read the same tables, whichever replica
wrote them.

- A list page comes from the summary columns (:mod:`baton_status.queries`): an ended
  workflow's stored line as it is; an open one's rendered from its view now (its estimate
  and the running phase's duration follow the clock).
- A detail reads the view (this replica's copy while it is the row's version).
- The overview counts workflows per status in the database and renders the open ones
  (the work in flight) from their views; pools, conflicts and alerts come from the system
  view.

Views of open workflows are read without their timeline (:meth:`StatusQueries.light_views`);
the history of their types and the system view are read only when their version changed
since this replica's copy (:mod:`baton_status.memory`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from baton.db import Database
from baton_status.api_models import Overview, WorkflowDetail, WorkflowList, WorkflowSummary
from baton_status.history import History, merge
from baton_status.listing import ListQuery
from baton_status.memory import SYSTEM, Memory, current
from baton_status.queries import Line, Singleton, StatusQueries
from baton_status.render import detail, overview, summary
from baton_status.views import TERMINAL, SystemView, WorkflowView

__all__ = ["Reader"]


_FIELDS = frozenset(WorkflowSummary.model_fields)


def _now() -> datetime:
    return datetime.now(UTC)


def _stored(line: dict[str, Any]) -> dict[str, Any]:
    """A stored list line as the API gives it: as it is, unless written by a version whose
    line had other fields (then through today's model, defaults filled in)."""
    if line.keys() == _FIELDS:
        return line
    return WorkflowSummary.model_validate(
        {k: v for k, v in line.items() if k in _FIELDS}
    ).model_dump(mode="json")


class Reader:
    """Answers lists, details and the overview from the database (see the module doc).

    Args:
        db: The database.
        memory: This replica's copies, shared with its writer.
    """

    def __init__(self, *, db: Database, memory: Memory) -> None:
        self.db = db
        self.memory = memory
        self.queries = StatusQueries()

    async def page(self, query: ListQuery) -> WorkflowList:
        """One page of the workflow list (see :mod:`baton_status.listing`).

        Raises:
            BadInputError: the cursor is not one of the query's sort and order.
        """
        return WorkflowList.model_validate(await self.page_data(query))

    async def page_data(self, query: ListQuery) -> dict[str, Any]:
        """:meth:`page` as JSON-ready data (:class:`WorkflowList`'s shape), the stored lines
        passed on as they are (a page of ended workflows is not validated again)."""
        async with self.db.connection() as conn:
            found = await self.queries.page(conn, query)
            workflows = await self._summaries(conn, found.lines)
        return {"workflows": workflows, "total": found.total, "next_cursor": found.next_cursor}

    async def summaries(self, workflow_ids: Collection[str]) -> list[tuple[int, dict[str, Any]]]:
        """The list lines (JSON-ready) of ``workflow_ids`` that exist, each with its row's
        version."""
        async with self.db.connection() as conn:
            lines = await self.queries.lines(conn, workflow_ids)
            rendered = await self._summaries(conn, lines)
        return [(line.version, s) for line, s in zip(lines, rendered, strict=True)]

    async def detail(
        self, workflow_id: str, *, detailed: bool, include_dependencies: bool
    ) -> WorkflowDetail | None:
        """One workflow (None when there is none)."""
        async with self.db.connection() as conn:

            async def read(known: int | None) -> Singleton:
                return await self.queries.view(conn, workflow_id, known=known)

            _, view = await current(
                self.memory.views, workflow_id, read=read, parse=WorkflowView.model_validate
            )
            if view is None:
                return None
            shared = self._shared(workflow_id, view)
            history = await self._history(conn, [view])
            if shared and not self._shared(workflow_id, view):
                # The writer took this copy meanwhile (see _settle): read the row again.
                row = await read(None)
                if row.version is None:
                    return None
                view = WorkflowView.model_validate(row.value)
        return detail(
            view,
            history=history,
            now=_now(),
            detailed=detailed,
            include_dependencies=include_dependencies,
        )

    async def overview(self) -> Overview:
        """The whole system at a glance."""
        async with (
            self.db.connection() as conn,
            # One snapshot: a workflow ending meanwhile is counted once, open or ended.
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            counts = await self.queries.ended(conn)
            open_rows = await self.queries.open_rows(conn)
            for _, status in open_rows.values():
                counts[status] = counts.get(status, 0) + 1
            views, shared = await self._views(conn, {w: v for w, (v, _) in open_rows.items()})
            history = await self._history(conn, views.values())
            system = await self._system(conn)
            await self._settle(conn, views, shared)
        return overview(views.values(), system, history=history, now=_now(), counts=counts)

    async def _summaries(self, conn: Any, lines: list[Line]) -> list[dict[str, Any]]:
        """The lines rendered (JSON-ready): stored for ended workflows, from their view now
        for open ones (and for rows not summarised yet)."""
        live = {
            line.workflow_id: line.version
            for line in lines
            if line.summary is None or line.status not in TERMINAL
        }
        views, shared = await self._views(conn, live)
        history = await self._history(conn, views.values())
        await self._settle(conn, views, shared)
        now = _now()
        out: list[dict[str, Any]] = []
        for line in lines:
            view = views.get(line.workflow_id)
            if view is not None:
                out.append(summary(view, history=history, now=now).model_dump(mode="json"))
            elif line.summary is not None:
                out.append(_stored(line.summary))
        return out

    async def _views(
        self, conn: Any, versions: dict[str, int]
    ) -> tuple[dict[str, WorkflowView], set[str]]:
        """The views of ``versions``' workflows: copies of those versions, else read (and
        copied, partial); and which of them are the writer's full copies (:meth:`_settle`)."""
        found: dict[str, WorkflowView] = {}
        shared: set[str] = set()
        for workflow_id, version in versions.items():
            held = self.memory.views.get(workflow_id, version=version)
            if held is not None:
                found[workflow_id] = held.value
                if held.full:
                    shared.add(workflow_id)
        missing = [w for w in versions if w not in found]
        if missing:
            for version, view in await self.queries.light_views(conn, missing):
                self.memory.views.put(view.workflow_id, version, view, full=False)
                found[view.workflow_id] = view
        return {w: found[w] for w in versions if w in found}, shared

    def _shared(self, workflow_id: str, view: WorkflowView) -> bool:
        """Whether ``view`` is still the full copy this replica holds of the workflow."""
        held = self.memory.views.get(workflow_id, full=True)
        return held is not None and held.value is view

    async def _settle(self, conn: Any, views: dict[str, WorkflowView], shared: set[str]) -> None:
        """Read again the views among ``shared`` that the writer took since they were got.

        The writer changes the copy it takes in place and puts it back once committed, so
        one taken while this answer awaited may already show changes not committed yet
        (or never: its transaction can fail). A view read from the database is this
        answer's own. Render right after, without awaiting in between.
        """
        while True:
            taken = [w for w in shared if not self._shared(w, views[w])]
            if not taken:
                return
            shared.difference_update(taken)
            for workflow_id in taken:
                del views[workflow_id]  # unless it is still there (pruned meanwhile)
            for _, view in await self.queries.light_views(conn, taken):
                views[view.workflow_id] = view

    async def _history(self, conn: Any, views: Iterable[WorkflowView]) -> History:
        """The history of the types of ``views`` still open (an ended one's answers do not
        depend on it)."""
        kinds = sorted({v.workflow_type for v in views if v.status not in TERMINAL})
        if not kinds:
            return History()
        histories = self.memory.histories
        rows = await self.queries.histories(
            conn, {kind: histories.version(kind, full=True) for kind in kinds}
        )
        parts: list[History] = []
        for kind, row in rows.items():
            held = histories.get(kind, version=row.version) if row.value is None else None
            if held is not None:
                parts.append(held.value)
                continue
            if row.value is None:  # taken by the writer meanwhile: read it once more
                row = (await self.queries.histories(conn, {kind: None}))[kind]
            value = History.model_validate(row.value)
            histories.put(kind, row.version or 0, value)
            parts.append(value)
        return merge(parts)

    async def _system(self, conn: Any) -> SystemView:
        async def read(known: int | None) -> Singleton:
            return await self.queries.singleton(conn, SYSTEM, known=known)

        _, system = await current(
            self.memory.system, SYSTEM, read=read, parse=SystemView.model_validate
        )
        return system or SystemView()
