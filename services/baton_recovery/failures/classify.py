"""Error classification: a failure signal → the protocol's category, type, severity, scope.

A signal is an event type (``TASK_FAILED``, ``AGENT_TIMEOUT``, ``RESOURCE_CONFLICT``...) with
its data. :data:`RULES` is tried in order and the first rule that matches decides; a rule
matches on the event type, on the error text, or both. The order is:

1. a classification the sender already made (``data.classification`` with one of the
   protocol's ``category`` and ``type`` values) is kept;
2. event types that say what happened by themselves (``AGENT_TIMEOUT``, ``TASK_TIMEOUT``,
   ``DEPENDENCY_TIMEOUT``, ``DEPENDENCY_FAILED``, ``RESOURCE_CONFLICT``, thresholds...);
3. the error text (the data's ``error_type``, ``error_code``, ``error``, ``failure_type``,
   ``failure_reason``, ``reason``, ``error_message``, ``error_details``..., lower-cased):
   corruption, state conflicts, limits, resource conflicts, timeouts, dependencies,
   unavailable services, crashed agents;
4. generic failure events (``TASK_FAILED``, ``AGENT_ERROR``, ``PHASE_FAILED``...);
5. anything else: an execution failure of medium severity.

Then, in this order: a ``severity`` (or a string ``impact``) in the data overrides the rule's
(``warning`` counts as medium, ``error`` as high, ``fatal`` as critical); from
``escalate_after`` attempts on, the severity goes up one level; a rule without a scope takes
it from the event type (``TASK_*`` task, ``AGENT_*`` agent, ``PHASE_*`` phase, ``SYSTEM_*``
system, ``WORKFLOW_*`` and ``RESOURCE_*`` workflow), else from the data (task, agent, else
workflow).

Choices the protocol leaves open: its type list has no generic "error", so a failure that
says nothing more is ``unavailable`` (the work did not get done). ``retriable`` says whether
repeating the same operation may succeed; ``recoverable`` (the protocol's field) whether any
recovery may: corruption is not retriable but is recoverable by a rollback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, get_args

from baton.protocol.messages.error_report import (
    ErrorCategory,
    ErrorScope,
    ErrorSeverity,
    ErrorType,
)

__all__ = ["RULES", "SEVERITY_ORDER", "Classification", "Rule", "classify", "error_text"]

SEVERITY_ORDER: Final[tuple[ErrorSeverity, ...]] = ("info", "low", "medium", "high", "critical")
"""Severities from least to most severe."""

_TEXT_FIELDS: Final = (
    "error_type",
    "error_code",
    "code",
    "error",
    "failure_type",
    "failure_reason",
    "reason",
    "error_message",
    "message",
    "error_details",
    "details",
)
_SEVERITY_WORDS: Final[dict[str, ErrorSeverity]] = {
    **{s: s for s in SEVERITY_ORDER},
    "warning": "medium",
    "warn": "medium",
    "error": "high",
    "fatal": "critical",
}
_SCOPE_BY_PREFIX: Final[dict[str, ErrorScope]] = {
    "TASK": "task",
    "AGENT": "agent",
    "PHASE": "phase",
    "SYSTEM": "system",
    "WORKFLOW": "workflow",
    "RESOURCE": "workflow",
}


@dataclass(frozen=True, slots=True)
class Classification:
    """The classification of one failure.

    Attributes:
        category: execution, resource, dependency, state or system.
        type: timeout, conflict, corruption, unavailable or limit_exceeded.
        severity: critical, high, medium, low or info.
        scope: workflow, phase, task, agent or system.
        retriable: Repeating the same operation may succeed.
        recoverable: Some recovery may succeed (the protocol's ``recoverable``).
        rule: Name of the rule that decided.
    """

    category: ErrorCategory
    type: ErrorType
    severity: ErrorSeverity
    scope: ErrorScope
    retriable: bool
    recoverable: bool
    rule: str

    def to_dict(self) -> dict[str, Any]:
        """The protocol's ``classification`` object."""
        return {
            "category": self.category,
            "severity": self.severity,
            "type": self.type,
            "scope": self.scope,
            "recoverable": self.recoverable,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    """One classification rule; it matches when every condition it has holds.

    Attributes:
        name: Shown as :attr:`Classification.rule`.
        category: Category it assigns.
        type: Type it assigns.
        severity: Severity it assigns.
        scope: Scope it assigns; None takes it from the event type or data.
        retriable: Whether repeating the operation may succeed.
        recoverable: Whether any recovery may succeed.
        events: Event types it matches; empty matches any.
        pattern: Regular expression searched in the error text; None matches any.
    """

    name: str
    category: ErrorCategory
    type: ErrorType
    severity: ErrorSeverity
    scope: ErrorScope | None = None
    retriable: bool = True
    recoverable: bool = True
    events: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None

    def matches(self, event_type: str, text: str) -> bool:
        """True when the signal meets every condition of the rule."""
        if self.events and event_type not in self.events:
            return False
        return self.pattern is None or self.pattern.search(text) is not None


def _on(*events: str) -> frozenset[str]:
    return frozenset(events)


def _text(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


RULES: Final[tuple[Rule, ...]] = (
    # 2. Event types that say what happened.
    Rule("agent_timeout", "execution", "timeout", "high", "agent", events=_on("AGENT_TIMEOUT")),
    Rule("task_timeout", "execution", "timeout", "medium", "task", events=_on("TASK_TIMEOUT")),
    Rule("dependency_timeout", "dependency", "timeout", "medium", "task",
         events=_on("DEPENDENCY_TIMEOUT")),
    Rule("dependency_failed", "dependency", "unavailable", "high", "task", retriable=False,
         events=_on("DEPENDENCY_FAILED")),
    Rule("resource_conflict", "resource", "conflict", "medium", "workflow",
         events=_on("RESOURCE_CONFLICT")),
    Rule("resource_threshold", "resource", "limit_exceeded", "medium", "system",
         events=_on("RESOURCE_THRESHOLD")),
    Rule("system_threshold", "system", "limit_exceeded", "medium", "system",
         events=_on("SYSTEM_THRESHOLD")),
    Rule("agent_performance", "execution", "limit_exceeded", "low", "agent",
         events=_on("AGENT_PERFORMANCE_ALERT")),
    Rule("state_conflict_event", "state", "conflict", "high", "workflow",
         events=_on("STATE_CONFLICT")),
    # 3. The error text.
    Rule("corruption", "state", "corruption", "critical", retriable=False,
         pattern=_text(r"corrupt|checksum|hash mismatch|integrity|malformed|invalid state"
                       r"|inconsistent state")),
    Rule("state_conflict", "state", "conflict", "high",
         pattern=_text(r"version conflict|stale (state|version)|state conflict"
                       r"|concurrent (update|modification)")),
    Rule("limit_exceeded", "resource", "limit_exceeded", "high",
         pattern=_text(r"out of memory|\boom\b|memory limit|quota|rate.?limit|too many requests"
                       r"|limit.?exceeded|exhaust|\b429\b|disk full|no space")),
    Rule("resource_busy", "resource", "conflict", "medium",
         pattern=_text(r"conflict|locked|lock held|in use|already allocated")),
    Rule("timeout", "execution", "timeout", "medium",
         pattern=_text(r"time.?out|timed out|deadline exceeded")),
    Rule("dependency", "dependency", "unavailable", "high", retriable=False,
         pattern=_text(r"dependency|upstream|prerequisite")),
    Rule("system_unavailable", "system", "unavailable", "high",
         pattern=_text(r"unavailable|connection (refused|reset|closed)|unreachable|network"
                       r"|\bdns\b|\b50[234]\b|partition")),
    Rule("agent_crash", "execution", "unavailable", "high",
         pattern=_text(r"crash|killed|segfault|exit code|not responding|unresponsive")),
    # 4. Generic failure events.
    Rule("agent_error", "execution", "unavailable", "medium", "agent", events=_on("AGENT_ERROR")),
    Rule("task_failed", "execution", "unavailable", "medium",
         events=_on("TASK_FAILED", "ERROR_ENCOUNTERED")),
    Rule("phase_failed", "execution", "unavailable", "high", "phase", events=_on("PHASE_FAILED")),
    Rule("workflow_failed", "execution", "unavailable", "critical", "workflow", retriable=False,
         events=_on("WORKFLOW_FAILED")),
    Rule("system_error", "system", "unavailable", "high", "system", events=_on("SYSTEM_ERROR")),
    # 5. Anything else.
    Rule("default", "execution", "unavailable", "medium"),
)  # fmt: skip
"""The classification rules, first match wins (module doc)."""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, Mapping):
        return [s for v in value.values() if isinstance(v, str | int) for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value if isinstance(v, str | int) for s in _strings(v)]
    return []


def error_text(data: Mapping[str, Any]) -> str:
    """The lower-cased error text of a signal's data, the fields joined by `` | ``."""
    return " | ".join(s for f in _TEXT_FIELDS for s in _strings(data.get(f))).lower()


def _reported(data: Mapping[str, Any]) -> Rule | None:
    given = data.get("classification")
    if not isinstance(given, Mapping):
        return None
    category: Any = given.get("category")
    kind: Any = given.get("type")
    if category not in get_args(ErrorCategory) or kind not in get_args(ErrorType):
        return None
    severity = given.get("severity")
    scope = given.get("scope")
    recoverable = given.get("recoverable")
    return Rule(
        "reported",
        category,
        kind,
        severity if severity in SEVERITY_ORDER else "medium",
        scope if scope in get_args(ErrorScope) else None,
        retriable=kind != "corruption" and recoverable is not False,
        recoverable=recoverable is not False,
    )


def _scope(event_type: str, data: Mapping[str, Any]) -> ErrorScope:
    prefix = event_type.partition("_")[0]
    if prefix in _SCOPE_BY_PREFIX:
        return _SCOPE_BY_PREFIX[prefix]
    if data.get("task_id") or data.get("task"):
        return "task"
    if data.get("agent_id") or data.get("agent"):
        return "agent"
    return "workflow"


def _stated_severity(data: Mapping[str, Any]) -> ErrorSeverity | None:
    for key in ("severity", "impact"):
        value = data.get(key)
        if isinstance(value, str) and value.lower() in _SEVERITY_WORDS:
            return _SEVERITY_WORDS[value.lower()]
    return None


def classify(
    *,
    event_type: str,
    data: Mapping[str, Any],
    attempts: int = 0,
    escalate_after: int = 3,
    rules: Sequence[Rule] = RULES,
) -> Classification:
    """Classify a failure signal (module doc).

    Args:
        event_type: The event that reported it, e.g. ``TASK_FAILED``.
        data: The event's data.
        attempts: Attempts of the operation so far, this failed one included.
        escalate_after: From this many attempts on, the severity goes up one level.
        rules: The rules to try, in order.
    """
    text = error_text(data)
    rule = _reported(data) or next((r for r in rules if r.matches(event_type, text)), None)
    if rule is None:
        rule = RULES[-1]
    severity = _stated_severity(data) or rule.severity
    if attempts >= escalate_after:
        severity = SEVERITY_ORDER[min(SEVERITY_ORDER.index(severity) + 1, len(SEVERITY_ORDER) - 1)]
    return Classification(
        category=rule.category,
        type=rule.type,
        severity=severity,
        scope=rule.scope or _scope(event_type, data),
        retriable=rule.retriable,
        recoverable=rule.recoverable,
        rule=rule.name,
    )
