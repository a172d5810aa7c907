"""Threshold rules and their configuration.

A :class:`ThresholdRule` says when a metric deserves an alert; :mod:`.thresholds` evaluates
rules (hysteresis, cooldown). Rules are configured as a JSON list of rule objects, e.g. in
``BATON_MONITOR_THRESHOLDS``::

    [{"metric": "latency_p95", "threshold": "2s", "severity": "critical"},
     {"metric": "agent_error_rate", "threshold": 25, "cooldown": "10m"}]

:data:`DEFAULT_RULES` (choices the protocol leaves open, the rest from the protocol's
component configuration ``alert_thresholds``):

- ``latency_p95 > 5 s`` and ``error_rate > 5 %``: the protocol's ``response_time`` and
  ``error_rate`` (:func:`rules_from_alert_thresholds`);
- ``agent_error_rate > 20 %``: one agent's sample is small, so its rate is noisier than the
  system's and needs a wider margin;
- ``consumer_lag > 1000`` records;
- ``cpu > 90 %`` and ``memory > 1024 MB`` per component (heartbeats report memory in MB, so
  the protocol's ``memory_usage`` percentage has no limit to relate to and is not mapped).

Every default rule has a five-minute cooldown: a default should not page twice in a row.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from baton.errors import ProtocolError
from baton.protocol.duration import parse_duration
from baton.protocol.messages import AlertThresholds

__all__ = [
    "DEFAULT_RULES",
    "RESOURCE_METRICS",
    "Comparator",
    "Kind",
    "Severity",
    "ThresholdRule",
    "rules_from_alert_thresholds",
    "rules_from_json",
]

RESOURCE_METRICS: Final = frozenset({"memory", "cpu"})
"""Metrics reported from heartbeats: ``memory`` in MB, ``cpu`` in % of one core."""

Comparator = Literal[">", "<"]
Kind = Literal["system", "agent", "resource"]
Severity = Literal["info", "warning", "critical"]


def _seconds_or_number(value: Any, *, part: str) -> Any:
    if isinstance(value, bool):
        # pydantic would read true as 1.0: a typo in a threshold must not pass for a number.
        raise ValueError("must be a number or a duration string, not a boolean")
    if isinstance(value, str):
        try:
            return parse_duration(value, part=part)
        except ProtocolError as exc:
            raise ValueError(exc.message) from None
    return value


class ThresholdRule(BaseModel):
    """When a metric deserves an alert (see the module doc).

    ``threshold``, ``clear_at`` and ``cooldown`` take numbers or duration strings such as
    ``"5s"`` (seconds).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Metric watched, e.g. ``latency_p95``, ``error_rate``, ``agent_error_rate``."""
    threshold: float
    """Value past which the rule fires."""
    comparator: Comparator = ">"
    """``>``: fire above the threshold; ``<``: fire below it."""
    clear_at: float | None = None
    """Value past which a firing rule re-arms; default 10 % inside the threshold."""
    cooldown: float = Field(default=60.0, ge=0)
    """Seconds after an alert during which the same key does not alert again."""
    severity: Severity = "warning"
    """Severity carried by the alert."""
    kind: Kind | None = None
    """Which event to emit; default from the metric (module doc)."""
    subject: str | None = Field(default=None, pattern=r"^[^|]+$")
    """Only this subject (e.g. one agent); default every key of the metric."""
    name: str | None = Field(default=None, pattern=r"^[^|]+$")
    """Id of the rule; default ``<metric><comparator><threshold>[:<subject>]``."""
    notify_cleared: bool = True
    """Emit a ``SYSTEM_THRESHOLD`` with ``cleared: true`` when the value re-arms the rule."""

    @field_validator("threshold", "clear_at", "cooldown", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return _seconds_or_number(value, part="value")

    @field_validator("threshold", "clear_at")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _clear_inside(self) -> ThresholdRule:
        if self.clear_at is None:
            return self
        if self.comparator == ">" and self.clear_at > self.threshold:
            raise ValueError(f"clear_at ({self.clear_at}) must not exceed threshold for '>'")
        if self.comparator == "<" and self.clear_at < self.threshold:
            raise ValueError(f"clear_at ({self.clear_at}) must not be below threshold for '<'")
        return self

    @property
    def rule_id(self) -> str:
        """The rule's name, or one made of its metric, comparator, threshold and subject."""
        if self.name is not None:
            return self.name
        subject = f":{self.subject}" if self.subject is not None else ""
        return f"{self.metric}{self.comparator}{self.threshold:g}{subject}"

    @property
    def clear_level(self) -> float:
        """``clear_at``, or 10 % of the threshold's size inside it."""
        if self.clear_at is not None:
            return self.clear_at
        margin = 0.1 * abs(self.threshold)
        return self.threshold - margin if self.comparator == ">" else self.threshold + margin

    @property
    def alert_kind(self) -> Kind:
        """``kind``, or the default for the metric."""
        if self.kind is not None:
            return self.kind
        if self.metric.startswith("agent_"):
            return "agent"
        return "resource" if self.metric in RESOURCE_METRICS else "system"

    def breached(self, value: float) -> bool:
        """True when ``value`` is past the threshold."""
        return value > self.threshold if self.comparator == ">" else value < self.threshold

    def cleared(self, value: float) -> bool:
        """True when ``value`` is back past ``clear_at``."""
        level = self.clear_level
        return value <= level if self.comparator == ">" else value >= level


