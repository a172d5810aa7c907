"""The monitor's current values as Prometheus gauges, next to its JSON report.

What thresholds watch (:func:`~baton_monitor.views.current_readings`, read from the reference
window: the oldest hopping window holding now), for every scrape of the monitor's
``/metrics``: throughput, latency and duration percentiles (label ``quantile``: ``0.5``,
``0.95``, ``0.99``, the ``p50`` / ``p95`` / ``p99`` of the report), error rates, and each
consumer group's lag as the monitor last read it. A value without enough samples in the
window is absent, as in the report. Every name is listed in docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from prometheus_client.core import GaugeMetricFamily, Metric

from baton_monitor.views import SUBJECT_LABELS, Reading

__all__ = ["GAUGES", "Gauge", "families"]


@dataclass(frozen=True, slots=True)
class Gauge:
    """How one of the monitor's metrics is exposed."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


GAUGES: Final = {
    "throughput": Gauge(
        "baton_monitor_throughput_per_second", "Events per second in the reference window"
    ),
    "latency": Gauge(
        "baton_monitor_latency_seconds", "Event-to-processed latency percentiles in the window"
    ),
    "task_duration": Gauge(
        "baton_monitor_task_duration_seconds",
        "Task duration percentiles by workflow type and agent",
        SUBJECT_LABELS["task_duration"],
    ),
    "agent_task_duration": Gauge(
        "baton_monitor_agent_task_duration_seconds",
        "Task duration percentiles by agent",
        SUBJECT_LABELS["agent_task_duration"],
    ),
    "phase_duration": Gauge(
        "baton_monitor_phase_duration_seconds",
        "Phase duration percentiles by workflow type and phase",
        SUBJECT_LABELS["phase_duration"],
    ),
    "workflow_duration": Gauge(
        "baton_monitor_workflow_duration_seconds",
        "Workflow duration percentiles by workflow type",
        SUBJECT_LABELS["workflow_duration"],
    ),
    "error_rate": Gauge("baton_monitor_error_rate_percent", "Share of tasks that failed"),
    "agent_error_rate": Gauge(
        "baton_monitor_agent_error_rate_percent",
        "Share of an agent's tasks that failed",
        ("agent_id",),
    ),
    "consumer_lag": Gauge(
        "baton_monitor_consumer_lag",
        "Records a consumer group has not consumed, summed over its partitions",
        ("group",),
    ),
}
"""Each metric of the readings → its gauge (subject parts as labels)."""


def families(readings: Iterable[Reading]) -> list[Metric]:
    """The gauges of ``readings``; one family per metric that has a value.

    Readings of other metrics, and the largest consumer lag (the max of the per-group
    values), are left out.
    """
    made: dict[str, GaugeMetricFamily] = {}
    for reading in readings:
        gauge = GAUGES.get(reading.metric)
        if gauge is None or len(reading.subject) != len(gauge.labels):
            continue
        percentile = reading.percentile
        family = made.get(reading.metric)
        if family is None:
            labels = [*gauge.labels, *(["quantile"] if percentile is not None else [])]
            family = made[reading.metric] = GaugeMetricFamily(gauge.name, gauge.help, labels=labels)
        quantile = [] if percentile is None else [f"{percentile / 100:g}"]
        family.add_metric([*reading.subject, *quantile], reading.value)
    return list(made.values())
