"""Component configuration (the protocol's "Configuration Management", docs/protocol.md).

Choice the protocol leaves open: every default is the protocol's example value, so a
``ComponentConfig`` with only a ``component_id`` is the protocol's configuration.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt

from baton.protocol.messages.base import Duration, Identifier, Message, Percent

__all__ = [
    "AlertThresholds",
    "ComponentConfig",
    "ComponentConfigMessage",
    "CoordinationConfig",
    "MonitoringConfig",
    "PerformanceConfig",
]


class CoordinationConfig(Message):
    """How the component talks to the coordination hub."""

    hub_endpoint: str = "coordination-hub"
    """Where the hub is."""
    heartbeat_interval: Duration = "30s"
    """Time between heartbeats."""
    event_queue_size: NonNegativeInt = 1000
    """Events buffered at most."""
    max_retry_attempts: NonNegativeInt = 3
    """Retries of a failed operation."""
    timeout_default: Duration = "30s"
    """Default timeout of a request."""


class PerformanceConfig(Message):
    """Capacity settings."""

    max_concurrent_operations: NonNegativeInt = 50
    """Operations run at once at most."""
    resource_pool_size: NonNegativeInt = 20
    """Size of the resource pool."""
    cache_size_mb: NonNegativeInt = 128
    """Cache size in MB."""
    optimization_interval: Duration = "5m"
    """Time between optimisation runs."""


class AlertThresholds(Message):
    """When monitoring raises an alert."""

    response_time: Duration = "5s"
    """Response time above which to alert."""
    error_rate: Percent = 5.0
    """Error rate (%) above which to alert."""
    memory_usage: Percent = 80.0
    """Memory usage (%) above which to alert."""


class MonitoringConfig(Message):
    """What the component monitors and reports."""

    metrics_collection: bool = True
    """Collect metrics."""
    performance_tracking: bool = True
    """Track performance."""
    health_check_interval: Duration = "60s"
    """Time between health checks."""
    alert_thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    """Alert thresholds."""


class ComponentConfig(Message):
    """Configuration of one component."""

    component_id: Identifier
    """The component."""
    coordination: CoordinationConfig = Field(default_factory=CoordinationConfig)
    """Coordination settings."""
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    """Capacity settings."""
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    """Monitoring settings."""


class ComponentConfigMessage(Message):
    """Envelope ``{"component_config": {...}}``."""

    component_config: ComponentConfig
    """The configuration."""
