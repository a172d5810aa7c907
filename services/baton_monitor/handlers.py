"""The monitor's handlers: metrics and presence from events; loops that evaluate
thresholds, component health and saturation, read consumer lag and apply retention.

A replica counts the partitions of the events topic it owns in the consumer group. The
events of one fetch, every partition's, are one PostgreSQL transaction of a constant number
of statements: the partitions' panes of now, their workflows' figures and the components
they speak of are read, updated and written back before the batch is committed
(:mod:`baton_monitor.panes`). Nothing is held in memory
between batches, and every view — reports, component health, saturation — is read from
what every replica wrote, so any replica answers for the whole system. Thresholds, health
changes and saturation are evaluated by one replica at a time (:mod:`.evaluation`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.bus import Bus
from baton.db import Database
from baton.errors import BatonError
from baton.protocol.event import Event
from baton.runtime.outbox import Outbox
from baton_monitor.catchup import CatchUp
from baton_monitor.config import MonitorConfig
from baton_monitor.evaluation import EvaluationStore, judge, overlay
from baton_monitor.health import Registry, observe_presence, snapshot, usage_values
from baton_monitor.lag import ConsumerLagReader
from baton_monitor.metrics import GLOBAL, observe, record_lag, report, values
from baton_monitor.panes import LAG, RETRIED, Claim, PaneStore
from baton_monitor.registry import component_of
from baton_monitor.state import Metrics, MetricsConfig, Position, WorkflowStats
from baton_monitor.store import ComponentStore, WorkflowStore
from baton_monitor.views import Reading, current_readings, workflow_report

__all__ = ["MonitorModel"]

log = logging.getLogger("baton.monitor")

LAG_TURN = "consumer_lag"
"""Name of the turn of reading every group's consumer lag."""
RETENTION_TURN = "retention"
"""Name of the turn of deleting what is past its retention."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Record:
    event: Event
    position: Position | None


class MonitorModel:
    """Metrics, thresholds, component health and saturation of one deployment.

    Args:
        bus: The service's bus (settings, Kafka for the lag and catch-up points).
        db: The database every replica writes to.
        outbox: Where alerts and changes go, with the evaluation that decided them.
        config: The monitor's settings.
        group: The monitor's consumer group: owner of its rows.
        holder: This replica's name.
        catch_up: Positions of the records being handled, and the backlog's end.
    """

    def __init__(
        self,
        *,
        bus: Bus,
        db: Database,
        outbox: Outbox,
        config: MonitorConfig,
        group: str,
        holder: str,
        catch_up: CatchUp,
    ) -> None:
        self.bus = bus
        self.outbox = outbox
        self.config = config
        self.catch_up = catch_up
        self.metrics_config = MetricsConfig(
            tumbling=config.tumbling,
            hopping_size=config.hopping_size,
            hopping_hop=config.hopping_hop,
        )
        self.panes = PaneStore(db=db, owner=group, holder=holder, config=self.metrics_config)
        self.workflows = WorkflowStore(db=db, owner=group)
        self.components = ComponentStore(db=db, owner=group)
        self.evaluation = EvaluationStore(db=db, owner=group, holder=holder)
        # This replica's first turn publishes the saturation verdict whatever it is.
        self._announced = False
        self.alerts_sent = 0
        self.turns = 0
        self.known_components = 0
        self.saturated = False

    @property
    def interval(self) -> float:
        """Heartbeat interval components are judged by."""
        return self.bus.settings.heartbeat_interval

    async def on_events(self, events: Sequence[Event]) -> None:
        """Account for a batch of events of any partitions, in one transaction.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer (the batch is handled
                again once it does, without counting twice).
        """
        by_partition: dict[int, list[_Record]] = {}
        for event in events:
            position = self.catch_up.observed(event).position
            partition = RETRIED if position is None else position.partition
            by_partition.setdefault(partition, []).append(_Record(event, position))
        if by_partition:
            await self._count(by_partition)

    async def _count(self, by_partition: dict[int, list[_Record]]) -> None:
        now = _now()
        async with self.panes.claim_many(by_partition, now=now) as claims:
            counted: list[tuple[Claim, list[_Record]]] = []
            for claim in claims:
                records = by_partition[claim.partition]
                done = claim.metrics.applied.get(claim.partition, -1)
                fresh = [r for r in records if r.position is None or r.position.offset > done]
                if not fresh:
                    continue
                if claim.partition >= 0 and claim.holder not in (None, self.panes.holder):
                    # Taken over from another replica: what waited meanwhile is a backlog.
                    await self.catch_up.mark(self.bus.transport, partitions=[claim.partition])
                counted.append((claim, fresh))
            if not counted:
                return
            conn = claims[0].conn
            # One set of workflow figures for all the partitions: a workflow's events may
            # come from its partition and from a retry topic in one batch.
            workflows: dict[str, WorkflowStats] = {}
            wanted = {r.event.workflow_id for _, fresh in counted for r in fresh} - {GLOBAL}
            workflows.update(await self.workflows.load_in(conn, wanted))
            present = {
                c for _, fresh in counted for r in fresh if (c := component_of(r.event)) is not None
            }
            registry = await self.components.lock_in(conn, present)
            for claim, fresh in counted:
                metrics = claim.metrics
                metrics.workflows = workflows
                for record in fresh:
                    replayed = self.catch_up.replayed(record.position)
                    observe(
                        metrics, record.event, now=now, position=record.position, replayed=replayed
                    )
                    observe_presence(registry, record.event, now=now)
            await self.workflows.save_in(conn, workflows)
            await self.components.save_in(
                conn, {c: registry.components[c] for c in present if c in registry.components}
            )
            await self.panes.save_many([claim for claim, _ in counted])

    # -- views (every replica's answer covers every partition) -------------------------------

    async def system(self) -> Metrics:
        """The windows of every partition, summed."""
        return await self.panes.merged(now=_now())

    async def report(self) -> dict[str, Any]:
        """The system-wide report: every retained window, consumer lag, current values."""
        now = _now()
        return report(await self.panes.merged(now=now), now=now)

    async def workflow_report(self, workflow_id: str) -> dict[str, Any]:
        """One workflow's whole-life figures.

        Raises:
            KeyError: the workflow was never seen (or has been forgotten).
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        stats = (await self.workflows.load([workflow_id]))[workflow_id]
        return workflow_report(workflow_id, stats, now=_now())

    async def registry(self) -> Registry:
        """Every component known, with its health as last evaluated."""
        registry = await self.components.registry()
        self.known_components = len(registry.components)
        return overlay(registry, (await self.evaluation.read()).health)

    async def health(self) -> dict[str, Any]:
        """Every component's health (:func:`~baton_monitor.health.snapshot`)."""
        return snapshot(await self.registry(), now=_now(), interval=self.interval)

    async def saturation(self) -> dict[str, Any]:
        """Whether the system is saturated, as last evaluated."""
        saturation = (await self.evaluation.read()).saturation
        self.saturated = saturation.saturated
        return saturation.model_dump(mode="json")

    async def readings(self) -> list[Reading]:
        """Current value of every metric, of every partition (what thresholds watch,
        components' usage aside)."""
        now = _now()
        return current_readings(await self.panes.merged(now=now), now=now)

    async def current_values(self) -> dict[str, float]:
        """Every value thresholds watch: metrics of every partition, components' usage."""
        now = _now()
        metrics = await self.panes.merged(now=now)
        registry = await self.components.registry()
        return {
            **values(metrics, now=now),
            **usage_values(registry, now=now, interval=self.interval),
        }

    # -- loops -------------------------------------------------------------------------------

    async def evaluate_loop(self) -> None:
        """Thresholds → alerts, health changes and saturation changes, as events."""
        while True:
            await asyncio.sleep(self.config.evaluate_interval)
            await self.evaluate_once()

    async def evaluate_once(self) -> bool:
        """Take the evaluation turn if it is free and due (:mod:`.evaluation`); whether it
        was taken.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer (nothing was published).
        """
        async with self.evaluation.turn(gap=self.config.evaluate_interval / 2) as turn:
            if turn is None:
                return False
            now = _now()
            metrics = await self.panes.merged(now=now)
            registry = await self.components.registry()
            current = {
                **values(metrics, now=now),
                **usage_values(registry, now=now, interval=self.interval),
            }
            judged = judge(
                turn.state,
                rules=self.config.thresholds,
                values=current,
                registry=registry,
                interval=self.interval,
                limits=self.config.limits(),
                now=now,
                announce=not self._announced,
            )
            await self.outbox.add_many(turn.conn, [(event, None) for event in judged.events])
        self._announced = True
        self.turns += 1
        self.alerts_sent += len(judged.alerts)
        self.known_components = len(registry.components)
        self.saturated = turn.state.saturation.saturated
        if judged.events:
            self.outbox.notify()
        return True

    async def lag_loop(self) -> None:
        """Read every consumer group's lag now and then (one replica at a time)."""
        every = self.config.lag_interval
        settings = self.bus.settings
        async with ConsumerLagReader(
            bootstrap=settings.bootstrap,
            prefix=settings.topic_prefix,
            security=settings.kafka_security,
        ) as reader:
            while True:
                try:
                    if await self.evaluation.claim(LAG_TURN, every=every * 0.9):
                        await self.record_lag(await reader.read())
                except Exception as exc:  # the broker may be restarting; try again later
                    log.warning("could not read consumer lag: %r", exc)
                await asyncio.sleep(every)

    async def record_lag(self, lags: Mapping[str, float]) -> None:
        """Record every consumer group's lag for every replica to see."""
        now = _now()
        async with self.panes.claim(LAG, now=now) as claim:
            for group, lag in lags.items():
                record_lag(claim.metrics, group=group, lag=lag, now=now)
            await self.panes.save(claim)

    async def retention_loop(self) -> None:
        """Delete the saved figures of workflows and components not heard of for their
        retention period (one replica at a time)."""
        retention, quiet = self.config.workflow_retention, self.config.component_retention
        every = min(retention / 10, quiet / 10, 3600.0)
        while True:
            try:
                if await self.evaluation.claim(RETENTION_TURN, every=every * 0.9):
                    now = _now()
                    gone = await self.workflows.forget_before(now - timedelta(seconds=retention))
                    if gone:
                        log.info(
                            "forgot the figures of %d workflows quiet for %gs", gone, retention
                        )
                    await self.components.forget_before(now - timedelta(seconds=quiet))
            except BatonError as exc:  # PostgreSQL may be restarting; try again later
                log.warning("could not apply the retention: %s", exc)
            await asyncio.sleep(every)