def rules_from_alert_thresholds(
    thresholds: AlertThresholds, *, cooldown: float = 300.0
) -> list[ThresholdRule]:
    """Rules for the protocol's ``alert_thresholds``: ``response_time`` → ``latency_p95``,
    ``error_rate`` → ``error_rate`` (the ``memory_usage`` percentage is not mapped; see the
    module doc)."""
    return [
        ThresholdRule(
            metric="latency_p95",
            threshold=parse_duration(thresholds.response_time),
            cooldown=cooldown,
        ),
        ThresholdRule(metric="error_rate", threshold=thresholds.error_rate, cooldown=cooldown),
    ]


def _where(source: str, index: int, loc: tuple[int | str, ...]) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return f"{source}[{index}]{path}"


def rules_from_json(
    text: str | bytes, *, source: str = "BATON_MONITOR_THRESHOLDS"
) -> list[ThresholdRule]:
    """Rules from a JSON list of rule objects (see the module doc).

    Raises:
        ValueError: not JSON, not a list, a rule is invalid, or two rules share an id. The
            message names the place, e.g. ``BATON_MONITOR_THRESHOLDS[1].threshold: ...``.
    """
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(raw, list):
        raise ValueError(f"{source}: expected a JSON list of rules, found {type(raw).__name__}")
    rules: list[ThresholdRule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            kind = type(item).__name__
            raise ValueError(f"{source}[{index}]: expected a rule object, found {kind}")
        try:
            rule = ThresholdRule.model_validate(item)
        except ValidationError as exc:
            problems = "; ".join(
                f"{_where(source, index, tuple(e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(problems) from None
        if rule.rule_id in seen:
            raise ValueError(
                f"{_where(source, index, ('name',))}: rule id {rule.rule_id!r} is used twice"
            )
        seen.add(rule.rule_id)
        rules.append(rule)
    return rules


_DEFAULT_COOLDOWN: Final = 300.0

DEFAULT_RULES: Final[tuple[ThresholdRule, ...]] = (
    *rules_from_alert_thresholds(AlertThresholds(), cooldown=_DEFAULT_COOLDOWN),
    ThresholdRule(metric="agent_error_rate", threshold=20.0, cooldown=_DEFAULT_COOLDOWN),
    ThresholdRule(metric="consumer_lag", threshold=1000.0, cooldown=_DEFAULT_COOLDOWN),
    ThresholdRule(metric="cpu", threshold=90.0, cooldown=_DEFAULT_COOLDOWN),
    ThresholdRule(metric="memory", threshold=1024.0, cooldown=_DEFAULT_COOLDOWN),
)
"""The rules used when none are configured (module doc)."""
