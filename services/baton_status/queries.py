"""The read model's queries: pages, counts, the workflows in flight, views by version.

Each answers from the summary columns and their indexes (:mod:`baton_status.store`), so
its cost follows the rows it returns, not the workflows stored; views (large) are read
only for a detail or for workflows still open, and then only when the caller's copy is
not the row's version.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final, NamedTuple

from baton_status.listing import SORT_KEYS, ListQuery, encode_cursor
from baton_status.render import PRIORITY_ORDER
from baton_status.views import OPEN_STATUSES, TERMINAL, WorkflowView

__all__ = ["UNKNOWN_RANK", "Line", "Page", "Singleton", "StatusQueries"]

UNKNOWN_RANK: Final = 9
"""``priority_rank`` of a priority that is none of the four known."""

_OPEN = sorted(OPEN_STATUSES)
_LIGHT = "view - 'timeline' - 'seen'"
"""A view without what only a detail shows (its timeline) or only the projection needs
(the event ids it applied): what lists, the overview and estimates need, at a fraction
of the size."""


class Singleton(NamedTuple):
    """A versioned row as read: the system view, a type's history, a view.

    Attributes:
        version: Its version; None when there is no row.
        value: Its value (JSON); None when absent or still at the version the caller knows.
    """

    version: int | None
    value: Any


class Line(NamedTuple):
    """A row of a list: the stored list line (None for a row not summarised yet)."""

    workflow_id: str
    version: int
    status: str
    summary: dict[str, Any] | None


class Page(NamedTuple):
    """One page: its lines, how many workflows match the filters, the next page's cursor."""

    lines: list[Line]
    total: int
    next_cursor: str | None


def _filters(query: ListQuery, args: list[Any]) -> list[str]:
    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where: list[str] = []
    if query.status is not None:
        where.append(f"status = {arg(query.status.upper())}")
    if query.priority is not None:
        # The rank first: it leads an index (the text then tells unknown priorities apart).
        rank = PRIORITY_ORDER.get(query.priority, UNKNOWN_RANK)
        where.append(f"priority_rank = {arg(rank)} and priority = {arg(query.priority)}")
    if query.workflow_type is not None:
        where.append(f"workflow_type = {arg(query.workflow_type)}")
    if query.workflow_ids is not None:
        where.append(f"workflow_id = any({arg(list(query.workflow_ids))}::text[])")
    return where


def _clause(where: list[str]) -> str:
    return f" where {' and '.join(where)}" if where else ""


_ENDED = "select coalesce(sum(n), 0)::bigint from status_ended"


def _count(query: ListQuery, where: list[str], args: list[Any]) -> tuple[str, list[Any]]:
    """How to count the workflows ``query``'s filters match: from the ended counts and the
    open workflows when it filters by status at most, else over the filters' index."""
    if query.priority is None and query.workflow_type is None and query.workflow_ids is None:
        if query.status is None:
            open_ones = "select count(*) from status_workflows where status = any($1::text[])"
            return f"select ({_ENDED}) + ({open_ones})", [_OPEN]
        if query.status.upper() in TERMINAL:
            return f"{_ENDED} where status = $1", [query.status.upper()]
    return "select count(*) from status_workflows" + _clause(where), args


class StatusQueries:
    """Read-only queries over the status service's tables (see the module doc)."""

    async def page(self, conn: Any, query: ListQuery) -> Page:
        """The page ``query`` asks for, in its sort order."""
        columns = SORT_KEYS[query.sort]
        direction = query.direction
        args: list[Any] = []
        where = _filters(query, args)
        count_sql, count_args = _count(query, where, list(args))
        after = query.after()
        if after is not None:
            marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(after)))
            args.extend(after)
            where.append(f"({', '.join(columns)}) {'<' if direction == 'desc' else '>'} ({marks})")
        order = ", ".join(f"{c} {direction}" for c in columns)
        keys = ", ".join(c for c in columns if c != "workflow_id")
        rows = await conn.fetch(
            f"select workflow_id, version, status, summary, {keys} from status_workflows"
            f"{_clause(where)} order by {order} limit {query.limit + 1}",
            *args,
        )
        total: int = await conn.fetchval(count_sql, *count_args)
        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            last = rows[-1]
            next_cursor = encode_cursor(
                tuple(last[c] for c in columns), sort=query.sort, order=direction
            )
        return Page([_line(r) for r in rows], total, next_cursor)

    async def lines(self, conn: Any, workflow_ids: Collection[str]) -> list[Line]:
        """The list lines of ``workflow_ids`` (those that exist)."""
        rows = await conn.fetch(
            "select workflow_id, version, status, summary from status_workflows "
            "where workflow_id = any($1::text[])",
            list(workflow_ids),
        )
        return [_line(r) for r in rows]

    async def ended(self, conn: Any) -> dict[str, int]:
        """Ended workflows per status (kept by triggers: no row is scanned)."""
        rows = await conn.fetch(
            "select status, sum(n)::bigint as n from status_ended group by status having sum(n) > 0"
        )
        return {r["status"]: r["n"] for r in rows}

    async def open_rows(self, conn: Any) -> dict[str, tuple[int, str]]:
        """Workflow id → (version, status) of every workflow that has not ended (the work
        in flight)."""
        rows = await conn.fetch(
            "select workflow_id, version, status from status_workflows "
            "where status = any($1::text[])",
            _OPEN,
        )
        return {r["workflow_id"]: (r["version"], r["status"]) for r in rows}

    async def light_views(
        self, conn: Any, workflow_ids: Collection[str]
    ) -> list[tuple[int, WorkflowView]]:
        """The views of ``workflow_ids`` without timeline and applied event ids, with their
        versions (see ``_LIGHT``)."""
        rows = await conn.fetch(
            f"select version, {_LIGHT} as view from status_workflows "
            "where workflow_id = any($1::text[])",
            list(workflow_ids),
        )
        return [(r["version"], WorkflowView.model_validate(r["view"])) for r in rows]

    async def view(self, conn: Any, workflow_id: str, *, known: int | None) -> Singleton:
        """The whole view of ``workflow_id`` as JSON: (None, None) when there is none; the
        value only when its version is not ``known``."""
        row = await conn.fetchrow(
            "select version, case when version = $2 then null else view end as value "
            "from status_workflows where workflow_id = $1",
            workflow_id,
            -1 if known is None else known,
        )
        return Singleton(None, None) if row is None else Singleton(row["version"], row["value"])

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

    async def histories(self, conn: Any, known: Mapping[str, int | None]) -> dict[str, Singleton]:
        """Workflow type → its history row, for the types in ``known`` that have one; a
        value only where its version is not the one ``known`` names."""
        types = list(known)
        rows = await conn.fetch(
            "select h.workflow_type, h.version, "
            "case when h.version = k.version then null else h.value end as value "
            "from status_history h join unnest($1::text[], $2::bigint[]) as k(workflow_type, "
            "version) using (workflow_type)",
            types,
            [known[t] if known[t] is not None else -1 for t in types],
        )
        return {r["workflow_type"]: Singleton(r["version"], r["value"]) for r in rows}


def _line(row: Any) -> Line:
    return Line(row["workflow_id"], row["version"], row["status"], row["summary"])
