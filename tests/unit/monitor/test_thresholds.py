"""Threshold rules: one alert per crossing, hysteresis, cooldown, configuration."""

from __future__ import annotations

import json
import math

import pytest

from baton.protocol.messages import AlertThresholds
from baton_monitor.thresholds import (
    DEFAULT_RULES,
    Alert,
    ThresholdRule,
    ThresholdState,
    evaluate,
    rules_from_alert_thresholds,
    rules_from_json,
)
from tests.unit.monitor.support import at, publishable


def _run(
    rule: ThresholdRule, series: list[float], *, key: str | None = None, step: float = 10.0
) -> list[Alert]:
    """Evaluate ``series`` (one value every ``step`` seconds); every alert emitted."""
    state, alerts = ThresholdState(), []
    for index, value in enumerate(series):
        state, new = evaluate(state, [rule], {key or rule.metric: value}, now=at(index * step))
        alerts += new
    return alerts


def _fired(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if not a.data.get("cleared")]


def test_one_alert_per_crossing_and_none_while_the_value_stays_above() -> None:
    rule = ThresholdRule(metric="latency_p95", threshold=2.0, cooldown=0)
    alerts = _run(rule, [1.0, 2.5, 3.0, 4.0, 2.1, 5.0, 3.3])
    assert len(alerts) == 1
    [alert] = alerts
    assert alert.event_type == "SYSTEM_THRESHOLD"
    assert alert.data["metric_name"] == "latency_p95"
    assert alert.data["current_value"] == 2.5
    assert alert.data["threshold"] == 2.0
    assert alert.data["severity"] == "warning"
    assert publishable(alert.event_type, alert.workflow_id, alert.phase, alert.data)


def test_oscillating_around_the_threshold_alerts_once_per_real_crossing() -> None:
    rule = ThresholdRule(metric="error_rate", threshold=10.0, cooldown=0)  # clear_at 9
    wobble = [9.5, 10.5, 9.8, 10.2, 9.9, 10.4, 9.1, 11.0]  # never back below 9
    assert len(_run(rule, wobble)) == 1
    # Two real crossings: above 10, back below 9, above 10 again.
    alerts = _run(rule, [*wobble, 8.0, 9.5, 10.5, 9.7, 12.0])
    assert [a.data["current_value"] for a in _fired(alerts)] == [10.5, 10.5]
    [cleared] = [a for a in alerts if a.data.get("cleared")]
    assert cleared.event_type == "SYSTEM_THRESHOLD"
    assert cleared.data["current_value"] == 8.0
    assert publishable(cleared.event_type, "global", "global", cleared.data)


def test_without_a_cleared_notice_only_the_alerts_are_emitted() -> None:
    rule = ThresholdRule(metric="error_rate", threshold=10.0, cooldown=0, notify_cleared=False)
    assert len(_run(rule, [11.0, 5.0, 11.0, 5.0])) == 2


