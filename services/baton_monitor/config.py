"""Monitor configuration from the environment (``BATON_MONITOR_*``), validated at start.

``BATON_MONITOR_THRESHOLDS``: a JSON list of threshold rules (see
:mod:`baton_monitor.rules`); unset, the defaults of the protocol's alert thresholds apply.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import ConfigDict, Field, model_validator

from baton.config import ServiceConfig
from baton_monitor.rules import DEFAULT_RULES, ThresholdRule, rules_from_json
from baton_monitor.saturation import SaturationLimits

__all__ = ["MonitorConfig"]


class MonitorConfig(ServiceConfig):
    """Settings of the performance monitor.

    Attributes:
        thresholds: Rules turning metric values into alerts, a JSON list of objects
            (``metric``, ``threshold``, ``clear_at``, ``cooldown``, ``severity``). Unset:
            built-in rules on latency, error rates, consumer lag, CPU and memory.
        evaluate_interval: Seconds between threshold, health and saturation checks.
        lag_interval: Seconds between consumer-lag readings.
        tumbling: Tumbling window size (seconds).
        hopping_size: Hopping window size (seconds).
        hopping_hop: Hopping window advance (seconds); the size is a whole number of them
            (a hopping window is counted as the sum of its steps).
        saturation_latency_p95: Latency p95 (seconds) above which the system is saturated.
        saturation_consumer_lag: Consumer lag (records) above which it is saturated.
        workflow_retention: Seconds a workflow's saved figures are kept after its last event.
        component_retention: Seconds a component is listed after its last presence event.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    env_prefix: ClassVar[str] = "BATON_MONITOR_"

    thresholds: tuple[ThresholdRule, ...] = DEFAULT_RULES
    evaluate_interval: float = Field(default=1.0, gt=0)
    lag_interval: float = Field(default=10.0, gt=0)
    tumbling: float = Field(default=60.0, gt=0)
    hopping_size: float = Field(default=300.0, gt=0)
    hopping_hop: float = Field(default=60.0, gt=0)
    saturation_latency_p95: float = Field(default=5.0, gt=0)
    saturation_consumer_lag: float = Field(default=10_000.0, gt=0)
    workflow_retention: float = Field(default=7 * 24 * 3600.0, gt=0)
    component_retention: float = Field(default=24 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _whole_steps(self) -> Self:
        steps = self.hopping_size / self.hopping_hop
        if steps < 1 or abs(steps - round(steps)) > 1e-9:
            prefix = self.env_prefix
            raise ValueError(
                f"{prefix}HOPPING_SIZE ({self.hopping_size:g}) must be a whole number of "
                f"{prefix}HOPPING_HOP ({self.hopping_hop:g}) steps"
            )
        return self

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        if "thresholds" in values:
            values["thresholds"] = tuple(rules_from_json(str(values["thresholds"])))
        return values

    def limits(self) -> SaturationLimits:
        return SaturationLimits(
            latency_p95=self.saturation_latency_p95, consumer_lag=self.saturation_consumer_lag
        )
