"""A service's presence on the bus: registration at start, heartbeats, shutdown (the protocol).

Events (on the events topic, workflow ``global``, phase = the component):
``SYSTEM_STARTUP`` and ``COMPONENT_REGISTERED`` (data: ``component_registration``) at start,
``COMPONENT_HEARTBEAT`` (data: ``health_status``) every heartbeat interval,
``SYSTEM_SHUTDOWN`` when it stops.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from baton.protocol.duration import format_duration
from baton.protocol.event import Event
from baton.protocol.messages import ComponentRegistration, HealthStatus

if TYPE_CHECKING:
    from baton.runtime.health import HealthReporter
    from baton.runtime.service import Service

__all__ = ["Presence"]


class Presence:
    """Publishes a service's registration, heartbeats and shutdown."""

    def __init__(self, *, service: Service, health: HealthReporter) -> None:
        self._service = service
        self._health = health
        self._component = service.ctx.settings.component
        self._started = time.monotonic()

    def _event(self, event_type: str, data: dict[str, Any]) -> Event:
        return Event(event_type=event_type, workflow_id="global", phase=self._component, data=data)

    async def register(self) -> None:
        svc = type(self._service)
        registration = ComponentRegistration(
            component_id=self._component,
            component_type="service",
            version=svc.version,
            capabilities=list(svc.capabilities),
            dependencies=list(svc.dependencies),
            event_subscriptions=list(svc.subscriptions),
            event_publications=list(svc.publications),
            health_check_endpoint="/health",
        )
        bus = self._service.bus
        await bus.publish(
            self._event(
                "SYSTEM_STARTUP",
                {
                    "component_name": self._component,
                    "version": svc.version,
                    "capabilities": list(svc.capabilities),
                },
            )
        )
        await bus.publish(
            self._event(
                "COMPONENT_REGISTERED",
                {
                    "component_registration": registration.model_dump(mode="json"),
                },
            )
        )

    async def heartbeat(self) -> dict[str, Any]:
        """Publish one heartbeat; returns the health status it carried."""
        report = await self._health.report()
        status = HealthStatus(
            component_id=self._component,
            timestamp=datetime.now(UTC),
            status=report["status"],
            uptime=format_duration(time.monotonic() - self._started),
            last_activity=datetime.now(UTC),
            dependencies=report["dependencies"],
            queue_size=int(report.get("details", {}).get("queue_size", 0)),
        ).model_dump(mode="json")
        await self._service.bus.publish(
            self._event("COMPONENT_HEARTBEAT", {"health_status": status})
        )
        return status

    async def heartbeats(self) -> None:
        """Heartbeat forever at the configured interval (a supervised loop)."""
        interval = self._service.ctx.settings.heartbeat_interval
        while True:
            await self.heartbeat()
            await asyncio.sleep(interval)

    async def shutdown(self, *, reason: str) -> None:
        await self._service.bus.publish(
            self._event(
                "SYSTEM_SHUTDOWN",
                {
                    "component_name": self._component,
                    "shutdown_reason": reason,
                },
            )
        )
