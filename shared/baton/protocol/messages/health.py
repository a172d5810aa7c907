"""Health status of a component (the protocol's "Health Monitoring", docs/protocol.md).

Choices the protocol leaves open: ``status`` defaults to ``unknown``; ``uptime`` and
``response_time_avg`` are durations (``"2h 30m"``, ``"1.2s"``); success and error rates are
percentages; ``cpu_percent`` is % of one core and may exceed 100. The message doubles as the
component's heartbeat.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt

from baton.protocol.messages.base import (
    Duration,
    Identifier,
    Message,
    Percent,
    Timestamp,
    utc_now,
)

__all__ = [
    "HealthState",
    "HealthStatus",
    "HealthStatusMessage",
    "PerformanceMetrics",
    "ResourceUsageReport",
]

HealthState = Literal["healthy", "degraded", "unhealthy", "unknown"]
"""Health of a component or of a dependency."""


class ResourceUsageReport(Message):
    """Resources a component uses."""

    memory_mb: NonNegativeFloat = 0
    """Memory in MB."""
    cpu_percent: NonNegativeFloat = 0
    """CPU in % of one core (may exceed 100 on several cores)."""


class PerformanceMetrics(Message):
    """Recent performance of a component."""

    response_time_avg: Duration | None = None
    """Average response time."""
    success_rate: Percent | None = None
    """Successful operations in %."""
    error_rate: Percent | None = None
    """Failed operations in %."""
    resource_usage: ResourceUsageReport = Field(default_factory=ResourceUsageReport)
    """Resources in use."""


class HealthStatus(Message):
    """A component's health report (also its heartbeat)."""

    component_id: Identifier
    """The component."""
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When the report was made."""
    status: HealthState = "unknown"
    """healthy, degraded, unhealthy or unknown."""
    uptime: Duration = "0s"
    """Time since the component started."""
    last_activity: Timestamp | None = None
    """When it last did work."""
    performance_metrics: PerformanceMetrics = Field(default_factory=PerformanceMetrics)
    """Recent performance."""
    active_operations: NonNegativeInt = 0
    """Operations under way."""
    queue_size: NonNegativeInt = 0
    """Operations waiting."""
    dependencies: dict[str, HealthState] = Field(default_factory=dict)
    """Dependency name → its health."""


class HealthStatusMessage(Message):
    """Envelope ``{"health_status": {...}}``."""

    health_status: HealthStatus
    """The health report."""
