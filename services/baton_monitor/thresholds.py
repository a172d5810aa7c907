"""Threshold rules: one alert per crossing, with hysteresis and a cooldown.

A :class:`ThresholdRule` watches every value whose key is its ``metric`` or
``<metric>:<subject>`` (keys of :func:`baton_monitor.metrics.values` and
:func:`baton_monitor.health.usage_values`). Each (rule, key) pair is a small state machine:

- *armed* → *firing* when the value is past ``threshold`` (``>``: above, ``<``: below) and
  the last alert of the pair is at least ``cooldown`` seconds old. That emits one alert. A
  crossing inside the cooldown stays armed, and fires once the cooldown is over if the value
  is still past the threshold: flapping is damped, a lasting problem is never swallowed.
- *firing* → *armed* only when the value is back past ``clear_at`` (``>``: at or below it;
  ``<``: at or above it). That emits a ``SYSTEM_THRESHOLD`` with ``cleared: true`` unless the
  rule sets ``notify_cleared`` false. Cleared events have no cooldown: each ends an alert.
- No value for a key: no evidence, no change.

``clear_at`` defaults to 10 % inside the threshold (``threshold * 0.9`` for ``>`` and a
positive threshold), so a value wobbling around the threshold alerts once, not every time.

Which event an alert is: ``kind`` ``agent`` → ``AGENT_PERFORMANCE_ALERT`` {agent_id (the
key's subject), performance_metric, threshold, current_value}; ``resource`` →
``RESOURCE_THRESHOLD`` {resource_type (the metric), current_usage, threshold, component};
``system`` → ``SYSTEM_THRESHOLD`` {metric_name (the key), current_value, threshold, severity,
metric, current}. The default kind follows the metric: ``agent_*`` → agent, ``memory`` and
``cpu`` → resource, anything else → system (an agent rule on a key without a subject, too).
Every alert also carries ``comparator``, ``severity``, ``rule`` (the rule's id) and
``cleared: false``. Rules and their configuration live in :mod:`baton_monitor.rules` and are
re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton_monitor.rules import (
    DEFAULT_RULES,
    RESOURCE_METRICS,
    ThresholdRule,
    rules_from_alert_thresholds,
    rules_from_json,
)
from baton_monitor.state import iso

__all__ = [
    "DEFAULT_RULES",
    "RESOURCE_METRICS",
    "Alert",
    "Crossing",
    "ThresholdRule",
    "ThresholdState",
    "evaluate",
    "rules_from_alert_thresholds",
    "rules_from_json",
]


class Alert(BaseModel):
    """An event to publish: ``event_type:workflow_id:phase:data``."""

    model_config = ConfigDict(extra="forbid")

    event_type: str
    """``SYSTEM_THRESHOLD``, ``AGENT_PERFORMANCE_ALERT`` or ``RESOURCE_THRESHOLD``."""
    workflow_id: str = "global"
    """Always ``global``: thresholds are system-wide."""
    phase: str = "global"
    """Always ``global``."""
    data: dict[str, Any]
    """The event's data."""


class Crossing(BaseModel):
    """State of one (rule, key) pair."""

    model_config = ConfigDict(extra="forbid")

    firing: bool = False
    """True between an alert and the value's return past ``clear_at``."""
    since: datetime | None = None
    """When the current alert fired."""
    last_alert: datetime | None = None
    """When the latest alert fired (for the cooldown)."""
    value: float | None = None
    """Latest value seen."""


class ThresholdState(BaseModel):
    """Every (rule, key) pair that is firing or cooling down, by ``<rule id>|<key>``."""

    model_config = ConfigDict(extra="forbid")

    crossings: dict[str, Crossing] = Field(default_factory=dict)
    """The pairs; an armed pair past its cooldown is not stored."""


def _common(rule: ThresholdRule) -> dict[str, Any]:
    return {
        "threshold": rule.threshold,
        "comparator": rule.comparator,
        "severity": rule.severity,
        "rule": rule.rule_id,
    }


def _system(rule: ThresholdRule, key: str, subject: str, value: float) -> dict[str, Any]:
    current = round(value, 6)
    return {
        "metric_name": key,
        "metric": rule.metric,
        "subject": subject or None,
        "current_value": current,
        "current": current,
        "clear_at": rule.clear_level,
        **_common(rule),
    }


def _alert(rule: ThresholdRule, key: str, subject: str, value: float) -> Alert:
    current = round(value, 6)
    kind = rule.alert_kind
    data: dict[str, Any]
    if kind == "agent" and subject:
        event_type = "AGENT_PERFORMANCE_ALERT"
        data = {"agent_id": subject, "performance_metric": rule.metric, "current_value": current}
        data |= _common(rule)
    elif kind == "resource":
        event_type = "RESOURCE_THRESHOLD"
        data = {"resource_type": rule.metric, "component": subject or None}
        data |= {"current_usage": current, **_common(rule)}
    else:
        event_type, data = "SYSTEM_THRESHOLD", _system(rule, key, subject, value)
    return Alert(event_type=event_type, data={**data, "cleared": False})


def _cleared(
    rule: ThresholdRule, key: str, subject: str, value: float, since: datetime | None
) -> Alert:
    data = _system(rule, key, subject, value)
    data |= {"cleared": True, "since": iso(since) if since else None}
    return Alert(event_type="SYSTEM_THRESHOLD", data=data)


def evaluate(
    state: ThresholdState,
    rules: Sequence[ThresholdRule],
    values: Mapping[str, float],
    *,
    now: datetime,
) -> tuple[ThresholdState, list[Alert]]:
    """Compare ``values`` with ``rules`` at ``now``; the alerts and cleared events due.

    Changes ``state`` in place and returns it. Pairs of rules no longer in ``rules`` are
    dropped (the rule list is the whole configuration). Non-finite values are ignored.
    """
    alerts: list[Alert] = []
    live = {rule.rule_id for rule in rules}
    for pair in [p for p in state.crossings if p.split("|", 1)[0] not in live]:
        del state.crossings[pair]
    for rule in rules:
        for key in sorted(values):
            metric, _, subject = key.partition(":")
            value = values[key]
            if metric != rule.metric or not math.isfinite(value):
                continue
            if rule.subject is not None and subject != rule.subject:
                continue
            pair = f"{rule.rule_id}|{key}"
            crossing = state.crossings.get(pair) or Crossing()
            if crossing.firing:
                if rule.cleared(value):
                    if rule.notify_cleared:
                        alerts.append(_cleared(rule, key, subject, value, crossing.since))
                    crossing.firing, crossing.since = False, None
            elif rule.breached(value) and (
                crossing.last_alert is None
                or (now - crossing.last_alert).total_seconds() >= rule.cooldown
            ):
                alerts.append(_alert(rule, key, subject, value))
                crossing.firing, crossing.since, crossing.last_alert = True, now, now
            crossing.value = value
            cooling = (
                crossing.last_alert is not None
                and (now - crossing.last_alert).total_seconds() < rule.cooldown
            )
            if crossing.firing or cooling:
                state.crossings[pair] = crossing
            else:
                state.crossings.pop(pair, None)
    return state, alerts
