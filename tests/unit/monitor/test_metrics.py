"""Metrics derived from events: durations, error rates, throughput, lag, reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton.protocol.event import Event
from baton_monitor.metrics import Metrics, observe, record_lag, report, values
from baton_monitor.state import MetricsConfig
from tests.unit.monitor.support import at, event

WF = "bug_fix_001"
DELAY = 0.25


def _feed(metrics: Metrics, events: list[Event]) -> Metrics:
    """Each event processed ``DELAY`` seconds after it was sent."""
    for item in events:
        observe(metrics, item, now=item.timestamp + (at(DELAY) - at(0)))
    return metrics


def _run() -> list[Event]:
    return [
        event("WORKFLOW_CREATED", WF, "setup", sent=0,
              workflow_definition={"workflow_type": "bugfix"}),
        event("PHASE_STARTED", WF, "implementation", sent=1, phase_id="implementation"),
        event("TASK_ASSIGNED", WF, "implementation", sent=1, task_id="t1", agent_id="agent_1"),
        event("TASK_ASSIGNED", WF, "implementation", sent=2, task_id="t2", agent_id="agent_2"),
        event("TASK_ASSIGNED", WF, "implementation", sent=3, task_id="t3", agent_id="agent_2"),
        event("TASK_COMPLETED", WF, "implementation", sent=3, task_id="t1", agent_id="agent_1",
              duration="1s46ms"),
        event("TASK_FAILED", WF, "implementation", sent=4, task_id="t3", agent_id="agent_2",
              failure_reason="tests failed"),
        event("TASK_COMPLETED", WF, "implementation", sent=7, task_id="t2", agent_id="agent_2"),
        event("PHASE_COMPLETED", WF, "implementation", sent=9, phase_id="implementation"),
        event("PHASE_COMPLETED", WF, "review", sent=9.5, duration="45m"),
        event("WORKFLOW_COMPLETED", WF, "review", sent=10),
    ]  # fmt: skip


def _current(metrics: Metrics, now: float) -> dict[str, Any]:
    window: dict[str, Any] = report(metrics, now=at(now))["tumbling"]["windows"][-1]
    return window


def test_durations_come_from_the_reports_or_from_the_assignment_time() -> None:
    metrics = _feed(Metrics(config=MetricsConfig(min_samples=1)), _run())
    window = _current(metrics, 11)
    tasks = {(d["workflow_type"], d["agent_id"]): d["p50"] for d in window["task_durations"]}
    assert tasks == {("bugfix", "agent_1"): 1.046, ("bugfix", "agent_2"): 5.0}
    phases = {d["phase"]: d["p50"] for d in window["phase_durations"]}
    assert phases == {"implementation": 8.0, "review": 2700.0}
    [whole] = window["workflow_durations"]
    assert (whole["workflow_type"], whole["count"], whole["p50"]) == ("bugfix", 1, 10.0)
    current = values(metrics, now=at(11))
    assert current["task_duration_p95:bugfix/agent_1"] == 1.046
    assert current["agent_task_duration_p50:agent_2"] == 5.0
    assert current["phase_duration_p99:bugfix/implementation"] == 8.0
    assert current["latency_p95"] == pytest.approx(DELAY)


def test_error_rates_are_failed_over_completed_plus_failed_overall_and_per_agent() -> None:
    metrics = _feed(Metrics(config=MetricsConfig(min_samples=1)), _run())
    rates = _current(metrics, 11)["error_rate"]
    assert rates["overall"] == {"completed": 2, "failed": 1, "rate": pytest.approx(33.3333)}
    assert rates["agents"]["agent_1"]["rate"] == 0.0
    assert rates["agents"]["agent_2"]["rate"] == 50.0
    current = values(metrics, now=at(11))
    assert current["error_rate"] == pytest.approx(100 / 3)
    assert current["agent_error_rate:agent_2"] == 50.0


def test_rates_and_percentiles_need_enough_observations_for_thresholds() -> None:
    metrics = _feed(Metrics(), _run())  # default: 5 observations
    current = values(metrics, now=at(11))
    assert "error_rate" not in current
    assert "agent_error_rate:agent_2" not in current
    assert "task_duration_p95:bugfix/agent_1" not in current
    assert "latency_p95" in current  # eleven events


def test_throughput_counts_events_per_type_over_the_time_watched() -> None:
    metrics = Metrics()
    for second in range(30, 60):
        observe(metrics, event("TASK_PROGRESS", "wf_1", sent=second), now=at(second))
    observe(metrics, event("TASK_COMPLETED", "wf_1", sent=59.5, task_id="t"), now=at(59.5))
    window = report(metrics, now=at(61))["tumbling"]["windows"][0]
    assert window["closed"] is True
    assert window["throughput"]["by_type"] == {"TASK_COMPLETED": 1, "TASK_PROGRESS": 30}
    # The monitor started at 30 s: 31 events over the 30 s it watched.
    assert window["throughput"]["per_second"] == pytest.approx(31 / 30)
    assert values(metrics, now=at(60))["throughput"] == pytest.approx(31 / 30)


def test_an_event_lands_in_one_tumbling_and_every_covering_hopping_window() -> None:
    metrics = Metrics()
    observe(metrics, event("TASK_PROGRESS", "wf_1", sent=130), now=at(130))
    full = report(metrics, now=at(130))
    assert [w["start"] for w in full["tumbling"]["windows"]] == ["2025-01-15T12:02:00Z"]
    hopping = full["hopping"]["windows"]
    assert [w["start"][11:16] for w in hopping] == ["11:58", "11:59", "12:00", "12:01", "12:02"]
    assert all(w["throughput"]["total"] == 1 for w in hopping)


def test_latency_is_processed_minus_sent_and_never_negative() -> None:
    metrics = Metrics(config=MetricsConfig(min_samples=1))
    observe(metrics, event("TASK_PROGRESS", "wf_1", sent=5), now=at(1))
    assert values(metrics, now=at(1))["latency_p50"] == 0.0


def test_reassignment_moves_the_open_task_to_the_new_agent() -> None:
    metrics = _feed(
        Metrics(config=MetricsConfig(min_samples=1)),
        [
            event("TASK_ASSIGNED", "feature_dev_003", "impl", sent=0, task_id="t", agent_id="a1"),
            event("TASK_REASSIGNED", "feature_dev_003", "impl", sent=4, task_id="t",
                  old_agent="a1", new_agent="a2", reason="timeout"),
            event("TASK_COMPLETED", "feature_dev_003", "impl", sent=10, task_id="t"),
        ],
    )  # fmt: skip
    assert values(metrics, now=at(11))["task_duration_p50:feature_dev/a2"] == 6.0


def test_consumer_lag_per_group_and_the_largest() -> None:
    metrics = Metrics()
    record_lag(metrics, group="baton-hub", lag=1500, now=at(1))
    record_lag(metrics, group="baton-status", lag=20, now=at(2))
    record_lag(metrics, group="baton-hub", lag=700, now=at(3))
    current = values(metrics, now=at(4))
    assert current["consumer_lag"] == 700
    assert current["consumer_lag:baton-status"] == 20
    lag = report(metrics, now=at(4))["tumbling"]["windows"][0]["consumer_lag"]["baton-hub"]
    assert (lag["last"], lag["high"]) == (700, 1500)
    assert "consumer_lag" not in values(metrics, now=at(400))  # no longer reported
    with pytest.raises(ValueError, match="non-negative"):
        record_lag(metrics, group="g", lag=-1, now=at(5))


def test_a_workflow_report_covers_its_whole_life() -> None:
    metrics = _feed(Metrics(), _run())
    mine = report(metrics, now=at(11), workflow_id=WF)
    assert (mine["workflow_type"], mine["status"]) == ("bugfix", "completed")
    assert mine["task_durations"]["agent_2"]["p50"] == 5.0
    assert mine["phase_durations"]["implementation"]["p50"] == 8.0
    assert mine["error_rate"]["agents"]["agent_2"] == {"completed": 1, "failed": 1, "rate": 50.0}
    assert mine["events"]["TASK_ASSIGNED"] == 3
    assert mine["open_tasks"] == []
    with pytest.raises(KeyError):
        report(metrics, now=at(11), workflow_id="nope_001")


def test_finished_workflows_are_forgotten_first() -> None:
    metrics = Metrics(config=MetricsConfig(workflow_limit=2))
    observe(metrics, event("WORKFLOW_CREATED", "wf_a"), now=at(0))
    observe(metrics, event("WORKFLOW_CREATED", "wf_b"), now=at(1))
    observe(metrics, event("WORKFLOW_COMPLETED", "wf_b"), now=at(2))
    observe(metrics, event("WORKFLOW_CREATED", "wf_c"), now=at(3))
    assert list(metrics.workflows) == ["wf_a", "wf_c"]
    observe(metrics, event("WORKFLOW_CREATED", "wf_d"), now=at(4))
    assert list(metrics.workflows) == ["wf_c", "wf_d"]


def test_reports_are_json_and_the_state_round_trips() -> None:
    metrics = _feed(Metrics(), _run())
    record_lag(metrics, group="baton-hub", lag=3, now=at(10))
    full = report(metrics, now=at(11))
    assert json.loads(json.dumps(full)) == full
    restored = Metrics.model_validate_json(metrics.model_dump_json())
    assert restored == metrics
    late = event("TASK_COMPLETED", WF, "review", sent=20, task_id="t9", duration="2s")
    observe(metrics, late, now=at(21))
    observe(restored, late, now=at(21))
    assert report(restored, now=at(22)) == report(metrics, now=at(22))


def test_odd_data_is_counted_but_never_breaks_the_monitor() -> None:
    metrics = Metrics(config=MetricsConfig(min_samples=1))
    for item in [
        event("TASK_COMPLETED", "wf_1", sent=0, task_id=7, duration=True),
        event("PHASE_COMPLETED", "wf_1", sent=0, actual_duration="soon"),
        event("WORKFLOW_CREATED", "wf_1", sent=0, workflow_definition="not an object"),
        event("TASK_FAILED", "global", sent=0),
    ]:
        observe(metrics, item, now=at(1))
    window = _current(metrics, 1)
    assert window["throughput"]["total"] == 4
    assert window["error_rate"]["agents"]["unknown"] == {"completed": 1, "failed": 1, "rate": 50.0}