def test_cooldown_damps_flapping_but_never_swallows_a_lasting_breach() -> None:
    rule = ThresholdRule(metric="error_rate", threshold=10.0, clear_at=10.0, cooldown=60)
    # Every 10 s: breach at 0 s, clear, breach again at 20 s (inside the cooldown)...
    alerts = _fired(_run(rule, [11.0, 5.0, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0]))
    # ...which fires once the cooldown is over (60 s), since the value is still above.
    assert [a.data["current_value"] for a in alerts] == [11.0, 11.0]
    state = ThresholdState()
    times = []
    for second in range(0, 300, 10):
        value = 11.0 if (second // 10) % 2 == 0 else 5.0  # flaps every 10 s
        state, new = evaluate(state, [rule], {"error_rate": value}, now=at(second))
        times += [second for a in new if not a.data["cleared"]]
    assert times == [0, 60, 120, 180, 240]  # at most one per cooldown


def test_below_rules_fire_on_the_way_down() -> None:
    rule = ThresholdRule(metric="throughput", comparator="<", threshold=1.0, cooldown=0)
    assert rule.clear_level == pytest.approx(1.1)
    alerts = _run(rule, [5.0, 0.5, 0.2, 1.05, 0.3, 1.2, 0.9])
    assert [a.data.get("cleared") for a in alerts] == [False, True, False]


def test_agent_and_resource_rules_emit_their_events_per_subject() -> None:
    agent = ThresholdRule(metric="agent_error_rate", threshold=20.0, cooldown=0)
    cpu = ThresholdRule(metric="cpu", threshold=90.0, cooldown=0)
    values = {"agent_error_rate:agent_1": 50.0, "agent_error_rate:agent_2": 10.0}
    values |= {"cpu:coordination-hub": 95.5, "error_rate": 99.0}
    _, alerts = evaluate(ThresholdState(), [agent, cpu], values, now=at(0))
    assert [(a.event_type, a.data.get("agent_id") or a.data.get("component")) for a in alerts] == [
        ("AGENT_PERFORMANCE_ALERT", "agent_1"),
        ("RESOURCE_THRESHOLD", "coordination-hub"),
    ]
    assert alerts[0].data["performance_metric"] == "agent_error_rate"
    assert alerts[0].data["current_value"] == 50.0
    assert alerts[1].data["resource_type"] == "cpu"
    assert alerts[1].data["current_usage"] == 95.5
    for alert in alerts:
        assert publishable(alert.event_type, alert.workflow_id, alert.phase, alert.data)


def test_a_subject_rule_watches_one_key_and_keys_are_independent() -> None:
    only = ThresholdRule(metric="consumer_lag", threshold=100, subject="baton-hub", cooldown=0)
    every = ThresholdRule(metric="consumer_lag", threshold=100, cooldown=0)
    values = {"consumer_lag:baton-hub": 500.0, "consumer_lag:baton-status": 500.0}
    _, alerts = evaluate(ThresholdState(), [only, every], values, now=at(0))
    assert sorted((a.data["rule"], a.data["metric_name"]) for a in alerts) == [
        ("consumer_lag>100", "consumer_lag:baton-hub"),
        ("consumer_lag>100", "consumer_lag:baton-status"),
        ("consumer_lag>100:baton-hub", "consumer_lag:baton-hub"),
    ]


def test_missing_and_non_finite_values_change_nothing() -> None:
    rule = ThresholdRule(metric="latency_p95", threshold=2.0, cooldown=0)
    state, alerts = evaluate(ThresholdState(), [rule], {"latency_p95": 3.0}, now=at(0))
    state, alerts = evaluate(state, [rule], {}, now=at(10))
    state, alerts = evaluate(state, [rule], {"latency_p95": math.nan}, now=at(20))
    assert alerts == []
    assert state.crossings["latency_p95>2|latency_p95"].firing


def test_state_round_trips_and_forgets_removed_rules_and_quiet_keys() -> None:
    rule = ThresholdRule(metric="latency_p95", threshold=2.0, cooldown=30)
    state, _ = evaluate(ThresholdState(), [rule], {"latency_p95": 3.0}, now=at(0))
    restored = ThresholdState.model_validate_json(state.model_dump_json())
    assert restored == state
    assert evaluate(restored, [rule], {"latency_p95": 3.0}, now=at(10))[1] == []
    state, _ = evaluate(state, [rule], {"latency_p95": 1.0}, now=at(40))
    assert state.crossings == {}  # cleared and past the cooldown: nothing to remember
    state, _ = evaluate(state, [rule], {"latency_p95": 3.0}, now=at(50))
    state, _ = evaluate(state, [], {"latency_p95": 3.0}, now=at(60))
    assert state.crossings == {}


def test_rules_from_json_accepts_durations_and_names_the_bad_field() -> None:
    text = json.dumps(
        [
            {
                "metric": "latency_p95",
                "threshold": "1500ms",
                "cooldown": "5m",
                "severity": "critical",
            },
            {"metric": "agent_error_rate", "threshold": 25, "clear_at": 15, "name": "agents"},
        ]
    )
    first, second = rules_from_json(text)
    assert (first.threshold, first.cooldown, first.clear_level) == (1.5, 300.0, 1.35)
    assert (second.rule_id, second.clear_level, second.alert_kind) == ("agents", 15.0, "agent")
    bad = [
        ("{}", "expected a JSON list"),
        ("[1", "not valid JSON"),
        ('[{"metric": "x"}]', r"BATON_MONITOR_THRESHOLDS\[0\]\.threshold: Field required"),
        ('[{"metric": "x", "threshold": 1, "colour": 2}]', r"\[0\]\.colour: Extra inputs"),
        ('[{"metric": "x", "threshold": "soon"}]', r"\[0\]\.threshold: .*not a duration"),
        ('[{"metric": "x", "threshold": 5, "clear_at": 6}]', r"\[0\]: .*clear_at"),
        ('[{"metric": "x", "threshold": 1}, {"metric": "x", "threshold": 1}]', r"\[1\]\.name"),
        ('[{"metric": "x", "threshold": 1, "comparator": ">="}]', r"\[0\]\.comparator"),
        ('["x"]', r"\[0\]: expected a rule object"),
        ('[{"metric": "x", "threshold": true}]', r"\[0\]\.threshold: .*boolean"),
    ]
    for source, message in bad:
        with pytest.raises(ValueError, match=message):
            rules_from_json(source)


def test_defaults_follow_the_seed_alert_thresholds() -> None:
    seeded = rules_from_alert_thresholds(AlertThresholds())
    assert [(r.metric, r.threshold) for r in seeded] == [("latency_p95", 5.0), ("error_rate", 5.0)]
    assert {r.metric for r in DEFAULT_RULES} >= {"latency_p95", "error_rate", "agent_error_rate"}
    assert len({r.rule_id for r in DEFAULT_RULES}) == len(DEFAULT_RULES)
    again = rules_from_json(json.dumps([r.model_dump() for r in DEFAULT_RULES]))
    assert tuple(again) == DEFAULT_RULES
