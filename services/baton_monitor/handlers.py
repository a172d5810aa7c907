"""The monitor's handlers: metrics and presence from events; loops that evaluate
thresholds, component health and saturation, and publish what changed.

Its state is in memory: windows refill within minutes after a restart (the faust tables of
:mod:`baton_monitor.streams` keep counts across restarts through their changelogs).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from baton.bus import Bus
from baton.protocol.event import Event
from baton_monitor.config import MonitorConfig
from baton_monitor.health import Registry, assess, observe_presence, snapshot, usage_values
from baton_monitor.lag import consumer_lags
from baton_monitor.metrics import observe, record_lag, report, values
from baton_monitor.saturation import Saturation, event_data, track
from baton_monitor.state import Metrics, MetricsConfig
from baton_monitor.thresholds import ThresholdState, evaluate

__all__ = ["MonitorModel"]

log = logging.getLogger("baton.monitor")


def _now() -> datetime:
    return datetime.now(UTC)


class MonitorModel:
    """Metrics, thresholds, component health and saturation of one deployment."""

    def __init__(self, *, bus: Bus, config: MonitorConfig) -> None:
        self.bus = bus
        self.config = config
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

    async def on_event(self, event: Event) -> None:
        now = _now()
        observe(self.metrics, event, now=now)
        observe_presence(self.registry, event, now=now)

    # -- views -----------------------------------------------------------------------------

    def report(self, *, workflow_id: str | None = None) -> dict[str, Any]:
        return report(self.metrics, now=_now(), workflow_id=workflow_id)

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
