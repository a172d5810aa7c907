"""An agent's presence on the bus: registration, heartbeats for recovery and the monitor.

Recovery's watchdog counts ``AGENT_HEARTBEAT`` (workflow ``global``, phase = agent id,
``data.agent_id``), keyed by the agent id: agents' heartbeats spread over the partitions, so
recovery's replicas share the agents (each watches those of the partitions it holds), and
one agent's keep their order. The monitor's component health counts ``COMPONENT_REGISTERED`` /
``COMPONENT_HEARTBEAT`` / ``SYSTEM_SHUTDOWN``. An agent sends both kinds, so that it is
timed out when silent and listed with its health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from baton.client.client import BatonClient
from baton.protocol.duration import format_duration
from baton.protocol.event import Event
from baton.protocol.messages import ComponentRegistration, HealthStatus

__all__ = ["AgentPresence"]

log = logging.getLogger("baton.client.worker")

_PUBLISHES = [
    "task.*.started",
    "task.*.completed",
    "task.*.failed",
    "phase.*.progress",
    "agent.global.heartbeat",
]


class AgentPresence:
    """Publishes one agent's registration, heartbeats and shutdown through ``client``."""

    def __init__(
        self,
        *,
        client: BatonClient,
        agent_id: str,
        interval: float,
        capabilities: list[str],
        subscriptions: list[str],
        busy: Callable[[], int],
    ) -> None:
        self.client = client
        self.agent_id = agent_id
        self.interval = interval
        self.capabilities = capabilities
        self.subscriptions = subscriptions
        self._busy = busy
        self._began = time.monotonic()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register, then heartbeat every ``interval`` seconds until :meth:`stop`."""
        if self._loop is not None:
            return
        self._began = time.monotonic()
        registration = ComponentRegistration(
            component_id=self.agent_id,
            component_type="agent",
            capabilities=self.capabilities,
            event_subscriptions=self.subscriptions,
            event_publications=_PUBLISHES,
            health_check_endpoint="",
        )
        await self._publish(
            "COMPONENT_REGISTERED",
            {"component_registration": registration.model_dump(mode="json")},
        )
        self._loop = asyncio.create_task(self._beat(), name=f"baton-agent-{self.agent_id}-beat")

    async def stop(self) -> None:
        """Stop heartbeating and publish ``SYSTEM_SHUTDOWN``. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        with contextlib.suppress(Exception):  # best effort: the broker may be gone already
            await self._publish(
                "SYSTEM_SHUTDOWN", {"component_name": self.agent_id, "shutdown_reason": "stopped"}
            )

    async def heartbeat(self) -> None:
        """Publish one ``AGENT_HEARTBEAT`` and one ``COMPONENT_HEARTBEAT``."""
        busy = self._busy()
        now = datetime.now(UTC)
        await self._publish(
            "AGENT_HEARTBEAT",
            {
                "agent_id": self.agent_id,
                "status": "busy" if busy else "active",
                "running_tasks": busy,
                "capabilities": self.capabilities,
            },
            partition_key=self.agent_id,
        )
        health = HealthStatus(
            component_id=self.agent_id,
            timestamp=now,
            status="healthy",
            uptime=format_duration(time.monotonic() - self._began),
            last_activity=now,
            active_operations=busy,
        )
        await self._publish(
            "COMPONENT_HEARTBEAT", {"health_status": health.model_dump(mode="json")}
        )

    async def _beat(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except Exception as exc:  # a broker hiccup must not end the agent's heartbeats
                log.warning("%s: heartbeat not sent: %r", self.agent_id, exc)
            await asyncio.sleep(self.interval)

    async def _publish(
        self, event_type: str, data: dict[str, object], *, partition_key: str | None = None
    ) -> None:
        await self.client.publish(
            Event(
                event_type=event_type,
                workflow_id="global",
                phase=self.agent_id,
                data=data,
                partition_key=partition_key,
            )
        )
