"""The monitor's handlers: metrics and presence from events; loops that evaluate
thresholds, component health and saturation, and publish what changed.

Windows are in memory and refill within minutes after a restart (the faust tables of
:mod:`baton_monitor.streams` keep counts across restarts through their changelogs); each
workflow's whole-life figures are saved in PostgreSQL (:mod:`baton_monitor.store`) after
every batch that changed them, before the batch is committed, so a restart neither loses
nor recounts them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.bus import Bus
from baton.errors import BatonError
from baton.protocol.event import Event
from baton_monitor.catchup import Observed
from baton_monitor.config import MonitorConfig
from baton_monitor.health import Registry, assess, observe_presence, snapshot, usage_values
from baton_monitor.lag import consumer_lags
from baton_monitor.metrics import GLOBAL, adopt, observe, record_lag, report, values
from baton_monitor.saturation import Saturation, event_data, track
from baton_monitor.state import Metrics, MetricsConfig, WorkflowStats
from baton_monitor.store import WorkflowStore
from baton_monitor.thresholds import ThresholdState, evaluate
from baton_monitor.views import workflow_report

__all__ = ["MonitorModel"]

log = logging.getLogger("baton.monitor")


def _now() -> datetime:
    return datetime.now(UTC)


class MonitorModel:
    """Metrics, thresholds, component health and saturation of one deployment."""

    def __init__(self, *, bus: Bus, config: MonitorConfig, store: WorkflowStore) -> None:
        self.bus = bus
        self.config = config
        self.store = store
        self.metrics = Metrics(
            config=MetricsConfig(
                tumbling=config.tumbling,
                hopping_size=config.hopping_size,
                hopping_hop=config.hopping_hop,
            )
        )
        self.registry = Registry()
        self.thresholds = ThresholdState()
        self.saturation = Saturation()
        # The first verdict is always published: a restarted monitor must be able to clear
        # a saturation the resource manager still holds from before.
        self._announced = False
        self.alerts_sent = 0
        # Figures changed and not yet saved (kept across a failed save: the retried batch
        # is not counted again, but these must still be written).
        self._unsaved: dict[str, WorkflowStats] = {}
        # Batches of different partitions come concurrently; one at a time here, so that a
        # save never clears figures another batch changed after they were written.
        self._lock = asyncio.Lock()

    async def on_events(self, batch: Sequence[Observed]) -> None:
        """Account for a batch of events, then save the workflow figures it changed.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer (the batch is handled
                again once it does, without counting twice).
        """
        async with self._lock:
            wanted = {o.event.workflow_id for o in batch} - self.metrics.workflows.keys()
            wanted.discard(GLOBAL)
            for workflow_id, stats in (await self.store.load(wanted)).items():
                adopt(self.metrics, workflow_id=workflow_id, stats=stats)
            now = _now()
            for event, position, replayed in batch:
                observe(self.metrics, event, now=now, position=position, replayed=replayed)
                observe_presence(self.registry, event, now=now)
                stats = self.metrics.workflows.get(event.workflow_id)
                if stats is not None:
                    self._unsaved[event.workflow_id] = stats
            await self.store.save(self._unsaved)
            self._unsaved.clear()

    # -- views -----------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The system-wide report: every retained window, consumer lag, current values."""
        return report(self.metrics, now=_now())

    async def workflow_report(self, workflow_id: str) -> dict[str, Any]:
        """One workflow's whole-life figures (saved ones when it is not in memory).

        Raises:
            KeyError: the workflow was never seen (or has been forgotten).
            DependencyUnavailableError: it is not in memory and PostgreSQL does not answer.
        """
        stats = self.metrics.workflows.get(workflow_id)
        if stats is None:
            stats = (await self.store.load([workflow_id]))[workflow_id]
        return workflow_report(workflow_id, stats, now=_now())

    def health(self) -> dict[str, Any]:
        interval = self.bus.settings.heartbeat_interval
        return snapshot(self.registry, now=_now(), interval=interval)

    def current_values(self) -> dict[str, float]:
        now = _now()
        return {
            **values(self.metrics, now=now),
            **usage_values(self.registry, now=now, interval=self.bus.settings.heartbeat_interval),
        }

    # -- loops -----------------------------------------------------------------------------

    async def evaluate_loop(self) -> None:
        """Thresholds → alerts, health changes and saturation changes, as events."""
        while True:
            await asyncio.sleep(self.config.evaluate_interval)
            await self.evaluate_once()

    async def evaluate_once(self) -> None:
        now = _now()
        current = self.current_values()
        self.thresholds, alerts = evaluate(
            self.thresholds, list(self.config.thresholds), current, now=now
        )
        for alert in alerts:
            await self.bus.publish(
                Event(
                    event_type=alert.event_type,
                    workflow_id=alert.workflow_id,
                    phase=alert.phase,
                    data=alert.data,
                )
            )
            self.alerts_sent += 1
        self.registry, changes = assess(
            self.registry, now=now, interval=self.bus.settings.heartbeat_interval
        )
        for change in changes:
            await self.bus.publish(
                Event(
                    event_type="COMPONENT_HEALTH_CHANGED",
                    workflow_id="global",
                    phase=change.component_id,
                    data={
                        "component_id": change.component_id,
                        "previous": change.previous,
                        "current": change.current,
                        "reason": change.reason,
                    },
                )
            )
        self.saturation, changed = track(
            self.saturation, current, limits=self.config.limits(), now=now
        )
        if changed or not self._announced:
            self._announced = True
            await self.bus.publish(
                Event(
                    event_type="SYSTEM_SATURATION",
                    workflow_id="global",
                    phase="monitor",
                    data=event_data(self.saturation),
                )
            )

    async def lag_loop(self) -> None:
        """Read every consumer group's lag now and then."""
        while True:
            try:
                settings = self.bus.settings
                lags = await consumer_lags(
                    bootstrap=settings.bootstrap,
                    prefix=settings.topic_prefix,
                    security=settings.kafka_security,
                )
                now = _now()
                for group, lag in lags.items():
                    record_lag(self.metrics, group=group, lag=lag, now=now)
            except Exception as exc:  # the broker may be restarting; try again later
                log.warning("could not read consumer lag: %r", exc)
            await asyncio.sleep(self.config.lag_interval)

    async def retention_loop(self) -> None:
        """Delete the saved figures of workflows not heard of for the retention period."""
        retention = self.config.workflow_retention
        while True:
            try:
                gone = await self.store.forget_before(_now() - timedelta(seconds=retention))
                if gone:
                    log.info("forgot the figures of %d workflows quiet for %gs", gone, retention)
            except BatonError as exc:  # PostgreSQL may be restarting; try again later
                log.warning("could not apply the workflow retention: %s", exc)
            await asyncio.sleep(min(retention / 10, 3600.0))
