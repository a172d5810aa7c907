"""The monitor's windows in PostgreSQL, per partition of the events topic (``monitor_panes``).

Each replica counts the partitions it owns in the monitor's consumer group. A batch of one
partition is one transaction (:meth:`PaneStore.claim`): it locks the partition's row in
``monitor_partitions``, skips records at or before the offset counted last, adds the rest
to the pane of now, and writes the pane, the partition's offset and the workflows' figures
together. A record is thereby counted once, whichever replica handles it and however often
(a redelivery after a kill -9, a partition moving while a batch is in hand), and nothing a
replica counted is lost with it. A report reads every partition's panes and sums them
(:func:`baton_monitor.metrics.combine`): each replica answers for the whole system.

Two pseudo-partitions hold what belongs to none: :data:`LAG` the consumer-lag readings,
:data:`RETRIED` records handed over again from a retry topic (no offset to skip by).

A partition's panes go when it starts a new one and they are past keeping; an idle
partition keeps its last few (reports skip them), so the table holds at most
``partitions * (keep / pane + 1)`` rows per deployment.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from baton.db import Database
from baton_monitor.metrics import combine
from baton_monitor.state import Metrics, MetricsConfig
from baton_monitor.windows import MetricWindow, to_millis, window_start

__all__ = ["LAG", "RETRIED", "Claim", "PaneStore"]

LAG: Final = -1
"""Pseudo-partition of consumer-lag readings (gauges of its panes)."""
RETRIED: Final = -2
"""Pseudo-partition of records from retry topics."""


@dataclass(slots=True)
class Claim:
    """One partition locked for one transaction.

    Attributes:
        conn: The transaction's connection.
        partition: The partition.
        metrics: Its counted offset, start and events so far, and its pane of ``now``.
        holder: The replica that counted it last (None: nobody yet).
        now: The moment the batch is counted at.
        new_pane: Whether the pane of ``now`` is new (older ones may then go).
    """

    conn: Any
    partition: int
    metrics: Metrics
    holder: str | None
    now: datetime
    new_pane: bool


class PaneStore:
    """``monitor_partitions`` and ``monitor_panes`` rows of one consumer group.

    Args:
        db: The database.
        owner: The monitor's consumer group (``<prefix>.monitor``).
        holder: This replica's name, written with what it counts.
        config: Window shapes (pane size and how long panes are kept).
    """

    def __init__(self, *, db: Database, owner: str, holder: str, config: MetricsConfig) -> None:
        self.db = db
        self.owner = owner
        self.holder = holder
        self.config = config

    @contextlib.asynccontextmanager
    async def claim(self, partition: int, *, now: datetime) -> AsyncIterator[Claim]:
        """Lock ``partition`` for a transaction, with its progress and its pane holding
        ``now``; committed when the block exits cleanly.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer; nothing was written.
        """
        start = to_millis(window_start(now, size=self.config.pane))
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                "insert into monitor_partitions (owner, partition) values ($1, $2) "
                "on conflict (owner, partition) do update set owner = excluded.owner "
                "returning applied, since, observed, holder, "
                "(select pane::text from monitor_panes "
                "where owner = $1 and partition = $2 and start_ms = $3) as pane",
                self.owner,
                partition,
                start,
            )
            applied = {partition: row["applied"]} if row["applied"] >= 0 else {}
            metrics = Metrics(
                config=self.config, since=row["since"], observed=row["observed"], applied=applied
            )
            if row["pane"] is not None:
                metrics.panes[start] = MetricWindow.model_validate_json(row["pane"])
            yield Claim(
                conn=conn,
                partition=partition,
                metrics=metrics,
                holder=row["holder"],
                now=now,
                new_pane=row["pane"] is None,
            )

    async def save(self, claim: Claim) -> None:
        """Write the claimed partition's panes and progress; with a new pane, drop the
        partition's panes past keeping."""
        conn, metrics = claim.conn, claim.metrics
        await conn.execute(
            "with panes as ("
            "insert into monitor_panes (owner, partition, start_ms, pane) "
            "select $1, $2, s, p::jsonb from unnest($3::bigint[], $4::text[]) as t(s, p) "
            "on conflict (owner, partition, start_ms) do update set pane = excluded.pane) "
            "update monitor_partitions set applied = $5, since = $6, observed = $7, "
            "holder = $8, updated_at = now() where owner = $1 and partition = $2",
            self.owner,
            claim.partition,
            list(metrics.panes),
            [pane.model_dump_json() for pane in metrics.panes.values()],
            metrics.applied.get(claim.partition, -1),
            metrics.since,
            metrics.observed,
            self.holder,
        )
        if claim.new_pane:
            await conn.execute(
                "delete from monitor_panes where owner = $1 and partition = $2 and start_ms < $3",
                self.owner,
                claim.partition,
                self._horizon(claim.now),
            )

    async def merged(self, *, now: datetime) -> Metrics:
        """Every partition's panes still kept at ``now``, summed (no workflow figures).

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        async with self.db.connection() as conn:
            heads = await conn.fetch(
                "select partition, applied, since, observed from monitor_partitions "
                "where owner = $1",
                self.owner,
            )
            rows = await conn.fetch(
                "select partition, start_ms, pane::text as pane from monitor_panes "
                "where owner = $1 and start_ms >= $2",
                self.owner,
                self._horizon(now),
            )
        parts = {
            h["partition"]: Metrics(
                config=self.config,
                since=h["since"],
                observed=h["observed"],
                applied={h["partition"]: h["applied"]} if h["applied"] >= 0 else {},
            )
            for h in heads
        }
        for row in rows:
            part = parts.setdefault(row["partition"], Metrics(config=self.config))
            part.panes[row["start_ms"]] = MetricWindow.model_validate_json(row["pane"])
        return combine(parts.values(), config=self.config)

    def _horizon(self, now: datetime) -> int:
        """Start (epoch ms) of the oldest pane still kept at ``now``: one that ended
        ``keep`` seconds ago or less."""
        oldest_end = now - timedelta(seconds=self.config.keep)
        return to_millis(oldest_end) - round(self.config.pane * 1000) + 1
