"""The monitor's workflow figures and components in PostgreSQL.

A workflow's whole-life figures (:class:`~baton_monitor.state.WorkflowStats`,
``monitor_workflows``) are read and saved with each batch of its events, in the
transaction of its partition (:mod:`baton_monitor.panes`), before the batch's offsets are
committed, and read back when a report needs them: a restarted monitor, or another replica,
has them without reading the events again, and start-up does not grow with history.

Every component heard of (:class:`~baton_monitor.registry.ComponentRecord`,
``monitor_components``) is likewise written with the batch that carried its presence
events, so that every replica knows every component, whichever partition its events use.

The faust windows' figures of each partition (``monitor_stream_figures``) are published by
the replica whose faust app owns it (:mod:`baton_monitor.streamviews`).

Rows are per consumer group (deployments may share a database) and go after a retention
period (the figures: one row per partition, overwritten).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import orjson

from baton.db import Database
from baton_monitor.registry import ComponentRecord, Registry
from baton_monitor.state import WorkflowStats
from baton_monitor.streamviews import Figures

__all__ = ["ComponentStore", "FigureStore", "WorkflowStore"]


def _deleted(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def _forget_before(db: Database, table: str, *, owner: str, moment: datetime) -> int:
    """Delete ``owner``'s rows of ``table`` not updated since ``moment``; how many went."""
    async with db.connection() as conn:
        status: str = await conn.execute(
            f"delete from {table} where owner = $1 and updated_at < $2", owner, moment
        )
    return _deleted(status)


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
            return await self.load_in(conn, workflow_ids)

    async def load_in(self, conn: Any, workflow_ids: Collection[str]) -> dict[str, WorkflowStats]:
        """:meth:`load` inside the caller's transaction ``conn``."""
        if not workflow_ids:
            return {}
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
            await self.save_in(conn, figures)

    async def save_in(self, conn: Any, figures: Mapping[str, WorkflowStats]) -> None:
        """:meth:`save` inside the caller's transaction ``conn``."""
        if not figures:
            return
        ordered = sorted(figures)  # rows locked in one order by every writer: no deadlock
        await conn.execute(
            "insert into monitor_workflows (owner, workflow_id, stats) "
            "select $1, w, s::jsonb from unnest($2::text[], $3::text[]) as t(w, s) "
            "on conflict (owner, workflow_id) do update "
            "set stats = excluded.stats, updated_at = now()",
            self.owner,
            ordered,
            [figures[w].model_dump_json() for w in ordered],
        )

    async def forget_before(self, moment: datetime) -> int:
        """Delete the figures not updated since ``moment``; returns how many went.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        return await _forget_before(self.db, "monitor_workflows", owner=self.owner, moment=moment)


class ComponentStore:
    """``monitor_components`` rows of one consumer group.

    Args:
        db: The database.
        owner: The monitor's consumer group (``<prefix>.monitor``).
    """

    def __init__(self, *, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner

    async def lock_in(self, conn: Any, component_ids: Collection[str]) -> Registry:
        """The records of those of ``component_ids`` known, locked until ``conn`` commits
        (events of one component may come from more than one partition)."""
        registry = Registry()
        if component_ids:
            rows = await conn.fetch(
                "select component_id, record::text as record from monitor_components "
                "where owner = $1 and component_id = any($2::text[]) "
                "order by component_id for update",
                self.owner,
                sorted(component_ids),
            )
            for row in rows:
                record = ComponentRecord.model_validate_json(row["record"])
                registry.components[row["component_id"]] = record
        return registry

    async def save_in(self, conn: Any, records: Mapping[str, ComponentRecord]) -> None:
        """Write ``records`` inside the caller's transaction ``conn``."""
        if not records:
            return
        await conn.execute(
            "insert into monitor_components (owner, component_id, record) "
            "select $1, c, r::jsonb from unnest($2::text[], $3::text[]) as t(c, r) "
            "on conflict (owner, component_id) do update "
            "set record = excluded.record, updated_at = now()",
            self.owner,
            list(records),
            [record.model_dump_json() for record in records.values()],
        )

    async def registry(self) -> Registry:
        """Every component known.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "select component_id, record::text as record from monitor_components "
                "where owner = $1",
                self.owner,
            )
        return Registry(
            components={
                r["component_id"]: ComponentRecord.model_validate_json(r["record"])
                for r in sorted(rows, key=lambda r: str(r["component_id"]))
            }
        )

    async def forget_before(self, moment: datetime) -> int:
        """Delete the components not heard of since ``moment``; returns how many went.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        return await _forget_before(self.db, "monitor_components", owner=self.owner, moment=moment)


class FigureStore:
    """``monitor_stream_figures`` rows of one consumer group: each partition's faust figures.

    Args:
        db: The database.
        owner: The monitor's consumer group (``<prefix>.monitor``).
        holder: This replica's name.
    """

    def __init__(self, *, db: Database, owner: str, holder: str) -> None:
        self.db = db
        self.owner = owner
        self.holder = holder
        self._sent: dict[int, bytes] = {}

    async def publish(self, figures: Mapping[int, Figures]) -> int:
        """Write the figures of the partitions whose figures changed since this replica
        last wrote them; returns how many were written.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        encoded = {partition: orjson.dumps(f) for partition, f in figures.items()}
        changed = {p: text for p, text in encoded.items() if self._sent.get(p) != text}
        if changed:
            async with self.db.connection() as conn:
                await conn.execute(
                    "insert into monitor_stream_figures (owner, partition, figures, holder) "
                    "select $1, p, f::jsonb, $4 from unnest($2::int[], $3::text[]) as t(p, f) "
                    "on conflict (owner, partition) do update "
                    "set figures = excluded.figures, holder = excluded.holder, "
                    "updated_at = now()",
                    self.owner,
                    list(changed),
                    [text.decode() for text in changed.values()],
                    self.holder,
                )
        # A partition owned again later is written again: another replica wrote it meanwhile.
        self._sent = encoded
        return len(changed)

    async def load(self) -> dict[int, Figures]:
        """Every partition's figures, as last published.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "select partition, figures::text as figures from monitor_stream_figures "
                "where owner = $1",
                self.owner,
            )
        return {r["partition"]: orjson.loads(r["figures"]) for r in rows}
