"""The monitor's windowed percentiles, rates and lags as Prometheus gauges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from baton_monitor.gauges import GAUGES, families
from baton_monitor.metrics import Metrics, observe, record_lag, values
from baton_monitor.state import MetricsConfig
from baton_monitor.views import current_readings
from tests.unit.monitor.support import at, event

WF = "bug_fix_001"


class _Families(Collector):
    def __init__(self, made: list[Metric]) -> None:
        self.made = made

    def collect(self) -> Iterator[Metric]:
        return iter(self.made)


def _state() -> Metrics:
    metrics = Metrics(config=MetricsConfig(min_samples=1))
    run = [
        event("WORKFLOW_CREATED", WF, "setup", sent=0,
              workflow_definition={"workflow_type": "bugfix"}),
        event("PHASE_STARTED", WF, "build", sent=1, phase_id="build"),
        event("TASK_ASSIGNED", WF, "build", sent=1, task_id="t1", agent_id="agent_1"),
        event("TASK_ASSIGNED", WF, "build", sent=2, task_id="t2", agent_id="agent_2"),
        event("TASK_COMPLETED", WF, "build", sent=3, task_id="t1", agent_id="agent_1"),
        event("TASK_FAILED", WF, "build", sent=4, task_id="t2", agent_id="agent_2",
              failure_reason="tests failed"),
        event("PHASE_COMPLETED", WF, "build", sent=6, phase_id="build"),
        event("WORKFLOW_COMPLETED", WF, "build", sent=8),
    ]  # fmt: skip
    for item in run:
        observe(metrics, item, now=item.timestamp + (at(0.5) - at(0)))
    record_lag(metrics, group="baton.hub", lag=12, now=at(9))
    record_lag(metrics, group="baton.status", lag=0, now=at(9))
    return metrics


def _scrape(made: list[Metric]) -> dict[str, Metric]:
    registry = CollectorRegistry()
    registry.register(_Families(made))
    text = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(family: Metric, **labels: str) -> float:
    [sample] = [s for s in family.samples if s.labels == labels]
    return float(sample.value)


def test_percentiles_are_gauges_with_a_quantile_label_equal_to_the_report() -> None:
    metrics = _state()
    current = values(metrics, now=at(10))
    scraped = _scrape(families(current_readings(metrics, now=at(10))))

    latency = scraped["baton_monitor_latency_seconds"]
    assert latency.type == "gauge"
    for q in ("50", "95", "99"):
        quantile = f"{int(q) / 100:g}"
        assert _value(latency, quantile=quantile) == pytest.approx(current[f"latency_p{q}"])
    assert _value(latency, quantile="0.95") == pytest.approx(0.5)
    tasks = scraped["baton_monitor_task_duration_seconds"]
    assert _value(tasks, workflow_type="bugfix", agent_id="agent_1", quantile="0.5") == 2.0
    assert _value(
        scraped["baton_monitor_phase_duration_seconds"],
        workflow_type="bugfix",
        phase="build",
        quantile="0.99",
    ) == pytest.approx(current["phase_duration_p99:bugfix/build"])
    assert _value(
        scraped["baton_monitor_workflow_duration_seconds"], workflow_type="bugfix", quantile="0.5"
    ) == pytest.approx(8.0)


def test_rates_throughput_and_lag_per_group_are_gauges_too() -> None:
    metrics = _state()
    current = values(metrics, now=at(10))
    scraped = _scrape(families(current_readings(metrics, now=at(10))))

    assert _value(scraped["baton_monitor_error_rate_percent"]) == current["error_rate"] == 50.0
    rates = scraped["baton_monitor_agent_error_rate_percent"]
    assert _value(rates, agent_id="agent_2") == 100.0
    assert _value(scraped["baton_monitor_throughput_per_second"]) == pytest.approx(
        current["throughput"]
    )
    lag = scraped["baton_monitor_consumer_lag"]
    assert {s.labels["group"]: s.value for s in lag.samples} == {
        "baton.hub": 12,
        "baton.status": 0,
    }  # per group; the largest of them is PromQL's max()


def test_every_current_value_has_its_gauge_sample() -> None:
    metrics = _state()
    readings = current_readings(metrics, now=at(10))
    samples = [s for f in _scrape(families(readings)).values() for s in f.samples]
    shown = [r for r in readings if not (r.metric == "consumer_lag" and not r.subject)]
    assert len(samples) == len(shown)
    assert {r.metric for r in shown} <= set(GAUGES)
    assert all(name.startswith("baton_monitor_") for name in (g.name for g in GAUGES.values()))


def test_nothing_seen_yet_is_no_gauge() -> None:
    assert families(current_readings(Metrics(), now=at(0))) == []
