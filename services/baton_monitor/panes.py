"""The monitor's windows in PostgreSQL, per partition of the events topic (``monitor_panes``).

Each replica counts the partitions it owns in the monitor's consumer group. A batch — the
events of one fetch, of one or more partitions — is one transaction
(:meth:`PaneStore.claim_many`): it locks the partitions' rows in ``monitor_partitions``,
skips each partition's records at or before the offset counted last, adds the rest to the
partition's pane of now, and writes the panes, the partitions' offsets and the workflows'
figures together, a statement for each kind of row. A record is thereby counted once,
whichever replica handles it and however often (a redelivery after a kill -9, a partition
moving while a batch is in hand), and nothing a replica counted is lost with it. A report
reads every partition's panes and sums them (:func:`baton_monitor.metrics.combine`): each
replica answers for the whole system.

Two pseudo-partitions hold what belongs to none: :data:`LAG` the consumer-lag readings,
:data:`RETRIED` records handed over again from a retry topic (no offset to skip by).

A partition's panes go when it starts a new one and they are past keeping; an idle
partition keeps its last few (reports skip them), so the table holds at most
``partitions * (keep / pane + 1)`` rows per deployment.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from baton.db import Database
from baton_monitor.metrics import combine
from baton_monitor.state import Metrics, MetricsConfig
from baton_monitor.windows import MetricWindow, to_millis, window_start

__all__ = ["LAG", "RETRIED", "Claim", "PaneStore"]

# Claims partitions: each row locked in partition order, with its pane holding now ($3).
_CLAIM = """
insert into monitor_partitions (owner, partition)
select $1, partition from unnest($2::int[]) as t(partition) order by partition
on conflict (owner, partition) do update set owner = excluded.owner
returning partition, applied, since, observed, holder,
    (select pane::text from monitor_panes p
     where p.owner = $1 and p.partition = monitor_partitions.partition and p.start_ms = $3)
    as pane
"""

# Writes panes, partitions' progress, and drops the panes past keeping ($11) of the
# partitions that started a new one ($10).
_SAVE = """
with panes as (
    insert into monitor_panes (owner, partition, start_ms, pane)
    select $1, p, s, x::jsonb from unnest($2::int[], $3::bigint[], $4::text[]) as t(p, s, x)
    on conflict (owner, partition, start_ms) do update set pane = excluded.pane
), gone as (
    delete from monitor_panes
    where owner = $1 and partition = any($10::int[]) and start_ms < $11
)
update monitor_partitions m
set applied = t.applied, since = t.since, observed = t.observed, holder = $9,
    updated_at = now()
from unnest($5::int[], $6::bigint[], $7::timestamptz[], $8::bigint[])
    as t(partition, applied, since, observed)
where m.owner = $1 and m.partition = t.partition
"""

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
    async def claim_many(
        self, partitions: Collection[int], *, now: datetime
    ) -> AsyncIterator[list[Claim]]:
        """Lock ``partitions`` for one transaction (rows in partition order: two replicas
        claiming some of the same never wait on each other in a circle), each with its
        progress and its pane holding ``now``; committed when the block exits cleanly.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer; nothing was written.
        """
        start = to_millis(window_start(now, size=self.config.pane))
        async with self.db.transaction() as conn:
            rows = await conn.fetch(_CLAIM, self.owner, sorted(set(partitions)), start)
            claims = []
            for row in sorted(rows, key=lambda r: int(r["partition"])):
                partition = row["partition"]
                applied = {partition: row["applied"]} if row["applied"] >= 0 else {}
                metrics = Metrics(
                    config=self.config,
                    since=row["since"],
                    observed=row["observed"],
                    applied=applied,
                )
                if row["pane"] is not None:
                    metrics.panes[start] = MetricWindow.model_validate_json(row["pane"])
                claims.append(
                    Claim(
                        conn=conn,
                        partition=partition,
                        metrics=metrics,
                        holder=row["holder"],
                        now=now,
                        new_pane=row["pane"] is None,
                    )
                )
            yield claims

    @contextlib.asynccontextmanager
    async def claim(self, partition: int, *, now: datetime) -> AsyncIterator[Claim]:
        """Lock one partition for a transaction (:meth:`claim_many`)."""
        async with self.claim_many([partition], now=now) as claims:
            yield claims[0]

    async def save_many(self, claims: Sequence[Claim]) -> None:
        """Write the claimed partitions' panes and progress in one statement (their
        transaction's); for a partition with a new pane, drop its panes past keeping."""
        if not claims:
            return
        conn, now = claims[0].conn, claims[0].now
        panes = [
            (c.partition, start, pane) for c in claims for start, pane in c.metrics.panes.items()
        ]
        await conn.execute(
            _SAVE,
            self.owner,
            [p for p, _, _ in panes],
            [s for _, s, _ in panes],
            [pane.model_dump_json() for _, _, pane in panes],
            [c.partition for c in claims],
            [c.metrics.applied.get(c.partition, -1) for c in claims],
            [c.metrics.since for c in claims],
            [c.metrics.observed for c in claims],
            self.holder,
            [c.partition for c in claims if c.new_pane],
            self._horizon(now),
        )

    async def save(self, claim: Claim) -> None:
        """Write one claimed partition's panes and progress (:meth:`save_many`)."""
        await self.save_many([claim])

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
